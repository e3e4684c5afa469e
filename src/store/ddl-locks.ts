/**
 * Definition changes drop or rename stream tables: ACCESS EXCLUSIVE, which every reader conflicts with. A
 * request for it waiting in the lock queue, even one bounded by lock_timeout, makes every later reader of the
 * table wait behind it. So the lock is asked for with NOWAIT, again and again for a short while, and taken
 * the moment no transaction holds the table; a session's transaction that keeps holding it makes the change
 * fail with 55P03, to be tried again later (definition-changes.ts), while readers go on undisturbed.
 */
import type { EngineTransaction } from '../engine/engine.js';
import { qualifiedName, type TableName } from '../pg/quoting.js';
import { SQLSTATE } from '../pg/sqlstate.js';

/**
 * How long a definition change keeps asking for a table that statements hold before it is tried later
 * (catch-ups of the table wait for the change meanwhile).
 */
export const DDL_LOCK_TIMEOUT_MS = 500;
/** Between two NOWAIT attempts: short, since readers' statements end between them. */
const ATTEMPT_INTERVAL_MS = 20;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Takes ACCESS EXCLUSIVE on those of `tables` that exist, and on all their partitions (a partition whose
 * detach is pending included: DROP would otherwise wait for it while holding the parent), without ever
 * waiting in the lock queue. Throws 55P03 when the tables stayed held for DDL_LOCK_TIMEOUT_MS, or at once
 * when a session idle in a transaction holds one (it will not let go soon).
 */
export async function lockTablesWithoutQueueing(tx: EngineTransaction, tables: readonly TableName[], budgetMs = DDL_LOCK_TIMEOUT_MS): Promise<void> {
  await refuseWhileHeldByIdleTransaction(tx, tables);
  const { rows } = await tx.query(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name
       FROM unnest($1::text[]) AS wanted(name) JOIN pg_class c ON c.oid = to_regclass(wanted.name) JOIN pg_namespace n ON n.oid = c.relnamespace
     UNION ALL
     SELECT format('%I.%I', n.nspname, c.relname)
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE i.inhparent = ANY (SELECT to_regclass(name) FROM unnest($1::text[]) AS wanted(name))`,
    [tables.map((table) => qualifiedName(table))],
  );
  if (rows.length === 0) return;
  await lockWithoutQueueing(
    tx,
    rows.map((row) => String(row['name'])),
    'ACCESS EXCLUSIVE',
    Date.now() + budgetMs,
  );
}

/**
 * Takes `mode` on the tables named (qualified and quoted) without ever waiting in the lock queue: NOWAIT,
 * again and again until `deadline` (epoch ms). Throws 55P03 when they stayed held until then.
 */
export async function lockWithoutQueueing(
  tx: EngineTransaction,
  names: readonly string[],
  mode: 'SHARE' | 'ACCESS EXCLUSIVE',
  deadline: number,
): Promise<void> {
  const statement = `LOCK TABLE ${names.join(', ')} IN ${mode} MODE NOWAIT`;
  for (;;) {
    await tx.query('SAVEPOINT kinesql_ddl_lock');
    try {
      await tx.query(statement);
      await tx.query('RELEASE SAVEPOINT kinesql_ddl_lock');
      return;
    } catch (error) {
      await tx.query('ROLLBACK TO SAVEPOINT kinesql_ddl_lock');
      await tx.query('RELEASE SAVEPOINT kinesql_ddl_lock');
      if ((error as { code?: string }).code !== SQLSTATE.lockNotAvailable || Date.now() >= deadline) throw error;
    }
    await sleep(ATTEMPT_INTERVAL_MS);
  }
}

/**
 * Throws 55P03 when a session idle in a transaction holds one of `tables`: a change that must take them would
 * wait for it in vain, so work done before taking them (a rebuild's copy) would be lost.
 */
export async function refuseWhileHeldByIdleTransaction(tx: EngineTransaction, tables: readonly TableName[]): Promise<void> {
  const { rows } = await tx.query(
    `SELECT l.relation::regclass::text AS held FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.granted AND l.relation = ANY (SELECT to_regclass(name) FROM unnest($1::text[]) AS wanted(name)) AND a.state LIKE 'idle in transaction%'
      LIMIT 1`,
    [tables.map((table) => qualifiedName(table))],
  );
  const held = rows[0]?.['held'];
  if (held === undefined) return;
  throw Object.assign(new Error(`${String(held)} is held by a session's open transaction`), { code: SQLSTATE.lockNotAvailable });
}
