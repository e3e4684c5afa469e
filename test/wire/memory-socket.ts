import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { BackendMessage } from '../support/raw-client.js';

/**
 * A connection in memory, standing in for a net.Socket at the protocol handlers' interface: what the test
 * `feed`s arrives as if from the peer; what the handler writes is collected and read back as messages.
 */
export class MemorySocket extends Duplex {
  readonly remoteAddress = '192.0.2.7';
  readonly localAddress = '192.0.2.1';
  readonly localPort = 5439;
  private written = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  constructor() {
    super();
    this.on('finish', () => this.wake());
    this.on('close', () => this.wake());
  }

  /** The socket as the handlers take it. */
  get asSocket(): Socket {
    return this as unknown as Socket;
  }

  setNoDelay(): this {
    return this;
  }

  /** Bytes from the peer. */
  feed(...chunks: (Buffer | Uint8Array)[]): void {
    for (const chunk of chunks) this.push(Buffer.from(chunk));
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.written = Buffer.concat([this.written, chunk]);
    this.wake();
    done();
  }

  /** Whether the handler ended or destroyed the connection. */
  get ended(): boolean {
    return this.writableEnded || this.destroyed;
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private async until(ready: () => boolean): Promise<void> {
    while (!ready()) {
      if (this.ended) return;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** One raw byte (the answers to SSLRequest and GSSENCRequest have no framing). */
  async byte(): Promise<string | undefined> {
    await this.until(() => this.written.length > 0);
    if (this.written.length === 0) return undefined;
    const value = String.fromCharCode(this.written[0]!);
    this.written = this.written.subarray(1);
    return value;
  }

  /** The next whole message written, or undefined once the connection ended without one. */
  async next(): Promise<BackendMessage | undefined> {
    const whole = (): boolean => this.written.length >= 5 && this.written.length >= this.written.readInt32BE(1) + 1;
    await this.until(whole);
    if (!whole()) return undefined;
    const length = this.written.readInt32BE(1);
    const message = { type: String.fromCharCode(this.written[0]!), body: this.written.subarray(5, length + 1) };
    this.written = this.written.subarray(length + 1);
    return message;
  }

  /** Messages up to and including the first of `type` (or until the connection ends). */
  async readThrough(type: string): Promise<BackendMessage[]> {
    const messages: BackendMessage[] = [];
    for (let message = await this.next(); message; message = await this.next()) {
      messages.push(message);
      if (message.type === type) break;
    }
    return messages;
  }

  /** Everything written that has not been read, as raw bytes. */
  takeWritten(): Buffer {
    const bytes = this.written;
    this.written = Buffer.alloc(0);
    return bytes;
  }

  /** Resolves once the handler has ended the connection. */
  async whenEnded(): Promise<void> {
    await this.until(() => false);
  }
}

/** A frontend message: type byte, length, body. */
export function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(5);
  header[0] = type.charCodeAt(0);
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}

/** A packet before startup (StartupMessage, SSLRequest, …): length, code, body. */
export function startupPacket(code: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const packet = Buffer.alloc(8 + body.length);
  packet.writeInt32BE(packet.length, 0);
  packet.writeInt32BE(code, 4);
  body.copy(packet, 8);
  return packet;
}
