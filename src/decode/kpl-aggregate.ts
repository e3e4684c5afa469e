/**
 * Builds KPL-aggregated records (the format the Kinesis Producer Library writes), for producers and tests:
 * the inverse of deaggregate() in kpl.ts.
 */
import { createHash } from 'node:crypto';
import { KPL_MAGIC, type UserRecord } from './kpl.js';
import { ProtobufWriter } from './protobuf-wire.js';

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
