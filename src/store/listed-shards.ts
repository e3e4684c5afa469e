/**
 * A stream table's shards as the stream's latest listing shows them, each with what of it is loaded: new
 * shards get a reader and the position an earlier run stored for them, shards gone from the listing count as
 * read to their end. When the listing was made says whether the next catch-up lists again (reshards are
 * found this way).
 */
import type { KinesisClient } from '../kinesis/client.js';
import { listShards } from '../kinesis/shard-listing.js';
import { ShardReader, type ShardReaderOptions } from '../kinesis/shard-reader.js';
import type { ShardDescription } from '../kinesis/records.js';
import type { ShardState } from './shard-loader.js';
import type { StoredPosition } from './shard-positions.js';

export interface ShardListingOptions extends ShardReaderOptions {
  client: KinesisClient;
  /** How long a listing is trusted before the next catch-up lists again. */
  shardListTtlMs: number;
}

export class ListedShards {
  readonly byId = new Map<string, ShardState>();
  /** When the stream was last listed; 0 = list at the next catch-up. */
  private listedAt = 0;
  /** Positions stored in the engine by an earlier run, taken over when their shards are listed. */
  private restored = new Map<string, StoredPosition>();

  constructor(
    private readonly streamName: string,
    private readonly options: ShardListingOptions,
  ) {}

  get lastListed(): number {
    return this.listedAt;
  }

  /** Is the listing older than the table trusts one? */
  get stale(): boolean {
    return Date.now() - this.listedAt > this.options.shardListTtlMs;
  }

  /** Has the listing been made stale since it was made (a read closed a shard, the stream went away)? */
  get invalidated(): boolean {
    return this.listedAt === 0;
  }

  /** The next catch-up lists again: a closed parent's children may be new, or the stream went away. */
  invalidate(): void {
    this.listedAt = 0;
  }

  /** The stream was looked at now and has nothing to list (it was deleted). */
  lookedAtNow(): void {
    this.listedAt = Date.now();
  }

  descriptions(): ShardDescription[] {
    return [...this.byId.values()].map((shard) => shard.description);
  }

  /** Takes over the positions an earlier run stored in the engine, for the shards a listing will show. */
  restore(positions: Map<string, StoredPosition>): void {
    this.restored = positions;
  }

  /** Takes over the shards and listing of the table's previous version (same stream, rows already in the engine). */
  adopt(previous: ListedShards): void {
    for (const [shardId, state] of previous.byId) this.byId.set(shardId, state);
    this.listedAt = previous.listedAt;
  }

  /** The stream was replaced: its shards' rows and positions are gone from the engine, and forgotten here too. */
  forget(): void {
    this.byId.clear();
    this.restored = new Map();
  }

  /** Lists the stream's shards and brings the table's shards in line with the listing; true when it found new ones. */
  async refresh(): Promise<boolean> {
    const listed = await listShards(this.options.client, this.streamName, this.options.retry);
    // A closed shard past the retention period leaves the listing and can no longer be read; what was
    // loaded of it stays until the window evicts it.
    const present = new Set(listed.map((description) => description.shardId));
    for (const shard of this.byId.values()) {
      if (present.has(shard.description.shardId)) continue;
      shard.expired = true;
      shard.closedAndRead = true;
    }
    let added = false;
    for (const description of listed) {
      const known = this.byId.get(description.shardId);
      if (known) {
        known.description = description;
        continue;
      }
      this.byId.set(description.shardId, this.newShard(description));
      added = true;
    }
    this.listedAt = Date.now();
    return added;
  }

  private newShard(description: ShardDescription): ShardState {
    const { client, retry, budget, batchSize, maxBatches, logBatches, logger, subscriptions } = this.options;
    const stored = this.restored.get(description.shardId);
    return {
      description,
      reader: new ShardReader(client, this.streamName, description.shardId, {
        batchSize,
        maxBatches,
        retry,
        budget,
        logBatches,
        logger,
        ...(subscriptions ? { subscriptions } : {}),
      }),
      range: stored?.range,
      closedAndRead: stored?.closedAndRead ?? false,
      readToTipFor: undefined,
      rows: stored?.rows ?? 0,
      invalidRows: stored?.invalidRows ?? 0,
      messageBytes: stored?.messageBytes ?? 0,
      segmentCount: stored?.segmentCount ?? 0,
      preparedSegments: stored?.segmentCount ?? 0,
      loads: Promise.resolve(),
      expired: false,
    };
  }
}
