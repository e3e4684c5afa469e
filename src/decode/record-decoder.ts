/**
 * What the store runs on each Kinesis record: KPL de-aggregation, then per user record decompression,
 * then decoding. Never throws: anything that fails becomes an invalid row.
 */
import type { MessageDefinition } from '../catalog/definition.js';
import { decompress } from './compression.js';
import type { DecodedRow, MessageDecoder } from './decoder.js';
import { createDecoder } from './index.js';
import { deaggregate } from './kpl.js';

export interface DecodedMessage {
  partitionKey: string;
  /** Index of the user record inside a KPL-aggregated record; null when the record was not aggregated. */
  subSequenceNumber: number | null;
  /** The payload after decompression (the raw record when it could not be de-aggregated or decompressed). */
  message: Uint8Array;
  row: DecodedRow;
}

export type RecordDecoder = (data: Uint8Array, partitionKey: string) => DecodedMessage[];

/** Throws only as createDecoder does, for a definition it cannot serve. */
export function createRecordDecoder(message: MessageDefinition, options: { maxMessageBytes: number }): RecordDecoder {
  const decoder: MessageDecoder = createDecoder(message);
  const fieldCount = message.fields.length;
  const invalidRow = (): DecodedRow => ({ values: new Array<string | null>(fieldCount).fill(null), valid: false });

  const decodeOne = (data: Uint8Array, partitionKey: string, subSequenceNumber: number | null): DecodedMessage => {
    const payload = decompress(data, message.compressionCodec, options.maxMessageBytes);
    if (!payload.ok) return { partitionKey, subSequenceNumber, message: data, row: invalidRow() };
    let row: DecodedRow;
    try {
      row = decoder.decode(payload.data);
    } catch {
      row = invalidRow(); // decoders do not throw by contract; this keeps one bad record from stopping ingest
    }
    return { partitionKey, subSequenceNumber, message: payload.data, row };
  };

  return (data, partitionKey) => {
    const split = deaggregate(data);
    switch (split.kind) {
      case 'plain':
        return [decodeOne(data, partitionKey, null)];
      case 'corrupt':
        return [{ partitionKey, subSequenceNumber: null, message: data, row: invalidRow() }];
      case 'aggregated':
        return split.records.map((record, index) => decodeOne(record.data, record.partitionKey, index));
    }
  };
}
