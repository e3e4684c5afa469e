/**
 * The few protobuf wire-format pieces the KPL record format needs: a bounds-checked reader (the writer that
 * builds aggregated records for tests and benches is test/support/kpl-aggregate.ts).
 * (The `protobuf` data format decodes messages with protobufjs instead: protobuf-decoder.ts.)
 */

export class ProtobufError extends Error {}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LENGTH_DELIMITED = 2;
export const WIRE_FIXED32 = 5;

export class ProtobufReader {
  private position = 0;

  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.position >= this.bytes.length;
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.position;
  }

  /** A varint as a number; values beyond 2^53 are refused (indexes and tags never get there). */
  readVarint(): number {
    let result = 0;
    let multiplier = 1;
    for (let shift = 0; shift < 64; shift += 7) {
      if (this.position >= this.bytes.length) throw new ProtobufError('truncated varint');
      const byte = this.bytes[this.position++] as number;
      result += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) throw new ProtobufError('varint too large');
        return result;
      }
      multiplier *= 128;
    }
    throw new ProtobufError('varint longer than 10 bytes');
  }

  readTag(): { field: number; wireType: number } {
    const tag = this.readVarint();
    const field = Math.floor(tag / 8);
    if (field === 0) throw new ProtobufError('field number 0');
    return { field, wireType: tag % 8 };
  }

  readBytes(): Uint8Array {
    const length = this.readVarint();
    if (length > this.bytes.length - this.position) throw new ProtobufError('length-delimited field runs past the end');
    const out = this.bytes.subarray(this.position, this.position + length);
    this.position += length;
    return out;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.readVarint();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_LENGTH_DELIMITED:
        this.readBytes();
        return;
      case WIRE_FIXED32:
        this.advance(4);
        return;
      default:
        throw new ProtobufError(`unsupported wire type ${wireType}`);
    }
  }

  private advance(count: number): void {
    if (count > this.bytes.length - this.position) throw new ProtobufError('fixed-width field runs past the end');
    this.position += count;
  }
}
