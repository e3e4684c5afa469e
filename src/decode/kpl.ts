/**
 * De-aggregation of records written by the Kinesis Producer Library: magic F3 89 9A C2, a protobuf
 * AggregatedRecord, then the MD5 of the protobuf bytes.
 *
 *   AggregatedRecord { repeated string partition_key_table = 1; repeated string explicit_hash_key_table = 2;
 *                      repeated Record records = 3; }
 *   Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
 *            required bytes data = 3; repeated Tag tags = 4; }
 */
import { createHash } from 'node:crypto';
import { ProtobufError, ProtobufReader, WIRE_LENGTH_DELIMITED, WIRE_VARINT } from './protobuf-wire.js';

export const KPL_MAGIC = Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2);
export const KPL_DIGEST_BYTES = 16;

export interface UserRecord {
  partitionKey: string;
  explicitHashKey?: string;
  data: Uint8Array;
}

export type DeaggregateResult = { kind: 'plain' } | { kind: 'aggregated'; records: UserRecord[] } | { kind: 'corrupt'; error: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function hasKplMagic(data: Uint8Array): boolean {
  return data.length >= 4 && data[0] === 0xf3 && data[1] === 0x89 && data[2] === 0x9a && data[3] === 0xc2;
}

interface RawRecord {
  partitionKeyIndex?: number;
  explicitHashKeyIndex?: number;
  data?: Uint8Array;
}

function expectWireType(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw new ProtobufError(`${what} has wire type ${actual}, expected ${expected}`);
}

function readRecord(bytes: Uint8Array): RawRecord {
  const reader = new ProtobufReader(bytes);
  const record: RawRecord = {};
  while (!reader.done) {
    const { field, wireType } = reader.readTag();
    if (field === 1) {
      expectWireType(wireType, WIRE_VARINT, 'partition_key_index');
      record.partitionKeyIndex = reader.readVarint();
    } else if (field === 2) {
      expectWireType(wireType, WIRE_VARINT, 'explicit_hash_key_index');
      record.explicitHashKeyIndex = reader.readVarint();
    } else if (field === 3) {
      expectWireType(wireType, WIRE_LENGTH_DELIMITED, 'data');
      record.data = reader.readBytes();
    } else reader.skip(wireType); // tags (4) and anything newer
  }
  return record;
}

function parseAggregatedRecord(message: Uint8Array): UserRecord[] {
  const reader = new ProtobufReader(message);
  const partitionKeys: string[] = [];
  const explicitHashKeys: string[] = [];
  const rawRecords: RawRecord[] = [];
  while (!reader.done) {
    const { field, wireType } = reader.readTag();
    if (field === 1 || field === 2 || field === 3) {
      expectWireType(wireType, WIRE_LENGTH_DELIMITED, `field ${field}`);
      const bytes = reader.readBytes();
      if (field === 3) rawRecords.push(readRecord(bytes));
      else (field === 1 ? partitionKeys : explicitHashKeys).push(utf8.decode(bytes));
    } else reader.skip(wireType);
  }
  return rawRecords.map((raw, index) => {
    if (raw.partitionKeyIndex === undefined) throw new ProtobufError(`record ${index} has no partition_key_index`);
    if (raw.data === undefined) throw new ProtobufError(`record ${index} has no data`);
    const partitionKey = partitionKeys[raw.partitionKeyIndex];
    if (partitionKey === undefined) throw new ProtobufError(`record ${index}: partition_key_index ${raw.partitionKeyIndex} is outside the table`);
    const record: UserRecord = { partitionKey, data: raw.data };
    if (raw.explicitHashKeyIndex !== undefined) {
      const explicitHashKey = explicitHashKeys[raw.explicitHashKeyIndex];
      if (explicitHashKey === undefined) throw new ProtobufError(`record ${index}: explicit_hash_key_index ${raw.explicitHashKeyIndex} is outside the table`);
      record.explicitHashKey = explicitHashKey;
    }
    return record;
  });
}

/** What almost every record is: one answer for all of them. */
const PLAIN: DeaggregateResult = Object.freeze({ kind: 'plain' });

/** Splits a KPL-aggregated record into its user records; `plain` when the record is not aggregated. */
export function deaggregate(data: Uint8Array): DeaggregateResult {
  if (!hasKplMagic(data)) return PLAIN;
  if (data.length < KPL_MAGIC.length + KPL_DIGEST_BYTES) return { kind: 'corrupt', error: 'KPL record shorter than magic and digest' };
  const message = data.subarray(KPL_MAGIC.length, data.length - KPL_DIGEST_BYTES);
  const digest = data.subarray(data.length - KPL_DIGEST_BYTES);
  const expected = createHash('md5').update(message).digest();
  if (!expected.equals(digest)) return { kind: 'corrupt', error: 'KPL record digest does not match its content' };
  try {
    return { kind: 'aggregated', records: parseAggregatedRecord(message) };
  } catch (error) {
    return { kind: 'corrupt', error: `KPL record does not parse: ${(error as Error).message}` };
  }
}
