import { connect, Socket } from 'node:net';
import { serialize } from 'pg-protocol';

export interface BackendMessage {
  type: string;
  body: Buffer;
}

/** A socket that connects from a loopback address of its own (for node-postgres's `stream` option), so that per-address limits count it apart. */
export function socketFrom(localAddress: string): Socket {
  const socket = new Socket();
  const connectSocket = socket.connect.bind(socket);
  socket.connect = ((port: number, host: string) => connectSocket({ port, host, localAddress })) as typeof socket.connect;
  return socket;
}

/** A hand-driven protocol connection: send frames, read backend messages one by one. */
export class RawClient {
  private buffered: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  /** BackendKeyData of the session, after startup. */
  key: { processId: number; secretKey: number } | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  /** A client over a socket already connected (a TLS one, or one bound to a chosen local address), with bytes already read from it. */
  static over(socket: Socket, alreadyRead: Buffer = Buffer.alloc(0)): RawClient {
    const client = new RawClient(socket);
    client.buffered = alreadyRead;
    return client;
  }

  static async open(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawClient> {
    const socket = connect({ port, host, ...(localAddress ? { localAddress } : {}) });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawClient(socket);
  }

  /** Opens a connection and completes a trust startup. */
  static async startup(port: number, parameters: Record<string, string> = {}): Promise<RawClient> {
    const client = await RawClient.open(port);
    client.write(serialize.startup({ user: 'raw', database: 'kinesql', ...parameters }));
    const messages = await client.readUntilReady();
    const keyData = messages.find((message) => message.type === 'K');
    if (keyData) client.key = { processId: keyData.body.readInt32BE(0), secretKey: keyData.body.readInt32BE(4) };
    return client;
  }

  write(bytes: Uint8Array | Buffer): void {
    this.socket.write(bytes);
  }

  async next(): Promise<BackendMessage | undefined> {
    for (;;) {
      if (this.buffered.length >= 5) {
        const length = this.buffered.readInt32BE(1);
        if (this.buffered.length >= length + 1) {
          const message = { type: String.fromCharCode(this.buffered[0]!), body: this.buffered.subarray(5, length + 1) };
          this.buffered = this.buffered.subarray(length + 1);
          return message;
        }
      }
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Reads one raw byte (answers to SSLRequest/GSSENCRequest). */
  async byte(): Promise<string | undefined> {
    while (this.buffered.length === 0 && !this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.buffered.length === 0) return undefined;
    const value = String.fromCharCode(this.buffered[0]!);
    this.buffered = this.buffered.subarray(1);
    return value;
  }

  /** Messages up to and including ReadyForQuery (or until the connection closes). */
  async readUntilReady(): Promise<BackendMessage[]> {
    const messages: BackendMessage[] = [];
    for (;;) {
      const message = await this.next();
      if (!message) return messages;
      messages.push(message);
      if (message.type === 'Z') return messages;
    }
  }

  /** Messages until n have arrived or the connection closes. */
  async read(count: number): Promise<BackendMessage[]> {
    const messages: BackendMessage[] = [];
    while (messages.length < count) {
      const message = await this.next();
      if (!message) break;
      messages.push(message);
    }
    return messages;
  }

  async waitClosed(): Promise<boolean> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return true;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The fields of an ErrorResponse/NoticeResponse body, by field code (C code, M message, S severity). */
export function errorFields(body: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const code = String.fromCharCode(body[offset]!);
    const end = body.indexOf(0, offset + 1);
    fields[code] = body.toString('utf8', offset + 1, end);
    offset = end + 1;
  }
  return fields;
}

/** Text values of a DataRow body. */
export function dataRow(body: Buffer): (string | null)[] {
  const count = body.readInt16BE(0);
  const values: (string | null)[] = [];
  let offset = 2;
  for (let i = 0; i < count; i += 1) {
    const length = body.readInt32BE(offset);
    offset += 4;
    if (length < 0) values.push(null);
    else {
      values.push(body.toString('utf8', offset, offset + length));
      offset += length;
    }
  }
  return values;
}

export const types = (messages: BackendMessage[]): string => messages.map((message) => message.type).join('');
