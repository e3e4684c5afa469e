/**
 * Closed time partitions in columnar storage (kinesql.closed-partition-storage = columnar): a partition that
 * can receive no more records is rewritten as a `citus_columnar` table, which holds stream rows in a fraction
 * of heap's space and scans them faster. This module says whether the engine can, and which partitions are
 * closed; columnar-conversions.ts converts them, columnar-copy.ts without making readers wait (on one engine,
 * or on a Citus cluster's workers when stream tables are distributed).
 *
 * Columnar tables take inserts but no UPDATE or DELETE: a record arriving late still loads into one.
 */
import type { Logger } from 'pino';
import type { ClosedPartitionStorage } from '../config/config.js';
import type { Engine } from '../engine/engine.js';
import type { LoadedRange } from './loaded-range.js';
import type { ShardState } from './shard-loader.js';

/**
 * Kinesis' ApproximateArrivalTimestamp is not strictly increasing along a shard: a record may carry an
 * arrival a little before one loaded ahead of it. A partition is only closed this long after the shards'
 * positions. Should a record still arrive later than that, it loads into the columnar partition all the same.
 */
export const ARRIVAL_SKEW_MS = 5_000;

/**
 * What closed partitions are stored as: columnar when asked for and the engine database has the
 * `citus_columnar` extension (or kinesql may create it: that takes a superuser; on a Citus coordinator the
 * `citus` extension brought it, on the workers too); else heap, said once at start.
 */
export async function resolveClosedPartitionStorage(engine: Engine, configured: ClosedPartitionStorage, logger: Logger): Promise<ClosedPartitionStorage> {
  if (configured === 'heap') return 'heap';
  try {
    const { rows } = await engine.query(`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'citus_columnar'`);
    if (Number(rows[0]?.['n']) === 0) await engine.query('CREATE EXTENSION citus_columnar');
    return 'columnar';
  } catch (error) {
    logger.warn(
      { err: error },
      'kinesql.closed-partition-storage = columnar, but the engine has no citus_columnar extension (or may not create it): closed partitions stay heap',
    );
    return 'heap';
  }
}

/**
 * The time before which a table's partitions can receive no more records, or undefined when none is known.
 * A shard still read adds records after the last one loaded (from its arrival on, less the skew); a read of
 * older records (a session asking for more history) adds them before the loaded range's lower end. So a
 * partition is closed when it ends before every open shard's last loaded arrival and starts after every
 * shard's lower end (each with the skew). A shard with no position yet may load anything: nothing is closed.
 */
export function closedRange(shards: Iterable<ShardState>): ClosedRange | undefined {
  let from = Number.NEGATIVE_INFINITY;
  let to = Number.POSITIVE_INFINITY;
  let any = false;
  for (const shard of shards) {
    if (shard.expired) continue;
    any = true;
    const range = shard.range;
    if (!range) return undefined;
    const floor = olderRecordsBefore(range);
    if (floor === undefined) return undefined;
    from = Math.max(from, floor + ARRIVAL_SKEW_MS);
    if (shard.closedAndRead) continue;
    if (range.lastArrival === undefined) return undefined;
    to = Math.min(to, range.lastArrival.getTime() - ARRIVAL_SKEW_MS);
  }
  if (!any || to === Number.POSITIVE_INFINITY || from >= to) return undefined;
  return from === Number.NEGATIVE_INFINITY ? { to: new Date(to) } : { from: new Date(from), to: new Date(to) };
}

/** Partitions from `from` (from the oldest when absent) up to `to` receive no more records. */
export interface ClosedRange {
  from?: Date;
  to: Date;
}

/** Records a read of older ones could still load arrived before this (ms); -Infinity when there are none. */
function olderRecordsBefore(range: LoadedRange): number | undefined {
  if (range.lower.kind === 'horizon') return Number.NEGATIVE_INFINITY;
  if (range.lower.kind === 'time') return range.lower.at.getTime();
  return range.firstArrival?.getTime();
}
