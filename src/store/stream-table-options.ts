/** What a stream table runs with: the clients it reads and loads with, and the settings that shape its reads and what it keeps. */
import type { Logger } from 'pino';
import type { TableDefinition } from '../catalog/definition.js';
import type { ClosedPartitionStorage } from '../config/config.js';
import type { Engine } from '../engine/engine.js';
import type { KinesisClient } from '../kinesis/client.js';
import type { ShardRateBudget } from '../kinesis/rate-budget.js';
import type { RetryPolicy } from '../kinesis/retry.js';
import type { ShardSubscriptions } from '../kinesis/shard-reader.js';
import type { SchemaRegistries } from '../registry/schema-registries.js';
import type { LoadBudget } from './load-budget.js';
import type { TipReads } from './shard-tip-reads.js';

export interface StreamTableOptions {
  /** Aborted when kinesql shuts down: reads end at their next batch. */
  shutdown?: AbortSignal;
  client: KinesisClient;
  engine: Engine;
  logger: Logger;
  retry: RetryPolicy;
  budget: ShardRateBudget;
  batchSize: number;
  maxBatches: number;
  logBatches: boolean;
  maxMessageBytes: number;
  /** kinesis.iter-from-timestamp: the table shows the last iterOffsetSeconds; false = everything from TRIM_HORIZON. */
  iterFromTimestamp: boolean;
  /** kinesis.iter-offset-seconds: seconds of history the table shows when iterFromTimestamp. */
  iterOffsetSeconds: number;
  /** How long a shard listing is trusted before the next catch-up lists again (reshards are found this way). */
  shardListTtlMs: number;
  /** Rows older than the window are dropped at most this often (ms). */
  evictionIntervalMs: number;
  /** What partitions that can receive no more records become (columnar-partitions.ts); heap when absent. */
  closedPartitionStorage?: ClosedPartitionStorage;
  /** Whether engine tables are partitioned by _message_timestamp (see time-partitions.ts). */
  partitionByTime: boolean;
  /** Width of new partitions (seconds); derived from the window when absent. */
  partitionSeconds?: number;
  /** Caps on what one table holds; 0 = none. */
  maxRows: number;
  maxBytes: number;
  /** What batches on their way into the engine may hold, shared by every table (kinesql.load-buffer-bytes). */
  loadBudget: LoadBudget;
  /** Where avro and protobuf writer schemas are looked up. */
  schemaRegistries?: SchemaRegistries;
  /** kinesis.consumer-mode = efo: shards' new records come by subscription. */
  subscriptions?: ShardSubscriptions;
  /** Servers sharing the engine: reads to the tip are recorded there for the others (shard-tip-reads.ts). */
  tipReads?: TipReads;
  /** The same servers' shard leases: with enhanced fan-out, only a shard's lease holder subscribes to it. */
  leases?: TableLeases;
  /** Stream tables are distributed over a Citus cluster (kinesql.engine-distribution): expired partitions are dropped, not detached. */
  distributed?: boolean;
}

/** What a table asks of the shard leases of the servers on one engine (shard-leases.ts). */
export interface TableLeases {
  /** Whether this server follows the shard now (with enhanced fan-out: subscribes to it). */
  holds(table: { readonly definition: TableDefinition }, shardId: string): boolean;
  /** Runs a round now, so that shards just listed have their leases before they are read. */
  renewNow(): Promise<void>;
}
