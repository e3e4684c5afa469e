/**
 * A batch of decoded records on its way into a stream table with COPY. A value the engine refuses (JSON it
 * cannot store, a NUL, a number or date out of its range, bytes that are not UTF-8) must never make a table
 * unreadable: when a batch's COPY fails with a data exception, the batch is split until the records that
 * cause it are found, and those are loaded as invalid messages (data columns NULL, _message_valid false).
 */
import type { DecodedMessage } from '../decode/record-decoder.js';
import type { EngineTransaction } from '../engine/engine.js';
import type { StreamRecord } from '../kinesis/records.js';
import { copyLine } from './copy-text.js';

export interface BatchRow {
  /** The data columns, then the internal columns, as COPY text values. */
  values: (string | null)[];
}

/** What a batch needs to know to load a row as an invalid message instead. */
export interface RowShape {
  dataColumns: number;
  /** Index of _message_valid among all columns. */
  validColumn: number;
}

export function batchText(rows: readonly BatchRow[]): Buffer {
  let text = '';
  for (const row of rows) text += copyLine(row.values);
  return Buffer.from(text, 'utf8');
}

/** SQLSTATE class 22 (data exception): the engine refused a value, not the statement. */
export function isDataException(error: unknown): boolean {
  return /^22/.test((error as { code?: string }).code ?? '');
}

function asInvalid(row: BatchRow, shape: RowShape): BatchRow {
  const values = row.values.map((value, i) => (i < shape.dataColumns ? null : value));
  values[shape.validColumn] = 'f';
  return { values };
}

/**
 * Copies rows inside tx, loading the rows whose values the engine refuses as invalid messages. Returns the
 * positions (in rows) of the rows that were made invalid.
 */
export async function copyIsolatingBadRows(tx: EngineTransaction, copySql: string, rows: readonly BatchRow[], shape: RowShape): Promise<number[]> {
  const madeInvalid: number[] = [];
  let savepoints = 0;
  const attempt = async (from: number, to: number): Promise<void> => {
    if (from >= to) return;
    const name = `kinesql_rows_${savepoints++}`;
    await tx.query(`SAVEPOINT ${name}`);
    try {
      await tx.copyFrom(copySql, batchText(rows.slice(from, to)));
      await tx.query(`RELEASE SAVEPOINT ${name}`);
      return;
    } catch (error) {
      await tx.query(`ROLLBACK TO SAVEPOINT ${name}`);
      await tx.query(`RELEASE SAVEPOINT ${name}`);
      if (!isDataException(error)) throw error;
    }
    if (to - from === 1) {
      await tx.copyFrom(copySql, batchText([asInvalid(rows[from]!, shape)]));
      madeInvalid.push(from);
      return;
    }
    const middle = from + Math.floor((to - from) / 2);
    await attempt(from, middle);
    await attempt(middle, to);
  };
  await attempt(0, rows.length);
  return madeInvalid;
}

const textDecoder = new TextDecoder('utf-8');

/** The message as PostgreSQL text: invalid UTF-8 replaced, NUL bytes (which text cannot hold) dropped. */
function messageText(payload: Uint8Array): string {
  const text = textDecoder.decode(payload);
  return text.includes('\u0000') ? text.replaceAll('\u0000', '') : text;
}

/**
 * A batch of records as COPY rows: the decoded columns, then the internal columns in table order (see
 * INTERNAL_COLUMNS). `segment` is the shard's running record count before the batch.
 */
export function encodeBatch(
  records: StreamRecord[],
  decode: (data: Uint8Array, partitionKey: string) => Iterable<DecodedMessage>,
  shardId: string,
  segment: number,
): { batch: BatchRow[]; segmentCount: number; rows: number; bytes: number } {
  const batch: BatchRow[] = [];
  if (records.length === 0) return { batch, segmentCount: segment, rows: 0, bytes: 0 };
  const first = records[0]!.sequenceNumber;
  const last = records[records.length - 1]!.sequenceNumber;
  let segmentCount = segment;
  let bytes = 0;
  for (const record of records) {
    segmentCount += 1;
    const arrival = record.arrivalTimestamp.toISOString();
    for (const message of decode(record.data, record.partitionKey)) {
      bytes += message.message.byteLength;
      batch.push({
        values: [
          ...message.row.values,
          shardId,
          record.sequenceNumber,
          first,
          last,
          String(segmentCount),
          message.row.valid ? 't' : 'f',
          messageText(message.message),
          String(message.message.byteLength),
          arrival,
          message.partitionKey,
          message.subSequenceNumber === null ? null : String(message.subSequenceNumber),
        ],
      });
    }
  }
  return { batch, segmentCount, rows: batch.length, bytes };
}
