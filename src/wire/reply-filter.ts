/**
 * Walks the backend's reply bytes message by message as they stream from the engine and passes them on,
 * changing three things the session needs:
 * - statement and portal names carry a per-session prefix on the shared backend; error and notice texts
 *   are shown to the client without it;
 * - the final ReadyForQuery is held back, so ParameterStatus messages can still go out before it;
 * - only whole messages are forwarded: if the engine is stopped mid-reply (cancel, timeout) the client
 *   never sees half a DataRow before the ErrorResponse.
 * The status of the last ReadyForQuery and the number of ErrorResponses are recorded.
 */
export class ReplyFilter {
  /** The incomplete message at the end of the bytes seen so far. */
  private pending: Buffer | undefined;
  private heldReady: Buffer | undefined;
  /** The status byte of the last ReadyForQuery ('I', 'T' or 'E'), or undefined when none came. */
  status: number | undefined;
  errors = 0;

  constructor(
    private readonly prefix: string,
    private readonly out: (bytes: Uint8Array) => Promise<void>,
  ) {}

  async push(chunk: Uint8Array): Promise<void> {
    const incoming = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const buf = this.pending ? Buffer.concat([this.pending, incoming]) : incoming;
    this.pending = undefined;
    const parts: Buffer[] = [];
    let runStart = 0;
    let offset = 0;
    while (buf.length - offset >= 5) {
      const length = 1 + buf.readInt32BE(offset + 1);
      if (buf.length - offset < length) break;
      const type = buf[offset]!;
      if (this.heldReady) {
        // More reply after a ReadyForQuery: it was not the last message, so it goes out in order.
        parts.push(this.heldReady);
        this.heldReady = undefined;
      }
      if (type === 0x5a || type === 0x45 || type === 0x4e) {
        if (offset > runStart) parts.push(buf.subarray(runStart, offset));
        const message = buf.subarray(offset, offset + length);
        if (type === 0x5a) {
          this.status = message[5];
          this.heldReady = Buffer.from(message);
        } else {
          if (type === 0x45) this.errors += 1;
          parts.push(this.prefix !== '' && message.includes(this.prefix) ? withoutPrefix(message, this.prefix) : message);
        }
        runStart = offset + length;
      }
      offset += length;
    }
    if (offset > runStart) parts.push(buf.subarray(runStart, offset));
    if (offset < buf.length) this.pending = Buffer.from(buf.subarray(offset));
    for (const part of parts) await this.out(part);
  }

  /** The ReadyForQuery held back at the end of the reply, if any; the caller sends it. */
  takeReady(): Buffer | undefined {
    const ready = this.heldReady;
    this.heldReady = undefined;
    return ready;
  }
}

/** Rebuilds an ErrorResponse/NoticeResponse with the session prefix removed from every field. */
function withoutPrefix(message: Buffer, prefix: string): Buffer {
  const body = Buffer.from(message.subarray(5).toString('utf8').split(prefix).join(''), 'utf8');
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = message[0]!;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}
