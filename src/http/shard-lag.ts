import type { ShardStatus } from '../store/stream-table.js';

/**
 * Milliseconds since an open shard was last read to its tip; undefined for a shard closed and read to its
 * end (it cannot lag) or one not read to its tip yet.
 */
export function shardLagMs(shard: ShardStatus, now: number): number | undefined {
  if (shard.state === 'closed, read to its end' || shard.reader.lastTipAt === undefined) return undefined;
  return Math.max(0, now - shard.reader.lastTipAt);
}

/**
 * The largest lag of a table's open shards: how old its freshest complete answer is. Undefined while a
 * shard has not been read to its tip, or when every shard is closed and read.
 */
export function tableLagMs(shards: readonly ShardStatus[], now: number): number | undefined {
  const open = shards.filter((shard) => shard.state !== 'closed, read to its end');
  if (open.length === 0 || open.some((shard) => shard.reader.lastTipAt === undefined)) return undefined;
  return Math.max(...open.map((shard) => shardLagMs(shard, now)!));
}
