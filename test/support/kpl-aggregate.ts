/**
 * Builds KPL-aggregated records (the format the Kinesis Producer Library writes), for tests and benches: the
 * inverse of deaggregate() in src/decode/kpl.ts. kinesql only reads this format, so the writer is not in src/.
 */
import { createHash } from 'node:crypto';
import { KPL_MAGIC, type UserRecord } from '../../src/decode/kpl.js';
import { WIRE_LENGTH_DELIMITED, WIRE_VARINT } from '../../src/decode/protobuf-wire.js';

/** Aggregates user records into one Kinesis record; partition and explicit hash keys are stored once each. */
export function aggregate(records: UserRecord[]): Uint8Array {
  const partitionKeys = new Map<string, number>();
  const explicitHashKeys = new Map<string, number>();
  const indexOf = (table: Map<string, number>, key: string): number => {
    let index = table.get(key);
    if (index === undefined) {
      index = table.size;
      table.set(key, index);
    }
    return index;
  };
  const encodedRecords = records.map((record) => {
    const writer = new ProtobufWriter().varintField(1, indexOf(partitionKeys, record.partitionKey));
    if (record.explicitHashKey !== undefined) writer.varintField(2, indexOf(explicitHashKeys, record.explicitHashKey));
    return writer.bytesField(3, record.data).finish();
  });
  const message = new ProtobufWriter();
  for (const key of partitionKeys.keys()) message.stringField(1, key);
  for (const key of explicitHashKeys.keys()) message.stringField(2, key);
  for (const encoded of encodedRecords) message.bytesField(3, encoded);
  const body = message.finish();
  const digest = createHash('md5').update(body).digest();
  return Buffer.concat([KPL_MAGIC, body, digest]);
}

/** A protobuf message written field by field (the KPL container's fields: varints, bytes, strings). */
export class ProtobufWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  private push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  varint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint must be a non-negative safe integer, got ${value}`);
    const out: number[] = [];
    let rest = value;
    while (rest >= 0x80) {
      out.push((rest % 128) | 0x80);
      rest = Math.floor(rest / 128);
    }
    out.push(rest);
    this.push(Uint8Array.from(out));
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  bytesField(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED).varint(value.length);
    this.push(value);
    return this;
  }

  stringField(field: number, value: string): this {
    return this.bytesField(field, Buffer.from(value, 'utf8'));
  }

  varintField(field: number, value: number): this {
    return this.tag(field, WIRE_VARINT).varint(value);
  }

  finish(): Uint8Array {
    return Buffer.concat(this.chunks, this.length);
  }
}
