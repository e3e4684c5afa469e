/**
 * Closed time partitions in columnar storage (kinesql.closed-partition-storage = columnar): a partition that
 * can receive no more records is rewritten as a `citus_columnar` table, which holds stream rows in a fraction
 * of heap's space and scans them faster.
 *
 * Never in place (`ALTER TABLE … SET ACCESS METHOD` holds the partition's ACCESS EXCLUSIVE while it rewrites
 * every row, and readers of the table wait that long): the rows are copied into a columnar table beside it
 * while readers and loads go on, then the two are swapped in one short transaction that asks for the table's
 * locks without queueing (ddl-locks.ts) and gives up when they stay held, to be tried at the next eviction. A
 * record loaded into the partition meanwhile makes the copy's count differ: the swap is given up the same way.
 *
 * Columnar tables take inserts but no UPDATE or DELETE: a record arriving late still loads into one.
 */
import type { Logger } from 'pino';
import type { ClosedPartitionStorage } from '../config/config.js';
import type { Engine, EngineTransaction } from '../engine/engine.js';
import { qualifiedName, quoteIdent, quoteLiteral, type TableName } from '../pg/quoting.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import { lockTablesWithoutQueueing } from './ddl-locks.js';
import type { LoadedRange } from './loaded-range.js';
import type { ShardState } from './shard-loader.js';
import { listPartitions, lockPartitions, type TimePartition } from './time-partitions.js';

/**
 * Kinesis' ApproximateArrivalTimestamp is not strictly increasing along a shard: a record may carry an
 * arrival a little before one loaded ahead of it. A partition is only closed this long after the shards'
 * positions. Should a record still arrive later than that, it loads into the columnar partition all the same.
 */
export const ARRIVAL_SKEW_MS = 5_000;

/**
 * What closed partitions are stored as: columnar when asked for and the engine database has the
 * `citus_columnar` extension (or kinesql may create it: that takes a superuser); else heap, said once at start.
 */
export async function resolveClosedPartitionStorage(
  engine: Engine,
  configured: ClosedPartitionStorage,
  distributed: boolean,
  logger: Logger,
): Promise<ClosedPartitionStorage> {
  if (configured === 'heap') return 'heap';
  if (distributed) {
    logger.warn('kinesql.closed-partition-storage = columnar is not done for distributed stream tables yet: closed partitions stay heap');
    return 'heap';
  }
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

/** What one conversion attempt did: converted a partition, found none to convert, or put one off (and why). */
export type Conversion = { converted: string } | { postponed: string; reason: string } | undefined;

/**
 * Converts the oldest heap partition of parent that lies within `closed` to columnar. The swap needs the table
 * to itself for a moment, asked for without queueing: while statements keep it held the partition is put off
 * until the next eviction.
 */
export async function convertClosedPartition(engine: Engine, parent: TableName, closed: ClosedRange): Promise<Conversion> {
  const candidate = await oldestHeapPartitionWithin(engine, parent, closed);
  if (!candidate) return undefined;
  try {
    return { converted: await engine.transaction(async (tx) => swapInColumnarCopy(tx, parent, candidate)) };
  } catch (error) {
    if ((error as { code?: string }).code === SQLSTATE.lockNotAvailable) return { postponed: qualifiedName(candidate.table), reason: (error as Error).message };
    throw error;
  }
}

async function oldestHeapPartitionWithin(engine: Engine, parent: TableName, closed: ClosedRange): Promise<TimePartition | undefined> {
  if ((await listPartitions(engine, parent, true)).length > 0) return undefined;
  for (const partition of await listPartitions(engine, parent)) {
    if ((closed.from && partition.from < closed.from) || partition.to > closed.to) continue;
    if (!(await isColumnar(engine, partition.table))) return partition;
  }
  return undefined;
}

async function isColumnar(engine: Pick<EngineTransaction, 'query'>, table: TableName): Promise<boolean> {
  const { rows } = await engine.query(
    `SELECT a.amname = 'columnar' AS columnar FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = to_regclass($1)`,
    [qualifiedName(table)],
  );
  return rows[0]?.['columnar'] === true;
}

async function swapInColumnarCopy(tx: EngineTransaction, parent: TableName, partition: TimePartition): Promise<string> {
  const parentName = qualifiedName(parent);
  const oldName = qualifiedName(partition.table);
  const copy: TableName = { schemaName: partition.table.schemaName, tableName: `${partition.table.tableName.slice(0, 50)}_columnar` };
  const copyName = qualifiedName(copy);
  const bounds = `FROM (${quoteLiteral(partition.from.toISOString())}) TO (${quoteLiteral(partition.to.toISOString())})`;
  await tx.query(`CREATE TABLE ${copyName} (LIKE ${parentName} INCLUDING DEFAULTS) USING columnar`);
  const copied = await tx.query(`INSERT INTO ${copyName} SELECT * FROM ${oldName}`);
  // The attach then needs no scan of the copy to check its rows belong in the range.
  await tx.query(
    `ALTER TABLE ${copyName} ADD CONSTRAINT kinesql_partition_bounds CHECK (_message_timestamp IS NOT NULL AND _message_timestamp >= ${quoteLiteral(partition.from.toISOString())}::timestamptz AND _message_timestamp < ${quoteLiteral(partition.to.toISOString())}::timestamptz)`,
  );
  await lockPartitions(tx, parent);
  await lockTablesWithoutQueueing(tx, [parent]);
  const still = (await listPartitions(tx, parent)).some((attached) => qualifiedName(attached.table) === oldName);
  if (!still || (await isColumnar(tx, partition.table))) throw lockNotAvailable(`${oldName} changed while it was copied`);
  const { rows } = await tx.query(`SELECT count(*)::bigint AS rows FROM ${oldName}`);
  if (Number(rows[0]?.['rows']) !== copied.affectedRows) throw lockNotAvailable(`records were loaded into ${oldName} while it was copied`);
  await tx.query(`ALTER TABLE ${parentName} DETACH PARTITION ${oldName}`);
  await tx.query(`DROP TABLE ${oldName}`);
  await tx.query(`ALTER TABLE ${copyName} RENAME TO ${quoteIdent(partition.table.tableName)}`);
  await tx.query(`ALTER TABLE ${parentName} ATTACH PARTITION ${oldName} FOR VALUES ${bounds}`);
  await tx.query(`ALTER TABLE ${oldName} DROP CONSTRAINT kinesql_partition_bounds`);
  return oldName;
}

/** Gives the swap up until the next eviction (the caller treats 55P03 as "try later"). */
function lockNotAvailable(message: string): Error {
  return Object.assign(new Error(message), { code: SQLSTATE.lockNotAvailable });
}
