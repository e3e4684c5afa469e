import type { TextCodec } from '../pg/client-encoding.js';
import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, SSL_REQUEST_CODE } from '../pg/protocol-constants.js';
import { PgError } from '../pg/pg-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';

/** A message before authentication: no type byte, just a length and a code. */
export type StartupPacket =
  | { kind: 'ssl-request' }
  | { kind: 'gssenc-request' }
  | { kind: 'cancel-request'; processId: number; secretKey: number }
  | { kind: 'startup'; protocolVersion: number; parameters: Map<string, string> };

/** A typed frontend message after startup, with the exact bytes it arrived as (forwarded to the engine as is). */
export interface FrontendMessage {
  type: string;
  /** The body, without the type byte and length. */
  body: Buffer;
  /** The whole message: type byte, length and body. */
  raw: Buffer;
  /** Why the message was refused from its header alone (its body is not read: `body` is empty). */
  refused?: string;
}

/** Which messages are refused from their type and length alone (the reason), before their bodies arrive. */
export type RefuseFromHeader = (type: string, bytes: number) => string | undefined;

/** A message that breaks the protocol (08P01): an ERROR in an extended-protocol batch, FATAL where the framing is lost. */
export class ProtocolViolation extends PgError {
  constructor(message: string) {
    super(message, SQLSTATE.protocolViolation);
  }
}

/** Messages at least this long are assembled as they arrive: joining megabytes at once would hold every session up. */
const ASSEMBLE_BYTES = 1024 * 1024;

/**
 * Splits the byte stream from a client into messages: startup packets (no type byte) until the startup
 * message, typed messages after it; the connection's state says which to read. Limits each message's size so a hostile length cannot make the server allocate gigabytes.
 */
export class FrontendReader {
  /** Received bytes not yet taken, as they arrived: joined only once a whole message is there. */
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  /** A message of ASSEMBLE_BYTES or more, copied into place chunk by chunk as it arrives (never joined in one go). */
  private assembling: { buffer: Buffer; filled: number } | undefined;
  /** Set once a message was refused from its header: nothing after it can be read (the connection ends). */
  private stopped = false;
  private refuseFromHeader: RefuseFromHeader | undefined;

  /** maxMessageBytes can be lowered until the client has logged in (setLimit). */
  constructor(private maxMessageBytes: number) {}

  setLimit(maxMessageBytes: number): void {
    this.maxMessageBytes = maxMessageBytes;
  }

  /** Whether a message of ASSEMBLE_BYTES or more is being assembled. */
  get inLargeMessage(): boolean {
    return this.assembling !== undefined;
  }

  /**
   * Messages of ASSEMBLE_BYTES or more that `policy` refuses are not read: the next message is the refusal
   * (its body empty), and nothing after it is read; the connection must end.
   */
  setRefuseFromHeader(policy: RefuseFromHeader): void {
    this.refuseFromHeader = policy;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    this.bufferedBytes += chunk.length;
    const assembling = this.assembling;
    if (!assembling) {
      this.chunks.push(chunk);
      return;
    }
    const copied = chunk.copy(assembling.buffer, assembling.filled);
    assembling.filled += copied;
    if (copied < chunk.length) this.chunks.push(chunk.subarray(copied));
  }

  /** The first `count` buffered bytes, without taking them (joins only as many chunks as needed). */
  private peek(count: number): Buffer {
    if (this.chunks[0]!.length < count) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, count);
  }

  /** Takes the first `count` buffered bytes. */
  private take(count: number): Buffer {
    const whole = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    if (count === whole.length) {
      // The usual case: a chunk holding just one message.
      this.chunks = [];
      this.bufferedBytes -= count;
      return whole;
    }
    const taken = whole.subarray(0, count);
    const rest = whole.subarray(count);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.bufferedBytes -= count;
    return taken;
  }

  /** Whether bytes that are not yet a whole message are buffered (after an SSLRequest there must be none). */
  get hasBufferedBytes(): boolean {
    return this.bufferedBytes > 0;
  }

  nextStartupPacket(): StartupPacket | undefined {
    if (this.bufferedBytes < 4) return undefined;
    const length = this.peek(4).readInt32BE(0);
    if (length < 8 || length > 10_000) throw new ProtocolViolation('invalid length of startup packet');
    if (this.bufferedBytes < length) return undefined;
    const packet = this.take(length);
    const code = packet.readInt32BE(4);
    if (code === SSL_REQUEST_CODE) return { kind: 'ssl-request' };
    if (code === GSSENC_REQUEST_CODE) return { kind: 'gssenc-request' };
    if (code === CANCEL_REQUEST_CODE) {
      if (length !== 16) throw new ProtocolViolation('invalid length of cancel request packet');
      return { kind: 'cancel-request', processId: packet.readInt32BE(8), secretKey: packet.readInt32BE(12) };
    }
    const parameters = new Map<string, string>();
    let offset = 8;
    while (offset < length) {
      const nameEnd = packet.indexOf(0, offset);
      if (nameEnd < 0) throw new ProtocolViolation('invalid startup packet layout: expected terminator as last byte');
      if (nameEnd === offset) break;
      const valueEnd = packet.indexOf(0, nameEnd + 1);
      if (valueEnd < 0) throw new ProtocolViolation('invalid startup packet layout: expected terminator as last byte');
      parameters.set(packet.toString('utf8', offset, nameEnd), packet.toString('utf8', nameEnd + 1, valueEnd));
      offset = valueEnd + 1;
    }
    return { kind: 'startup', protocolVersion: code, parameters };
  }

  nextMessage(): FrontendMessage | undefined {
    if (this.stopped) return undefined;
    if (this.assembling) return this.assembled();
    if (this.bufferedBytes < 5) return undefined;
    const head = this.chunks[0]!;
    const length = (head.length >= 5 ? head : this.peek(5)).readInt32BE(1);
    if (length < 4) throw new ProtocolViolation(`invalid message length ${length}`);
    if (length + 1 > this.maxMessageBytes) {
      throw new ProtocolViolation(`invalid message length: ${length + 1} bytes exceed the limit of ${this.maxMessageBytes} bytes`);
    }
    if (length + 1 >= ASSEMBLE_BYTES) {
      const type = String.fromCharCode(this.peek(1)[0]!);
      const refused = this.refuseFromHeader?.(type, length + 1);
      if (refused !== undefined) {
        const header = Buffer.from(this.peek(5));
        this.stopped = true;
        this.chunks = [];
        this.bufferedBytes = 0;
        return { type, body: Buffer.alloc(0), raw: header, refused };
      }
    }
    if (this.bufferedBytes < length + 1) {
      if (length + 1 >= ASSEMBLE_BYTES) this.startAssembling(length + 1);
      return undefined;
    }
    const raw = this.take(length + 1);
    return { type: String.fromCharCode(raw[0]!), body: raw.subarray(5), raw };
  }

  /**
   * Everything buffered is the start of the message (it is at the head and not complete): moved into place. The
   * place is shared memory, so that the worker analysing the statement reads it there: handing it over copies
   * nothing (a copy of tens of megabytes into fresh memory costs the main thread hundreds of milliseconds).
   */
  private startAssembling(bytes: number): void {
    const buffer = Buffer.from(new SharedArrayBuffer(bytes));
    let filled = 0;
    for (const chunk of this.chunks) filled += chunk.copy(buffer, filled);
    this.chunks = [];
    this.assembling = { buffer, filled };
  }

  private assembled(): FrontendMessage | undefined {
    const { buffer: raw, filled } = this.assembling!;
    if (filled < raw.length) return undefined;
    this.assembling = undefined;
    this.bufferedBytes -= raw.length;
    return { type: String.fromCharCode(raw[0]!), body: raw.subarray(5), raw };
  }
}

/** Reads NUL-terminated strings and integers out of a message body. */
export class BodyReader {
  private offset = 0;
  constructor(private readonly body: Buffer) {}

  /** A NUL-terminated string, read in the session's client encoding (UTF-8 unless given). */
  cstring(codec?: TextCodec): string {
    const bytes = this.cstringBytes();
    return codec ? codec.decode(bytes) : bytes.toString('utf8');
  }

  /** The bytes of a NUL-terminated string, without the NUL. */
  cstringBytes(): Buffer {
    const end = this.body.indexOf(0, this.offset);
    if (end < 0) throw new ProtocolViolation('invalid string in message');
    const bytes = this.body.subarray(this.offset, end);
    this.offset = end + 1;
    return bytes;
  }

  int16(): number {
    if (this.offset + 2 > this.body.length) throw new ProtocolViolation('insufficient data left in message');
    const value = this.body.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    if (this.offset + 4 > this.body.length) throw new ProtocolViolation('insufficient data left in message');
    const value = this.body.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  bytes(count: number): Buffer {
    if (count < 0 || this.offset + count > this.body.length) throw new ProtocolViolation('insufficient data left in message');
    const value = this.body.subarray(this.offset, this.offset + count);
    this.offset += count;
    return value;
  }

  get remaining(): number {
    return this.body.length - this.offset;
  }
}
