/**
 * Whether what a stream table holds already answers a statement that accepts answers up to a bound old
 * (kinesql.max_staleness; 0 for a strict statement): every shard it needs holds the range it needs and was
 * read to its tip for a statement that started at most that long before it. Judged from the shards' state
 * alone: nothing here reads or waits.
 */
import { covers, type LowerBound } from './loaded-range.js';
import { neededBound, shardsForBounds, type ScanRequest } from './scan-request.js';
import type { ShardState } from './shard-loader.js';

/** What freshness is judged by, of one shard. */
export type ShardFreshness = Pick<ShardState, 'description' | 'range' | 'closedAndRead' | 'readToTipFor'>;

/** The shards a statement needs that do not hold its range, or were not read to their tips recently enough for it. */
export function unreadShards(
  shards: ReadonlyMap<string, ShardFreshness>,
  request: ScanRequest,
  maxStalenessMs: number,
  windowStart: Date | undefined,
): string[] {
  const oldest = request.stopAt.getTime() - maxStalenessMs;
  const all = [...shards.values()].map((shard) => shard.description);
  return [...shardsForBounds(all, request.bounds)].filter((shardId) => {
    const shard = shards.get(shardId)!;
    const needed = neededBound(shard.description, windowStart, request);
    if (needed === 'nothing') return false;
    if (!shard.range || !covers(shard.range, needed)) return true;
    if (shard.closedAndRead) return false;
    return shard.readToTipFor === undefined || shard.readToTipFor.getTime() < oldest;
  });
}

/**
 * Whether the shard listing (made at listedAt; 0 = never) is recent enough for such an answer. A listing as old
 * as the answer may be will do: a shard closed since then would have been read to its end (and the table listed
 * again) before any read of it to a later tip. Kinesis unreachable, the listing grows old with the reads, and
 * answers within the bound go on.
 */
export function listingServes(listedAt: number, listingTtlMs: number, request: ScanRequest, maxStalenessMs: number, now = Date.now()): boolean {
  const oldest = request.stopAt.getTime() - maxStalenessMs;
  return listedAt !== 0 && (now - listedAt <= listingTtlMs || listedAt >= oldest);
}

/** Whether a read of the shard's tip begun after the statement started (another statement's, the follower's) already serves it. */
export function readServes(shard: ShardFreshness, needed: LowerBound, request: ScanRequest): boolean {
  return shard.readToTipFor !== undefined && shard.readToTipFor >= request.stopAt && shard.range !== undefined && covers(shard.range, needed);
}
