/**
 * A batch of decoded records on its way into a stream table with COPY. A value the engine refuses (JSON it
 * cannot store, a NUL, a number or date out of its range, bytes that are not UTF-8) must never make a table
 * unreadable: when a batch's COPY fails with a data exception, the batch is split until the records that
 * cause it are found, and those are loaded as invalid messages (data columns NULL, _message_valid false).
 */
import type { DecodedMessage, UnwrappedMessage } from '../decode/record-decoder.js';
import type { EngineTransaction } from '../engine/engine.js';
import type { StreamRecord } from '../kinesis/records.js';
import { batchValue, type BatchValue, CopyWriter, type CopyRowSink, messageText } from './copy-text.js';

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
  const text = new CopyWriter();
  for (const row of rows) {
    for (const value of row.values) text.text(value);
    text.endRow();
  }
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

/** What a row adds to its batch's counts. */
type RowCounted = (valid: boolean, messageBytes: number) => void;

/**
 * Decodes each message of a batch and writes its row into `sink`: the decoded columns, then the internal
 * columns in table order (see INTERNAL_COLUMNS). `segment` is the shard's running record count before the
 * batch. Returns the count after it.
 */
function writeRows(records: readonly UnwrappedRecord[], decode: Decode, shardId: string, segment: number, sink: CopyRowSink, counted: RowCounted): number {
  if (records.length === 0) return segment;
  const first = records[0]!.record.sequenceNumber;
  const last = records[records.length - 1]!.record.sequenceNumber;
  const shard = batchValue(shardId);
  const firstOfBatch = batchValue(first);
  const lastOfBatch = batchValue(last);
  let segmentCount = segment;
  let arrivalTime = Number.NaN;
  let arrival = '';
  for (const { record, messages } of records) {
    segmentCount += 1;
    // Records of a batch often arrived in the same millisecond.
    if (record.arrivalTimestamp.getTime() !== arrivalTime) {
      arrivalTime = record.arrivalTimestamp.getTime();
      arrival = record.arrivalTimestamp.toISOString();
    }
    const segmentText = String(segmentCount);
    for (const unwrapped of messages) {
      const message = decode(unwrapped);
      for (const value of message.row.values) sink.text(value);
      sink.same(shard);
      sink.text(record.sequenceNumber);
      sink.same(firstOfBatch);
      sink.same(lastOfBatch);
      sink.plain(segmentText);
      sink.plain(message.row.valid ? 't' : 'f');
      sink.message(message.message);
      sink.plain(String(message.message.byteLength));
      sink.plain(arrival);
      sink.text(message.partitionKey);
      if (message.subSequenceNumber === null) sink.text(null);
      else sink.plain(String(message.subSequenceNumber));
      sink.endRow();
      counted(message.row.valid, message.message.byteLength);
    }
  }
  return segmentCount;
}

/** A batch as COPY text, written value by value into chunks (never one string for the batch, nor an array of values per row). */
export function encodeBatch(records: readonly UnwrappedRecord[], decode: Decode, shardId: string, segment: number): EncodedBatch {
  const text = new CopyWriter();
  let rows = 0;
  let invalidRows = 0;
  let bytes = 0;
  const segmentCount = writeRows(records, decode, shardId, segment, text, (valid, messageBytes) => {
    rows += 1;
    if (!valid) invalidRows += 1;
    bytes += messageBytes;
  });
  const chunks = text.done();
  return { chunks, textBytes: text.bytes, rows, invalidRows, bytes, segmentCount };
}

/** The values of rows as they are written: what copyIsolatingBadRows splits and looks at. */
class RowValues implements CopyRowSink {
  readonly rows: BatchRow[] = [];
  private values: (string | null)[] = [];

  text(value: string | null): void {
    this.values.push(value);
  }

  plain(value: string): void {
    this.values.push(value);
  }

  same(value: BatchValue): void {
    this.values.push(value.text);
  }

  message(payload: Uint8Array): void {
    this.values.push(messageText(payload));
  }

  endRow(): void {
    this.rows.push({ values: this.values });
    this.values = [];
  }
}

/** A batch as rows of values, for a COPY that must find the rows the engine refuses (copyIsolatingBadRows). */
export function batchRows(records: readonly UnwrappedRecord[], decode: Decode, shardId: string, segment: number): BatchRow[] {
  const rows = new RowValues();
  writeRows(records, decode, shardId, segment, rows, () => undefined);
  return rows.rows;
}
