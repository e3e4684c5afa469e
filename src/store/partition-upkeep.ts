/**
 * What a stream table's catch-ups do at the eviction pace (kinesql.eviction-interval) besides reading: evict
 * the rows older than the window (eviction.ts), detach or drop the partitions that gives up (partition-detach.ts;
 * on Citus distributed-partition-drop.ts). The catch-up waits for the eviction only: the detach runs in the
 * background, and what failed is tried again at the next eviction. After every catch-up, not at the eviction
 * pace, the partitions that can receive no more records are offered for conversion to columnar when that is
 * asked for (columnar-conversions.ts).
 */
import type { Logger } from 'pino';
import type { TableDefinition } from '../catalog/definition.js';
import type { ClosedPartitionStorage } from '../config/config.js';
import type { Engine, EngineTransaction } from '../engine/engine.js';
import { qualifiedName } from '../pg/quoting.js';
import { ColumnarConversions } from './columnar-conversions.js';
import { closedRange } from './columnar-partitions.js';
import { dropExpiredDistributedPartitions } from './distributed-partition-drop.js';
import { evictBefore } from './eviction.js';
import { detachExpiredPartitions } from './partition-detach.js';
import type { ShardState } from './shard-loader.js';
import type { TimePartitions } from './time-partitions.js';

export interface PartitionUpkeepOptions {
  engine: Engine;
  logger: Logger;
  /** Rows older than the window are dropped at most this often (ms). */
  evictionIntervalMs: number;
  /** What partitions that can receive no more records become (columnar-partitions.ts); heap when absent. */
  closedPartitionStorage?: ClosedPartitionStorage;
  /** Stream tables are distributed over a Citus cluster: expired partitions are dropped, not detached. */
  distributed?: boolean;
  /** kinesql is closing: conversions stop. */
  shutdown?: AbortSignal;
}

/** What the upkeep needs of its table. */
export interface UpkeptTable {
  readonly shards: ReadonlyMap<string, ShardState>;
  /** Where the table's configured window starts now; undefined = TRIM_HORIZON. */
  windowStart(): Date | undefined;
  /** Saves a shard's position in the transaction (evicted rows move it). */
  save(tx: EngineTransaction, shard: ShardState): Promise<void>;
}

export class PartitionUpkeep {
  private evictedAt = Date.now();
  /** Partitions given up by eviction may wait to be detached or dropped (at start: left so by an earlier run). */
  private detachOwed = true;
  private detaching: Promise<void> | undefined;
  /** Converts the partitions that can receive no more records to columnar, when that is asked for. */
  private readonly conversions: ColumnarConversions | undefined;
  private readonly tableName: string;

  constructor(
    private readonly definition: TableDefinition,
    private readonly table: UpkeptTable,
    private readonly partitions: TimePartitions | undefined,
    private readonly options: PartitionUpkeepOptions,
  ) {
    this.tableName = qualifiedName(definition);
    if (partitions && options.closedPartitionStorage === 'columnar') {
      const conversions = new ColumnarConversions({
        engine: options.engine,
        parent: definition,
        logger: options.logger,
        distributed: options.distributed ?? false,
        pauseAfterFailureMs: options.evictionIntervalMs,
      });
      options.shutdown?.addEventListener('abort', () => void conversions.stop());
      this.conversions = conversions;
    }
  }

  /** What was just loaded may close partitions (columnar-partitions.ts): their conversion starts now, in the background. */
  offerClosedPartitions(): void {
    this.conversions?.offer(closedRange(this.table.shards.values()));
  }

  /** Stops converting partitions to columnar and waits for a conversion under way to end. */
  stopConversions(): Promise<void> {
    return this.conversions?.stop() ?? Promise.resolve();
  }

  /** Converts again after stopConversions (a definition change that failed: this table goes on serving). */
  resumeConversions(): void {
    this.conversions?.resume();
  }

  /**
   * Drops the partitions older than the table's window (looked at every evictionIntervalMs at most) so disk
   * stays bounded, and moves each shard's loaded range up to what is still held.
   */
  async evictOldRows(): Promise<void> {
    if (Date.now() - this.evictedAt < this.options.evictionIntervalMs) return;
    this.evictedAt = Date.now();
    const windowStart = this.table.windowStart();
    if (windowStart === undefined) return;
    const held = await evictBefore(this.options.engine, this.definition, windowStart, this.table.shards, this.table.save, this.partitions);
    if (held) this.options.logger.info({ table: this.tableName, before: held.toISOString() }, 'evicted the rows older than the window');
    if (this.partitions && (held || this.detachOwed)) this.detachInBackground(held);
  }

  /**
   * Detaches and drops the partitions eviction gave up, without the catch-up waiting for it (partition-detach.ts;
   * on Citus distributed-partition-drop.ts).
   */
  private detachInBackground(before: Date | undefined): void {
    if (this.detaching) return;
    this.detachOwed = false;
    const removeExpired = this.options.distributed ? dropExpiredDistributedPartitions : detachExpiredPartitions;
    this.detaching = removeExpired(this.options.engine, this.definition, before)
      .then((outcome) => {
        if (outcome.unfinished) this.detachOwed = true;
        if (outcome.dropped.length > 0)
          this.options.logger.info({ table: this.tableName, partitions: outcome.dropped }, 'dropped the partitions older than the window');
        if (outcome.pending)
          this.options.logger.info(
            { table: this.tableName, partition: outcome.pending },
            'a partition waits to be detached until the transactions that held the table before end',
          );
      })
      .catch((error: unknown) => {
        this.detachOwed = true;
        this.options.logger.warn(
          { err: error, table: this.tableName },
          'could not detach the partitions older than the window; trying again at the next eviction',
        );
      })
      .finally(() => {
        this.detaching = undefined;
      });
  }
}
