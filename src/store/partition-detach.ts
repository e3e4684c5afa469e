/**
 * Removes a stream table's expired partitions without ever making a reader wait. `DETACH PARTITION …
 * CONCURRENTLY` takes only locks readers and loads do not conflict with, then waits (holding none) for the
 * transactions that held the table before it; new statements no longer see the partition from its first step
 * on. A wait that lasts longer than DETACH_WAIT_MS (a session idle in a transaction that read the table)
 * leaves the partition "detach pending": each later run tries `DETACH … FINALIZE` for a moment, and PostgreSQL
 * allows no other concurrent detach of the table meanwhile. A detached partition is a table nobody reads; it
 * is dropped when its lock is free at once, else on a later run.
 *
 * `DROP TABLE` of a partition, as eviction once did, needs ACCESS EXCLUSIVE on the parent: its request, even
 * one that gives up after a short lock_timeout, queues every later reader of the table behind it.
 */
import type { Engine, EngineTransaction } from '../engine/engine.js';
import { qualifiedName, type TableName } from '../pg/quoting.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import { listPartitions, PARTITION_SCHEMA, partitionNamePrefix } from './time-partitions.js';

/** How long a concurrent detach waits for the transactions that held the table before it (55P03 after). */
const DETACH_WAIT_MS = 1_000;
/** FINALIZE and DROP hold locks while they wait (the parent's SHARE UPDATE EXCLUSIVE): a moment only. */
const BRIEF_LOCK_TIMEOUT_MS = 200;

export interface DetachOutcome {
  /** Partitions detached and dropped by this run (qualified names). */
  dropped: string[];
  /** A partition left detach pending: a transaction that held the table before the detach still runs. */
  pending?: string;
  /** Whether a later run has work left: a pending detach, a detached partition not dropped, or another server busy with the table. */
  unfinished: boolean;
}

/**
 * Finishes a pending detach of parent's partitions, detaches those that end at or before `before`
 * (their rows already given up by evictBefore), and drops what is detached. Runs on a connection of its
 * own (DETACH … CONCURRENTLY refuses a transaction block), one kinesql server per table at a time.
 */
export function detachExpiredPartitions(engine: Engine, parent: TableName, before: Date | undefined): Promise<DetachOutcome> {
  return engine.outsideTransaction(async (connection) => {
    const { rows } = await connection.query('SELECT pg_try_advisory_lock(hashtext($1)) AS mine', [detachLockKey(parent)]);
    if (rows[0]?.['mine'] !== true) return { dropped: [], unfinished: true };
    const parentName = qualifiedName(parent);
    await setLockTimeout(connection, BRIEF_LOCK_TIMEOUT_MS);
    let finished = true;
    for (const pending of await listPartitions(connection, parent, true)) {
      const name = qualifiedName(pending.table);
      // FINALIZE waits holding the parent's SHARE UPDATE EXCLUSIVE (new partitions wait): not while a transaction still holds the partition.
      finished =
        !(await heldByOthers(connection, name)) && (await unlessLocked(connection.query(`ALTER TABLE ${parentName} DETACH PARTITION ${name} FINALIZE`)));
    }
    const expired = finished && before ? (await listPartitions(connection, parent)).filter((partition) => partition.to <= before) : [];
    await setLockTimeout(connection, DETACH_WAIT_MS);
    for (const partition of expired) {
      if (!(await unlessLocked(connection.query(`ALTER TABLE ${parentName} DETACH PARTITION ${qualifiedName(partition.table)} CONCURRENTLY`)))) break;
    }
    await setLockTimeout(connection, BRIEF_LOCK_TIMEOUT_MS);
    const dropped: string[] = [];
    const detached = await detachedPartitions(connection, parent);
    for (const table of detached) {
      if (await unlessLocked(connection.query(`DROP TABLE ${table}`))) dropped.push(table);
    }
    const [pending] = await listPartitions(connection, parent, true);
    const unfinished = pending !== undefined || dropped.length < detached.length;
    return pending ? { dropped, pending: qualifiedName(pending.table), unfinished } : { dropped, unfinished };
  });
}

/** The engine advisory lock that one kinesql server at a time holds while it removes a table's expired partitions. */
export function detachLockKey(parent: TableName): string {
  return `kinesql.partition-detach ${qualifiedName(parent)}`;
}

async function setLockTimeout(connection: EngineTransaction, ms: number): Promise<void> {
  await connection.query(`SET lock_timeout = '${ms}ms'`);
}

/** Whether the statement ran: false when it gave up waiting for a lock (55P03); other errors are thrown. */
async function unlessLocked(statement: Promise<unknown>): Promise<boolean> {
  try {
    await statement;
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === SQLSTATE.lockNotAvailable) return false;
    throw error;
  }
}

async function heldByOthers(connection: EngineTransaction, table: string): Promise<boolean> {
  const { rows } = await connection.query('SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = $1::regclass AND pid <> pg_backend_pid()) AS held', [table]);
  return rows[0]?.['held'] === true;
}

/** parent's partitions that were detached and not dropped yet (a later run, or a restart, drops them). */
async function detachedPartitions(connection: EngineTransaction, parent: TableName): Promise<string[]> {
  const { rows } = await connection.query(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r' AND NOT c.relispartition AND starts_with(c.relname, $2)`,
    [PARTITION_SCHEMA, partitionNamePrefix(parent)],
  );
  return rows.map((row) => String(row['name']));
}
