/**
 * Positions in the primary's write-ahead log (LSNs), and how far the primary has written: what a hot standby
 * must have replayed before a statement on it sees everything the same statement on the primary would.
 */
import type { Engine } from './engine.js';

/** An LSN as PostgreSQL prints it (`16/B374D848`) read into a number of bytes. */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(text.trim());
  if (!match) throw new Error(`not a WAL position: ${text}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

const WAL_PAGE_BYTES = 8192n;
/** Page headers: a short one on every page, a long one on the first page of a segment. */
const SHORT_PAGE_HEADER_BYTES = 24n;
const LONG_PAGE_HEADER_BYTES = 40n;

/**
 * The insert position just after a page header stands for the end of the record before it, which ends on
 * the page boundary: a standby that replayed that record reports the boundary. No record can end right
 * after a header (a record continued onto a page has at least one byte there), so this loses nothing.
 */
export function recordEnd(insertPosition: bigint, segmentBytes: bigint): bigint {
  if (insertPosition % segmentBytes === LONG_PAGE_HEADER_BYTES) return insertPosition - LONG_PAGE_HEADER_BYTES;
  if (insertPosition % WAL_PAGE_BYTES === SHORT_PAGE_HEADER_BYTES) return insertPosition - SHORT_PAGE_HEADER_BYTES;
  return insertPosition;
}

/**
 * Reads how far the primary has written, for callers that need a position at least as late as every
 * commit that finished before they asked. Callers at the same time share one read: a caller joins the
 * next read to start, never one that started before it asked.
 *
 * kinesql loads batches with asynchronous commit, so their WAL may still be in the primary's buffers,
 * where no standby gets it until the WAL writer flushes it (up to wal_writer_delay later). When the
 * written position is behind the inserted one, a tiny synchronous commit flushes everything before it.
 */
export class PrimaryPosition {
  private inFlight: Promise<bigint> | undefined;
  private queued: Promise<bigint> | undefined;
  private segmentBytes: Promise<bigint> | undefined;

  constructor(private readonly primary: Engine) {}

  /** A WAL position at least as late as the end of every commit on the primary that finished before the call. */
  read(): Promise<bigint> {
    if (!this.inFlight) return this.start();
    this.queued ??= this.inFlight
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    return this.queued;
  }

  private start(): Promise<bigint> {
    const reading: Promise<bigint> = this.fetch().finally(() => {
      if (this.inFlight === reading) this.inFlight = undefined;
    });
    this.inFlight = reading;
    return reading;
  }

  private async fetch(): Promise<bigint> {
    const segmentBytes = await this.walSegmentBytes();
    const { rows } = await this.primary.query(`SELECT pg_current_wal_insert_lsn()::text AS inserted, pg_current_wal_flush_lsn()::text AS flushed`);
    const inserted = recordEnd(parseLsn(String(rows[0]?.['inserted'])), segmentBytes);
    const flushed = parseLsn(String(rows[0]?.['flushed']));
    if (flushed < inserted) await this.flush();
    return inserted;
  }

  /**
   * A transaction that writes WAL and commits synchronously flushes all WAL before its commit record. Its
   * one WAL record is a transactional logical message: no table is touched, and with wal_level=replica
   * nothing decodes it.
   */
  private async flush(): Promise<void> {
    await this.primary.transaction(async (tx) => {
      await tx.query('SET LOCAL synchronous_commit = local');
      await tx.query(`SELECT pg_logical_emit_message(true, 'kinesql', 'flush')`);
    });
  }

  private walSegmentBytes(): Promise<bigint> {
    this.segmentBytes ??= this.primary
      .query(`SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'`)
      .then(({ rows }) => BigInt(String(rows[0]?.['setting'])))
      .catch((error: unknown) => {
        this.segmentBytes = undefined;
        throw error;
      });
    return this.segmentBytes;
  }
}
