/**
 * A Citus cluster as the engine (kinesql.engine-distribution): kinesql connects to the coordinator, and stream
 * tables are distributed over the workers.
 *
 * What a statement sees is decided by each stream table's row policy, from the session's `kinesis.*` settings.
 * On Citus the coordinator sends each worker the statement without the policy; the worker applies the policy of
 * its shard, in a backend of its own where the session's settings are not set. So kinesql publishes each
 * session's settings, before a statement of it reads a stream table, in a reference table (a copy on every node)
 * keyed by the coordinator backend's process id, which Citus passes on to the workers' backends (the global pid);
 * the window and checkpoint functions fall back to it where the setting is not set locally.
 */
import type { Logger } from 'pino';
import type { Engine, EngineTransaction } from './engine.js';
import { qualifiedName, quoteLiteral, type TableName } from '../pg/quoting.js';
import type { EngineDistribution } from '../config/config.js';
import { SQLSTATE } from '../pg/sqlstate.js';

/** The settings each session published, by its coordinator backend's process id (kinesql's private schema). */
const PUBLISHED_TABLE = 'kinesql_state.session_settings';
/** The published value of a setting for the session whose statement runs (on the coordinator or a worker). */
export const PUBLISHED_SETTING_FUNCTION = 'kinesql.published_setting';
/** The sequence number (table, shard) was checkpointed at in the session's previous iteration, or -1. */
export const CHECKPOINT_SEQUENCE_FUNCTION = 'kinesql.checkpoint_sequence';
/** The stream tables' distribution column: a key's records stay together, and many keys spread over every worker. */
export const DISTRIBUTION_COLUMN = '_partition_key';
/** Citus shards per worker for each stream table (and each of its time partitions). */
const SHARDS_PER_WORKER = 2;

export class DistributionError extends Error {
  readonly sqlstate = SQLSTATE.featureNotSupported;
}

/** Whether stream tables are distributed: as configured, or (auto) when the engine's database has the citus extension. */
export async function resolveDistribution(engine: Engine, configured: EngineDistribution): Promise<'none' | 'citus'> {
  if (configured === 'none') return 'none';
  const { rows } = await engine.query(`SELECT extversion FROM pg_extension WHERE extname = 'citus'`);
  if (rows.length > 0) return 'citus';
  if (configured === 'citus') {
    throw new DistributionError(
      'kinesql.engine-distribution = citus, but the engine database has no citus extension: run CREATE EXTENSION citus on the coordinator and every worker, then add the workers (citus_add_node)',
    );
  }
  return 'none';
}

/**
 * What must exist before the window and checkpoint functions: the table sessions publish their settings in
 * (a reference table) and the function reading it. Nested execution is allowed in it: on a worker the table
 * is read from the worker's own copy, inside the query of a shard.
 */
export async function installPublishedSettings(engine: Engine): Promise<void> {
  for (const schema of ['kinesql_state', 'kinesql']) await engine.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await engine.exec(`CREATE TABLE IF NOT EXISTS ${PUBLISHED_TABLE} (coordinator_pid int PRIMARY KEY, settings jsonb NOT NULL)`);
  await makeReferenceTable(engine, PUBLISHED_TABLE);
  // Kept from an older kinesql, the table may lack what tells one backend of a process id from a later one.
  await engine.exec(
    `ALTER TABLE ${PUBLISHED_TABLE} ADD COLUMN IF NOT EXISTS backend_key bigint, ADD COLUMN IF NOT EXISTS published_at timestamptz NOT NULL DEFAULT now()`,
  );
  await engine.exec(`CREATE OR REPLACE FUNCTION ${PUBLISHED_SETTING_FUNCTION}(setting_name text) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog SET citus.allow_nested_distributed_execution = on AS $f$
    SELECT p.settings ->> lower(setting_name) FROM ${PUBLISHED_TABLE} p WHERE p.coordinator_pid = citus_pid_for_gpid(citus_backend_gpid()) $f$`);
}

/**
 * The checkpoint table becomes a reference table (the row policies read it on the workers) and the function
 * the policies read it through. Run once the table exists.
 */
export async function installDistributedCheckpoints(engine: Engine, checkpointsTable: string): Promise<void> {
  await makeReferenceTable(engine, checkpointsTable);
  // -1 when checkpoint mode is off or the previous iteration left nothing for the shard: every row is after it.
  await engine.exec(`CREATE OR REPLACE FUNCTION ${CHECKPOINT_SEQUENCE_FUNCTION}(table_key text, shard_id text)
    RETURNS numeric LANGUAGE sql STABLE SET citus.allow_nested_distributed_execution = on AS $f$
    SELECT coalesce((SELECT c.sequence_number FROM ${checkpointsTable} c
       WHERE c.role_name = session_user AND c.logical_name = kinesql.checkpoint_name()
         AND c.iteration = kinesql.checkpoint_previous_iteration() AND c.table_key = $1 AND c.shard_id = $2), -1) $f$`);
}

async function makeReferenceTable(engine: Engine, table: string): Promise<void> {
  await engine.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`kinesql reference table ${table}`]);
    const { rows } = await tx.query(`SELECT 1 FROM pg_dist_partition WHERE logicalrelid = $1::regclass`, [table]);
    if (rows.length === 0) await tx.query('SELECT create_reference_table($1)', [table]);
  });
}

/**
 * Distributes a new stream table (in the transaction that created it): by DISTRIBUTION_COLUMN, in
 * SHARDS_PER_WORKER shards per worker. Its time partitions, attached later, are distributed alongside.
 */
export async function distributeTable(tx: EngineTransaction, table: TableName): Promise<void> {
  const { rows } = await tx.query(`SELECT count(*)::int AS workers FROM pg_dist_node WHERE groupid <> 0 AND noderole = 'primary' AND isactive`);
  const shards = Math.max(2, Number(rows[0]?.['workers'] ?? 1) * SHARDS_PER_WORKER);
  await tx.query(`SELECT create_distributed_table($1, $2, shard_count => ${shards})`, [qualifiedName(table), DISTRIBUTION_COLUMN]);
}

/**
 * Distributes a new, empty table as `colocatedWith` is (a stream table or one of its time partitions): by
 * DISTRIBUTION_COLUMN, each of its shards on the worker of the matching shard of that table, so that rows copy
 * between the two on each worker and it can become one of that table's partitions.
 */
export async function distributeColocated(tx: EngineTransaction, table: TableName, colocatedWith: TableName): Promise<void> {
  await tx.query('SELECT create_distributed_table($1, $2, colocate_with => $3)', [qualifiedName(table), DISTRIBUTION_COLUMN, qualifiedName(colocatedWith)]);
}

/**
 * Gives every shard of a distributed stream table the policy `using` (which may have subqueries, evaluated
 * once per shard query). Citus refuses subqueries in a distributed table's policy, so the table itself carries
 * a policy without them, and this replaces it on each shard. Run again after shards were moved or split.
 */
export async function replaceShardPolicies(engine: Engine, table: TableName, policy: string, readerRole: string, using: string): Promise<void> {
  const command = `DROP POLICY IF EXISTS ${policy} ON %1$s; CREATE POLICY ${policy} ON %1$s FOR SELECT TO ${readerRole} USING (${using})`;
  const { rows } = await engine.query(`SELECT nodename, nodeport, result FROM run_command_on_placements($1::regclass, $2) WHERE NOT success`, [
    qualifiedName(table),
    command,
  ]);
  const failed = rows[0];
  if (failed) throw new Error(`the row policy of ${qualifiedName(table)} could not be set on ${failed['nodename']}:${failed['nodeport']}: ${failed['result']}`);
}

/** One session's coordinator backend: what it published last (so an unchanged session publishes nothing). */
export interface SessionBackend {
  processId: number;
  /** The backend's cancel key: a later backend with the same process id has another. */
  secretKey: number;
  published?: string;
  /** The write under way, which a withdrawal waits for. */
  publishing?: Promise<void>;
  /** The session ended: it publishes nothing more. */
  ended?: boolean;
}

/**
 * Publishes the session's `kinesis.*` settings for its statements' shard queries on the workers, when they
 * differ from what it published last. A new session always publishes once (its backend's process id may be an
 * earlier session's).
 */
export async function publishSessionSettings(engine: Engine, backend: SessionBackend, settings: ReadonlyMap<string, string> | undefined): Promise<void> {
  const kinesis = Object.fromEntries([...(settings ?? [])].filter(([name, value]) => name.startsWith('kinesis.') && value.trim() !== '').sort());
  const text = JSON.stringify(kinesis);
  if (backend.published === text || backend.ended) return;
  const writing = engine.query(
    `INSERT INTO ${PUBLISHED_TABLE} (coordinator_pid, settings, backend_key, published_at) VALUES ($1, $2::jsonb, $3, now())
       ON CONFLICT (coordinator_pid) DO UPDATE SET settings = excluded.settings, backend_key = excluded.backend_key, published_at = excluded.published_at`,
    [backend.processId, text, backend.secretKey],
  );
  backend.publishing = writing.then(
    () => undefined,
    () => undefined,
  );
  await writing;
  backend.published = text;
}

/**
 * The session ended: its published settings go. Only its own row: a later backend that got the same process id
 * (the engine reuses them) has published under its own key.
 */
export async function withdrawSessionSettings(engine: Engine, backend: SessionBackend): Promise<void> {
  backend.ended = true;
  const publishing = backend.publishing;
  if (publishing === undefined) return;
  backend.publishing = undefined;
  backend.published = undefined;
  await publishing;
  await engine.query(`DELETE FROM ${PUBLISHED_TABLE} WHERE coordinator_pid = $1 AND backend_key = $2`, [backend.processId, backend.secretKey]);
}

/**
 * Removes what sessions left when they could not withdraw it (kinesql was killed, the engine restarted): rows of
 * process ids no coordinator backend had when asked. A row published since then is kept, whatever backend wrote it.
 */
async function sweepSessionSettings(engine: Engine, logger: Logger): Promise<void> {
  // Asked apart: Citus refuses a statement on the reference table that reads the view (permission denied for pg_authid).
  const { rows } = await engine.query(`SELECT coalesce(array_agg(pid), '{}') AS live, statement_timestamp() AS asked FROM pg_stat_activity`);
  const { affectedRows } = await engine.query(`DELETE FROM ${PUBLISHED_TABLE} WHERE published_at < $2 AND coordinator_pid <> ALL($1::int[])`, [
    rows[0]?.['live'],
    rows[0]?.['asked'],
  ]);
  if (affectedRows > 0) logger.info({ rows: affectedRows }, 'removed the published settings of sessions whose backends are gone');
}

/**
 * Sweeps what ended sessions left in the published settings now (a kinesql killed before its sessions withdrew
 * theirs) and after every restart of the engine (whose backends all ended with it).
 */
export async function sweepPublishedSettings(engine: Engine, logger: Logger): Promise<void> {
  await sweepSessionSettings(engine, logger);
  engine.onRestart(() => {
    sweepSessionSettings(engine, logger).catch((error: unknown) => logger.warn({ err: error }, 'could not sweep the published session settings'));
  });
}

/** The fallback for a setting not set in the backend evaluating it: the session's published value. */
export function publishedSetting(name: string): string {
  return `${PUBLISHED_SETTING_FUNCTION}(${quoteLiteral(name)})`;
}

/** Citus's error when a connection of a distributed transaction failed (a worker gone mid-write or mid-commit): no SQLSTATE of its own, so XX000. */
const ESSENTIAL_CONNECTION_FAILED = /^failure on connection marked as essential: (\S+)$/;

/**
 * The context Citus adds to a worker's error it passes on. A worker whose connection died mid-command gives
 * libpq's words and no SQLSTATE, which Citus passes on as XX000: with this context naming the node, or (from
 * a COPY) without it.
 */
const RELAYED_FROM_WORKER = /while executing command on (\S+:\d+)/;
/** Citus's error when a COPY's connection to a worker failed without a message of the worker's own. */
const COPY_FAILED = /^failed to complete COPY on (\S+:\d+)$/;
const CONNECTION_LOST =
  /terminating connection|server closed the connection unexpectedly|connection to server .* lost|could not (send|receive) data|no connection to the server|SSL SYSCALL error|the database system is (shutting down|starting up|in recovery mode)/;

/**
 * A Citus coordinator's error about a worker it cannot reach, as a client should be told it: 08006 with the
 * node's address (Citus's own words when a statement's shard query cannot connect; its XX000 when a write's
 * connection fails, or a worker's connection dies mid-command, is put in those terms). Undefined for any other error.
 */
export function unreachableWorker(error: unknown): { sqlstate: string; message: string } | undefined {
  const { code, message, severity, where } = (error ?? {}) as { code?: unknown; message?: unknown; severity?: unknown; where?: unknown };
  if (typeof message !== 'string' || severity === undefined) return undefined;
  const essential = ESSENTIAL_CONNECTION_FAILED.exec(message);
  if (code === SQLSTATE.internalError && essential) {
    return {
      sqlstate: SQLSTATE.connectionFailure,
      message: `the engine's worker node ${essential[1]} cannot be reached (it failed during a distributed transaction)`,
    };
  }
  if (code === SQLSTATE.internalError && severity === 'ERROR' && CONNECTION_LOST.test(message)) {
    const relayed = typeof where === 'string' ? RELAYED_FROM_WORKER.exec(where) : null;
    const node = relayed ? `the engine's worker node ${relayed[1]}` : "one of the engine's worker nodes";
    return { sqlstate: SQLSTATE.connectionFailure, message: `${node} cannot be reached (its connection was lost: ${message.split('\n')[0]})` };
  }
  const copy = COPY_FAILED.exec(message);
  if (code === SQLSTATE.ioError && copy) {
    return { sqlstate: SQLSTATE.connectionFailure, message: `the engine's worker node ${copy[1]} cannot be reached (a COPY to it failed)` };
  }
  if (code === SQLSTATE.connectionFailure && message.startsWith('connection to the remote node ')) return { sqlstate: SQLSTATE.connectionFailure, message };
  return undefined;
}
