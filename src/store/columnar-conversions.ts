/**
 * Converts every closed partition of one stream table to columnar (kinesql.closed-partition-storage =
 * columnar), in the background, one after another, as soon as catch-ups find them closed: each is copied
 * once, then its swap is tried again and again, a short while apart, until statements leave the table free
 * for a moment (columnar-copy.ts). A swap asks for its locks without queueing, so no reader waits for it.
 */
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import { qualifiedName, type TableName } from '../pg/quoting.js';
import { buildColumnarCopy, dropColumnarCopy, dropOrphanedCopies, heapPartitionsWithin, indexCopy, swapInColumnarCopy } from './columnar-copy.js';
import type { ClosedRange } from './columnar-partitions.js';
import type { TimePartition } from './time-partitions.js';

/** Pause before the first new swap attempt after one found the table held; it doubles up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 3_000;
/** Copies of one partition per run: records keep landing in it, so it is not as closed as it looked. */
const MAX_COPIES = 3;

export interface ColumnarConversionsOptions {
  engine: Engine;
  parent: TableName;
  logger: Logger;
  /** The table is distributed over a Citus cluster: each copy is distributed alongside its partition (columnar-copy.ts). */
  distributed: boolean;
  /** After a failure (not a busy table), no run starts for this long (ms). */
  pauseAfterFailureMs: number;
}

type PartitionOutcome = 'converted' | 'elsewhere' | 'gone' | 'stopped' | 'unsettled';

export class ColumnarConversions {
  private closed: ClosedRange | undefined;
  /**
   * The closed range in which, when a run ended, the engine had no heap partition left for this server: each
   * converted, by this run or another server's, or one another server was converting (its run finishes it,
   * or tries again after a failure). A range within it needs no run, and no question to the engine.
   */
  private done: ClosedRange | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private pausedUntil = 0;
  private wake: (() => void) | undefined;
  /** Copies an earlier process left are looked for once, at the first run. */
  private orphansDropped = false;
  private readonly tableName: string;

  constructor(private readonly options: ColumnarConversionsOptions) {
    this.tableName = qualifiedName(options.parent);
  }

  /** The partitions within `closed` can receive no more records: converts those still heap, unless a run is under way (it takes the new range). */
  offer(closed: ClosedRange | undefined): void {
    if (!closed || this.stopped || Date.now() < this.pausedUntil) return;
    this.closed = closed;
    if (this.running || (this.done && within(closed, this.done))) return;
    this.running = this.run().finally(() => {
      this.running = undefined;
    });
  }

  /** Ends the run under way (its copy dropped) and waits for it; offers are ignored until resume(). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }

  resume(): void {
    this.stopped = false;
  }

  private async run(): Promise<void> {
    const { engine, parent, logger } = this.options;
    /** Partitions another server converts or converted, or that went while this run looked at them: not looked at again by this run. */
    const passed = new Set<string>();
    try {
      if (!this.orphansDropped) {
        await dropOrphanedCopies(engine, parent);
        this.orphansDropped = true;
      }
      for (;;) {
        const closed = this.closed!;
        const next = (await heapPartitionsWithin(engine, parent, closed)).find((partition) => !passed.has(qualifiedName(partition.table)));
        if (!next) {
          this.done = closed;
          return;
        }
        if (this.stopped) return;
        const outcome = await this.convert(next);
        if (outcome === 'stopped') return;
        if (outcome === 'elsewhere' || outcome === 'gone') passed.add(qualifiedName(next.table));
        if (outcome === 'unsettled') {
          this.pausedUntil = Date.now() + this.options.pauseAfterFailureMs;
          return;
        }
      }
    } catch (error) {
      if (this.stopped) return;
      this.pausedUntil = Date.now() + this.options.pauseAfterFailureMs;
      logger.warn({ err: error, table: this.tableName }, 'could not convert a closed partition to columnar; trying again after the eviction interval');
    }
  }

  /** Copies the partition, then tries its swap until it succeeds, the copy is outdated, or the run is stopped. */
  private async convert(partition: TimePartition): Promise<PartitionOutcome> {
    const { engine, parent, logger, distributed } = this.options;
    const name = qualifiedName(partition.table);
    let attempts = 0;
    const started = performance.now();
    for (let copies = 0; copies < MAX_COPIES; copies++) {
      if (!(await buildColumnarCopy(engine, parent, partition, distributed))) return 'elsewhere';
      let swapped = false;
      let unindexed: string | undefined;
      try {
        for (let delay = FIRST_RETRY_MS; ; delay = Math.min(delay * 2, MAX_RETRY_MS)) {
          if (this.stopped) return 'stopped';
          attempts += 1;
          const swap = await swapInColumnarCopy(engine, parent, partition, distributed);
          if (swap.swapped) {
            swapped = true;
            const exclusiveMs = Math.round(performance.now() - swap.exclusiveSince);
            const ms = Math.round(performance.now() - started);
            logger.info({ table: this.tableName, partition: name, rows: swap.rows, attempts, ms, exclusiveMs }, 'a closed partition is now stored columnar');
            return 'converted';
          }
          if ('gone' in swap) return 'gone';
          if ('unindexed' in swap) {
            // The table's indexes may be built one by one meanwhile (after its first load); the same one missing again is one this module cannot copy.
            if (swap.unindexed === unindexed) return this.unsettled(partition, swap.unindexed);
            unindexed = swap.unindexed;
            if (!(await indexCopy(engine, parent, partition))) return 'elsewhere';
            continue;
          }
          if ('stale' in swap) {
            logger.info({ table: this.tableName, partition: name, reason: swap.stale }, 'a closed partition is copied again before it is stored columnar');
            break;
          }
          // Said once per partition: with a steady stream of statements most first attempts find the table held.
          if (attempts === 1) {
            logger.info(
              { table: this.tableName, partition: name, reason: swap.busy },
              'a closed partition stays heap a moment longer: statements hold the table',
            );
          }
          await this.pause(delay);
        }
      } finally {
        if (!swapped) await dropColumnarCopy(engine, partition).catch(() => undefined);
      }
    }
    return this.unsettled(partition, `records kept landing in it: copied ${MAX_COPIES} times`);
  }

  private unsettled(partition: TimePartition, reason: string): PartitionOutcome {
    this.options.logger.warn(
      { table: this.tableName, partition: qualifiedName(partition.table), reason },
      "a closed partition stays heap; converting the table's closed partitions again after the eviction interval",
    );
    return 'unsettled';
  }

  /** Waits ms, or less when stopped. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wake?.(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}

/** Whether every partition within `inner` lies within `outer` too. */
function within(inner: ClosedRange, outer: ClosedRange): boolean {
  const from = (range: ClosedRange): number => range.from?.getTime() ?? Number.NEGATIVE_INFINITY;
  return inner.to.getTime() <= outer.to.getTime() && from(inner) >= from(outer);
}
