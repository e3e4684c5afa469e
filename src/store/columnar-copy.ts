/**
 * Rewriting one closed time partition as a `citus_columnar` table without making readers wait (never in
 * place: `ALTER TABLE … SET ACCESS METHOD` holds the partition's ACCESS EXCLUSIVE while it rewrites every row).
 *
 * The rows are copied into a columnar table beside the partition, with the parent's indexes and a CHECK of the
 * partition's bounds, in transactions that hold only the partition (ACCESS SHARE) and the copy: readers,
 * loads and new partitions go on. The swap is then a short transaction of its own, tried as often as needed
 * (columnar-conversions.ts): it takes the partition's SHARE lock (loads into it wait, readers do not) and counts
 * both tables, so a record that landed in the partition since the copy is never lost; only then does it ask
 * for ACCESS EXCLUSIVE on the parent, the partition and the copy, and holds it for catalog changes alone:
 * detach, drop, rename, attach (no scan: the CHECK proves the bounds; no index build: the copy has them).
 * Every lock is asked for without queueing (ddl-locks.ts), so readers never wait behind a request.
 *
 * A transaction-level advisory lock per partition keeps two kinesql servers on one engine from building or
 * swapping the same copy at once. A copy left by a run that stopped half-way is dropped before the next build
 * of its partition, or (its partition evicted meanwhile) by dropOrphanedCopies.
 *
 * On Citus (distributed stream tables) the copy is distributed as the partition is, each shard beside the
 * partition's matching shard, so rows are copied on each worker and the copy can be attached. The coordinator
 * routes a load's COPY into the parent straight to the workers' shards without locking the partition on the
 * coordinator, so there the swap counts under the parent's SHARE lock instead: loads into every partition of
 * the table wait for the count, readers still do not. The catalog changes run on every worker in the swap's
 * (two-phase) transaction, and the coordinator's locks are held until the workers committed.
 */
import { distributeColocated } from '../engine/citus.js';
import type { Engine, EngineTransaction } from '../engine/engine.js';
import { qualifiedName, quoteIdent, quoteLiteral, type TableName } from '../pg/quoting.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import type { ClosedRange } from './columnar-partitions.js';
import { DDL_LOCK_TIMEOUT_MS, lockWithoutQueueing, refuseWhileHeldByIdleTransaction } from './ddl-locks.js';
import { listPartitions, lockPartitions, PARTITION_SCHEMA, partitionNamePrefix, type TimePartition } from './time-partitions.js';

const COPY_SUFFIX = '_columnar';
const BOUNDS_CONSTRAINT = 'kinesql_partition_bounds';
/** PostgreSQL's longest identifier. */
const MAX_IDENTIFIER = 63;

/** What one swap attempt did, and why when it did not swap. */
export type SwapOutcome =
  | { swapped: true; rows: number; exclusiveSince: number }
  /** Statements (or another server) held what the swap needs throughout the lock budget: try again soon. */
  | { swapped: false; busy: string }
  /** Records were loaded into the partition since the copy: copy again. */
  | { swapped: false; stale: string }
  /** The table has an index the copy lacks (built since the copy): indexCopy, then try again. */
  | { swapped: false; unindexed: string }
  /** The partition is no longer a heap partition of the table (evicted, converted elsewhere), or the copy is gone. */
  | { swapped: false; gone: string };

/** The columnar copy of `partition` is built under this name, beside it. */
export function copyOf(partition: TableName): TableName {
  return { schemaName: partition.schemaName, tableName: `${partition.tableName.slice(0, MAX_IDENTIFIER - COPY_SUFFIX.length)}${COPY_SUFFIX}` };
}

/**
 * The heap partitions of parent that lie within `closed`, oldest first. None while a partition's detach is
 * pending: PostgreSQL allows no other detach of the table meanwhile.
 */
export async function heapPartitionsWithin(engine: Engine, parent: TableName, closed: ClosedRange): Promise<TimePartition[]> {
  if ((await listPartitions(engine, parent, true)).length > 0) return [];
  const { rows } = await engine.query(
    `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam
      WHERE i.inhparent = to_regclass($1) AND a.amname = 'columnar'`,
    [qualifiedName(parent)],
  );
  const columnar = new Set(rows.map((row) => qualifiedName({ schemaName: String(row['schema']), tableName: String(row['name']) })));
  return (await listPartitions(engine, parent)).filter(
    (partition) => !(closed.from && partition.from < closed.from) && partition.to <= closed.to && !columnar.has(qualifiedName(partition.table)),
  );
}

/**
 * Builds the columnar copy of `partition` (dropping any an earlier run left), distributed alongside it when
 * the table is distributed. False when another kinesql server is busy with the same partition.
 */
export async function buildColumnarCopy(engine: Engine, parent: TableName, partition: TimePartition, distributed: boolean): Promise<boolean> {
  const copy = copyOf(partition.table);
  const copyName = qualifiedName(copy);
  const created = await engine.transaction(async (tx) => {
    if (!(await claim(tx, partition))) return false;
    await tx.query(`DROP TABLE IF EXISTS ${copyName}`);
    await tx.query(`CREATE TABLE ${copyName} (LIKE ${qualifiedName(parent)} INCLUDING DEFAULTS) USING columnar`);
    if (distributed) await distributeColocated(tx, copy, partition.table);
    return true;
  });
  if (!created) return false;
  // A transaction of its own, which holds nothing of the parent: definition changes and detaches are not kept waiting by the copy.
  return engine.transaction(async (tx) => {
    if (!(await claim(tx, partition))) return false;
    const columns = await columnList(tx, parent);
    await tx.query(`INSERT INTO ${copyName} (${columns}) SELECT ${columns} FROM ${qualifiedName(partition.table)}`);
    for (const statement of await missingIndexes(tx, parent, copyName)) await tx.query(statement);
    const from = `${quoteLiteral(partition.from.toISOString())}::timestamptz`;
    const to = `${quoteLiteral(partition.to.toISOString())}::timestamptz`;
    await tx.query(
      `ALTER TABLE ${copyName} ADD CONSTRAINT ${BOUNDS_CONSTRAINT} CHECK (_message_timestamp IS NOT NULL AND _message_timestamp >= ${from} AND _message_timestamp < ${to})`,
    );
    return true;
  });
}

/** Gives the copy of `partition` the indexes the table has and it lacks. False when another kinesql server is busy with the partition. */
export async function indexCopy(engine: Engine, parent: TableName, partition: TimePartition): Promise<boolean> {
  return engine.transaction(async (tx) => {
    if (!(await claim(tx, partition))) return false;
    for (const statement of await missingIndexes(tx, parent, qualifiedName(copyOf(partition.table)))) await tx.query(statement);
    return true;
  });
}

/** One attempt to put the copy in the partition's place; see the module comment for its locks. */
export async function swapInColumnarCopy(engine: Engine, parent: TableName, partition: TimePartition, distributed: boolean): Promise<SwapOutcome> {
  const parentName = qualifiedName(parent);
  const oldName = qualifiedName(partition.table);
  const copyName = qualifiedName(copyOf(partition.table));
  return engine.transaction(async (tx): Promise<SwapOutcome> => {
    if (!(await claim(tx, partition))) return { swapped: false, busy: 'another kinesql server is converting it' };
    await lockPartitions(tx, parent);
    const attached = (await listPartitions(tx, parent)).some((candidate) => qualifiedName(candidate.table) === oldName);
    const { rows } = await tx.query(
      `SELECT to_regclass($1) IS NOT NULL AS copied, coalesce((SELECT a.amname = 'columnar' FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = to_regclass($2)), false) AS columnar`,
      [copyName, oldName],
    );
    if (!attached || rows[0]?.['columnar'] === true) return { swapped: false, gone: `${oldName} is no longer a heap partition of ${parentName}` };
    if (rows[0]?.['copied'] !== true) return { swapped: false, gone: `its copy ${copyName} is gone` };
    // Attaching a copy without one of the table's indexes would build it while every reader waits.
    const missing = await missingIndexes(tx, parent, copyName);
    if (missing.length > 0) return { swapped: false, unindexed: `${parentName} was indexed after ${oldName} was copied: ${missing.join('; ')}` };
    const deadline = Date.now() + DDL_LOCK_TIMEOUT_MS;
    try {
      await refuseWhileHeldByIdleTransaction(tx, [parent, partition.table]);
      // Loads into the partition (on Citus: into the table) wait from here on; readers do not.
      await lockWithoutQueueing(tx, [distributed ? parentName : oldName], 'SHARE', deadline);
    } catch (error) {
      return busyOrThrow(error);
    }
    const counted = await tx.query(`SELECT (SELECT count(*) FROM ${oldName})::bigint AS old, (SELECT count(*) FROM ${copyName})::bigint AS copy`);
    const old = Number(counted.rows[0]?.['old']);
    if (old !== Number(counted.rows[0]?.['copy'])) return { swapped: false, stale: `records were loaded into ${oldName} while it was copied` };
    try {
      await lockWithoutQueueing(tx, [parentName, oldName, copyName], 'ACCESS EXCLUSIVE', deadline);
    } catch (error) {
      return busyOrThrow(error);
    }
    const exclusiveSince = performance.now();
    await tx.query(`ALTER TABLE ${parentName} DETACH PARTITION ${oldName}`);
    await tx.query(`DROP TABLE ${oldName}`);
    await tx.query(`ALTER TABLE ${copyName} RENAME TO ${quoteIdent(partition.table.tableName)}`);
    await tx.query(
      `ALTER TABLE ${parentName} ATTACH PARTITION ${oldName} FOR VALUES FROM (${quoteLiteral(partition.from.toISOString())}) TO (${quoteLiteral(partition.to.toISOString())})`,
    );
    await tx.query(`ALTER TABLE ${oldName} DROP CONSTRAINT ${BOUNDS_CONSTRAINT}`);
    return { swapped: true, rows: old, exclusiveSince };
  });
}

/** Drops the copy of `partition`, when there is one and no other server is busy with it. */
export async function dropColumnarCopy(engine: Engine, partition: TimePartition): Promise<void> {
  await engine.transaction(async (tx) => {
    if (await claim(tx, partition)) await tx.query(`DROP TABLE IF EXISTS ${qualifiedName(copyOf(partition.table))}`);
  });
}

/** Drops the copies left by a run that stopped half-way whose partitions are no longer the table's. */
export async function dropOrphanedCopies(engine: Engine, parent: TableName): Promise<void> {
  const { rows } = await engine.query(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r' AND left(c.relname, length($2)) = $2 AND right(c.relname, length($3)) = $3
        AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)`,
    [PARTITION_SCHEMA, partitionNamePrefix(parent), COPY_SUFFIX],
  );
  if (rows.length === 0) return;
  const partitions = await listPartitions(engine, parent);
  for (const row of rows) {
    const name = String(row['name']);
    if (partitions.some((partition) => copyOf(partition.table).tableName === name)) continue;
    await engine.transaction(async (tx) => {
      const mine = await tx.query('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS mine', [`kinesql.columnar ${PARTITION_SCHEMA}.${name}`]);
      if (mine.rows[0]?.['mine'] === true) await tx.query(`DROP TABLE IF EXISTS ${qualifiedName({ schemaName: PARTITION_SCHEMA, tableName: name })}`);
    });
  }
}

/** Takes the advisory lock under which one kinesql server at a time builds, swaps or drops the copy of a partition. */
async function claim(tx: EngineTransaction, partition: TimePartition): Promise<boolean> {
  const copy = copyOf(partition.table);
  const { rows } = await tx.query('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS mine', [`kinesql.columnar ${copy.schemaName}.${copy.tableName}`]);
  return rows[0]?.['mine'] === true;
}

/** The parent's columns, in order, quoted. */
async function columnList(tx: EngineTransaction, parent: TableName): Promise<string> {
  const { rows } = await tx.query(
    `SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS columns FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
    [qualifiedName(parent)],
  );
  return String(rows[0]?.['columns']);
}

/**
 * CREATE INDEX statements giving `copyName` the parent's indexes it lacks (same method, uniqueness and keys),
 * so attaching it finds them all and builds none.
 */
async function missingIndexes(tx: EngineTransaction, parent: TableName, copyName: string): Promise<string[]> {
  const { rows } = await tx.query(
    `WITH indexes AS (
       SELECT i.indrelid AS owner, a.amname AS method, i.indisunique AS is_unique,
              (SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true), ', ' ORDER BY k) FROM generate_series(1, i.indnkeyatts) k) AS keys
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
        WHERE i.indrelid IN (to_regclass($1), to_regclass($2)))
     SELECT method, is_unique, keys FROM indexes WHERE owner = to_regclass($1)
     EXCEPT
     SELECT method, is_unique, keys FROM indexes WHERE owner = to_regclass($2)`,
    [qualifiedName(parent), copyName],
  );
  return rows.map(
    (row) => `CREATE ${row['is_unique'] === true ? 'UNIQUE ' : ''}INDEX ON ${copyName} USING ${quoteIdent(String(row['method']))} (${String(row['keys'])})`,
  );
}

function busyOrThrow(error: unknown): SwapOutcome {
  if ((error as { code?: string }).code === SQLSTATE.lockNotAvailable) return { swapped: false, busy: (error as Error).message };
  throw error;
}
