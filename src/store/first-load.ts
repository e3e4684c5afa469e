/**
 * The log lines of a table's first load (its window, from the table's start to the tips): one when it
 * starts, with the window and the shards, and one when it ends, with what it read and how fast.
 */
import type { Logger } from 'pino';
import { durationText } from './load-progress.js';

export class FirstLoad {
  private state: 'ahead' | 'running' | 'done' = 'ahead';
  private startedAt = 0;
  private bytesBefore = 0;
  private records = 0;

  constructor(
    private readonly table: string,
    private readonly logger: Logger,
  ) {}

  /** The table holds what an earlier run or an earlier version of it loaded: there is no first load to tell of. */
  skip(): void {
    this.state = 'done';
  }

  begin(shards: number, windowMs: number | undefined, bytesLoaded: number): void {
    if (this.state !== 'ahead') return;
    this.state = 'running';
    this.startedAt = performance.now();
    this.bytesBefore = bytesLoaded;
    const window = windowMs === undefined ? 'from the trim horizon' : durationText(windowMs);
    this.logger.info(
      { table: this.table, window, windowSeconds: windowMs === undefined ? null : Math.round(windowMs / 1000), shards },
      `first load of ${this.table} started: window ${window}, ${shards} shard${shards === 1 ? '' : 's'}`,
    );
  }

  /** A catch-up of the table ended, having read `records` Kinesis records; `finished` when it succeeded. True when that ended the first load. */
  ended(records: number, bytesLoaded: number, finished: boolean): boolean {
    if (this.state !== 'running') return false;
    this.records += records;
    if (!finished) return false;
    this.state = 'done';
    const seconds = (performance.now() - this.startedAt) / 1000;
    const bytes = bytesLoaded - this.bytesBefore;
    const recordsPerSecond = seconds > 0 ? Math.round(this.records / seconds) : this.records;
    this.logger.info(
      { table: this.table, records: this.records, bytes, seconds: Math.round(seconds * 10) / 10, recordsPerSecond },
      `first load of ${this.table} finished: ${this.records} records, ${bytes} bytes in ${seconds.toFixed(1)} s (${recordsPerSecond} records/s)`,
    );
    return true;
  }
}
