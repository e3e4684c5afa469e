/**
 * A batch of decoded records on its way into a stream table with COPY. A value the engine refuses (JSON it
 * cannot store, a NUL, a number or date out of its range, bytes that are not UTF-8) must never make a table
 * unreadable: when a batch's COPY fails with a data exception, the batch is split until the records that
 * cause it are found, and those are loaded as invalid messages (data columns NULL, _message_valid false).
 */
import type { DecodedMessage, UnwrappedMessage } from '../decode/record-decoder.js';
import type { EngineTransaction } from '../engine/engine.js';
import type { StreamRecord } from '../kinesis/records.js';
import { CopyChunks, copyLine } from './copy-text.js';

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

function rowsText(rows: readonly BatchRow[]): Buffer[] {
  const text = new CopyChunks();
  for (const row of rows) text.add(copyLine(row.values));
  return text.done();
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
      await tx.copyFrom(copySql, rowsText(rows.slice(from, to)));
      await tx.query(`RELEASE SAVEPOINT ${name}`);
      return;
    } catch (error) {
      await tx.query(`ROLLBACK TO SAVEPOINT ${name}`);
      await tx.query(`RELEASE SAVEPOINT ${name}`);
      if (!isDataException(error)) throw error;
    }
    if (to - from === 1) {
      await tx.copyFrom(copySql, rowsText([asInvalid(rows[from]!, shape)]));
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

/** A Kinesis record with its user records unwrapped (RecordDecoder.unwrap), ready to decode. */
export interface UnwrappedRecord {
  record: StreamRecord;
  messages: UnwrappedMessage[];
}

type Decode = (message: UnwrappedMessage) => DecodedMessage;

/** A batch as COPY text in chunks, with what its rows add to the shard's counts. */
export interface EncodedBatch {
  chunks: Buffer[];
  /** Bytes of COPY text in the chunks. */
  textBytes: number;
  rows: number;
  invalidRows: number;
  /** Message bytes (after decompression) of the rows. */
  bytes: number;
  /** The shard's running record count after the batch. */
  segmentCount: number;
}

/**
 * Decodes each message of a batch and hands its row to `row`: the decoded columns, then the internal
 * columns in table order (see INTERNAL_COLUMNS). `segment` is the shard's running record count before the
 * batch. Returns the count after it.
 */
function eachRow(
  records: readonly UnwrappedRecord[],
  decode: Decode,
  shardId: string,
  segment: number,
  row: (values: (string | null)[], messageBytes: number) => void,
): number {
  if (records.length === 0) return segment;
  const first = records[0]!.record.sequenceNumber;
  const last = records[records.length - 1]!.record.sequenceNumber;
  let segmentCount = segment;
  for (const { record, messages } of records) {
    segmentCount += 1;
    const arrival = record.arrivalTimestamp.toISOString();
    for (const unwrapped of messages) {
      const message = decode(unwrapped);
      row(
        [
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
        message.message.byteLength,
      );
    }
  }
  return segmentCount;
}

/** A batch as COPY text, written row by row into chunks (never one string for the batch). */
export function encodeBatch(records: readonly UnwrappedRecord[], decode: Decode, shardId: string, segment: number, shape: RowShape): EncodedBatch {
  const text = new CopyChunks();
  let rows = 0;
  let invalidRows = 0;
  let bytes = 0;
  const segmentCount = eachRow(records, decode, shardId, segment, (values, messageBytes) => {
    text.add(copyLine(values));
    rows += 1;
    if (values[shape.validColumn] === 'f') invalidRows += 1;
    bytes += messageBytes;
  });
  const chunks = text.done();
  return { chunks, textBytes: text.bytes, rows, invalidRows, bytes, segmentCount };
}

/** A batch as rows of values, for a COPY that must find the rows the engine refuses (copyIsolatingBadRows). */
export function batchRows(records: readonly UnwrappedRecord[], decode: Decode, shardId: string, segment: number): BatchRow[] {
  const rows: BatchRow[] = [];
  eachRow(records, decode, shardId, segment, (values) => rows.push({ values }));
  return rows;
}
