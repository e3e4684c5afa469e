/**
 * In which order a catch-up reads a stream's shards across reshards: in parallel, each after its parents,
 * and a child only once every parent the statement reads is read to its end. A parent whose read stopped
 * early (at the statement's start, or after kinesis.max_batches calls) still holds records of the same keys
 * older than any of its children's.
 */
import type { ShardDescription } from '../kinesis/records.js';
import type { LowerBound } from './loaded-range.js';
import { neededBound, type ScanRequest } from './scan-request.js';

/** What the order needs to know of a shard. */
export interface OrderedShard {
  description: ShardDescription;
  closedAndRead: boolean;
}

export interface ReshardRead<Shard extends OrderedShard> {
  /** The table's shards by id. */
  shards: Map<string, Shard>;
  /** Every listed shard, parents before their children. */
  ordered: ShardDescription[];
  /** The shards to read now. */
  chosen: Set<string>;
  /** The shards the statement's bounds select (a parent outside them holds nothing it needs). */
  selected: Set<string>;
  windowStart: Date | undefined;
  request: ScanRequest;
  /** Reads one shard from `needed` on. */
  readShard: (shard: Shard, needed: LowerBound) => Promise<void>;
}

/** Reads the chosen shards in reshard order; rejects with the first failure once every read has stopped. */
export async function readInReshardOrder<Shard extends OrderedShard>(read: ReshardRead<Shard>): Promise<void> {
  const { shards, ordered, chosen, windowStart, request } = read;
  const reads = new Map<string, Promise<void>>();
  for (const description of ordered) {
    if (!chosen.has(description.shardId)) continue;
    const shard = shards.get(description.shardId)!;
    const needed = neededBound(shard.description, windowStart, request);
    if (needed === 'nothing') continue;
    const parentIds = [description.parentShardId, description.adjacentParentShardId].filter((id): id is string => id !== undefined);
    const parents = parentIds.map((id) => reads.get(id)).filter((parentRead): parentRead is Promise<void> => parentRead !== undefined);
    const shardRead = Promise.all(parents).then(() => (parentsReadToEnd(read, parentIds) ? read.readShard(shard, needed) : undefined));
    shardRead.catch(() => undefined);
    reads.set(description.shardId, shardRead);
  }
  // Every shard's read must have stopped before the next catch-up of this table starts.
  const outcomes = await Promise.allSettled(reads.values());
  const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Has every parent this statement reads (known, selected by its bounds, not excluded by them) been read to its end? */
function parentsReadToEnd<Shard extends OrderedShard>(read: ReshardRead<Shard>, parentIds: string[]): boolean {
  return parentIds.every((id) => {
    const parent = read.shards.get(id);
    if (!parent || !read.selected.has(id) || parent.closedAndRead) return true;
    return neededBound(parent.description, read.windowStart, read.request) === 'nothing';
  });
}
