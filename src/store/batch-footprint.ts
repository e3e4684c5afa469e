/**
 * What a batch holds in memory from its GetRecords call until its commit (its records, and once decoded its
 * COPY text), as the load budget counts it: measured on each batch of a table once decoded, and estimated
 * from the table's last measured batch before that.
 */
import type { StreamRecord } from '../kinesis/records.js';

/**
 * What a record read from Kinesis holds in memory besides its data, sequence number and partition key: the
 * store's object for it, the view on its bytes, its arrival time. Measured as 330 bytes (Node 20, the bench's
 * records) while the SDK's object for each record was held too, and again as 326 bytes for the records the
 * answer reader (kinesis/get-records-answer.ts) makes: the heap and external memory 200,000 of them hold after
 * a full garbage collection, less their data, sequence numbers and partition keys.
 */
const RECORD_OVERHEAD = 330;
/** Kinesis answers one GetRecords call with at most 10 MiB of record data. */
const MAX_CALL_RECORD_BYTES = 10 * 1024 * 1024;
/** What a batch is assumed to hold per record before any batch of its table was measured. */
const FIRST_FOOTPRINT_PER_RECORD = 2048;
/** ... and per byte of its records (the records themselves, and COPY text about twice their size). */
const FIRST_FOOTPRINT_PER_RECORD_BYTE = 3;
/**
 * Estimates are this much above the table's last measured batch, so that a batch of slightly larger records
 * still fits the room taken for it and seldom grows past what it was let in with.
 */
const ESTIMATE_MARGIN = 1.05;
const ROOM_MARGIN = 1.1;

/** The memory a batch's records hold from their GetRecords call until their commit. */
export function heldRecordBytes(records: readonly StreamRecord[]): number {
  let bytes = 0;
  for (const record of records) bytes += record.data.byteLength + record.sequenceNumber.length + record.partitionKey.length + RECORD_OVERHEAD;
  return bytes;
}

/** One table's batch footprints: what its last batch held per record and per byte of its records. */
export class BatchFootprint {
  private perRecord = FIRST_FOOTPRINT_PER_RECORD;
  private perRecordByte = FIRST_FOOTPRINT_PER_RECORD_BYTE;

  /** The room a GetRecords call asking for `records` records takes before it is made. */
  roomForCall(records: number): number {
    return Math.ceil(Math.min(records * this.perRecord, MAX_CALL_RECORD_BYTES * this.perRecordByte) * ROOM_MARGIN);
  }

  /** What a batch whose records hold `recordBytes` will hold once decoded. */
  estimate(recordBytes: number): number {
    return Math.ceil(recordBytes * this.perRecordByte * ESTIMATE_MARGIN);
  }

  /** A batch of `records` records holding `recordBytes` was decoded and holds `held` bytes. */
  measured(records: number, recordBytes: number, held: number): void {
    if (records === 0) return;
    this.perRecord = held / records;
    this.perRecordByte = held / recordBytes;
  }
}
