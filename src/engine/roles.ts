/**
 * Who may do what in the engine. kinesql's own work runs as the engine administrator (the URL's user, or
 * the embedded engine's superuser). Every client session runs on a backend of its own, logged in as an
 * engine role named after the client's user: a LOGIN role created on demand, member of READER_ROLE, that
 * is no superuser, cannot create anything, may only SELECT the stream tables (through their row policies)
 * and kinesql's status tables, and whose transactions are read-only by default.
 *
 * What a statement sees of a stream table (its session's window, the Trino connector's checkpoint iterations) is
 * decided in the engine by the table's row policy, from the session's own `kinesis.*` settings and the
 * configured defaults baked into the functions below: nothing is injected into a session's backend.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { qualifiedName, quoteIdent, quoteLiteral, type TableName } from '../pg/quoting.js';
import type { Engine } from './engine.js';
import { PgError } from '../pg/pg-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import { BOOLEAN_SPELLINGS } from '../pg/setting-syntax.js';
import { SESSION_PROPERTIES, type SessionProperty } from '../config/session-properties.js';
import { engineCeilings, SUPERUSER_CEILINGS, type SettingCeiling } from '../config/setting-ceilings.js';
import { CHECKPOINT_SEQUENCE_FUNCTION, publishedSetting } from './citus.js';

export const READER_ROLE = 'kinesql_reader';
/** kinesql's private bookkeeping (shard positions, client roles, its secret): no client may read it. */
export const STATE_SCHEMA = 'kinesql_state';
/** Client-visible schema: status tables, the checkpoint table, the window functions. */
export const PUBLIC_SCHEMA = 'kinesql';
export const CHECKPOINTS_TABLE = `${PUBLIC_SCHEMA}.checkpoints`;

export interface WindowDefaults {
  iterFromTimestamp: boolean;
  iterOffsetSeconds: number;
}

export interface CheckpointDefaults {
  enabled: boolean;
  logicalName: string;
  iterationNumber: number;
}

/** What every client backend starts with (ALTER ROLE … SET). */
export interface ClientLimits {
  /** The operator's limits; those that are engine settings are each role's defaults. */
  ceilings: readonly SettingCeiling[];
  /** Schemas unqualified names are looked up in (the configured default schema first). */
  searchPath: string[];
}

/** PostgreSQL's true spellings, as an SQL list: what kinesql itself reads as true in a boolean session property. */
const TRUE_WORDS = `(${BOOLEAN_SPELLINGS.true.map(quoteLiteral).join(', ')})`;

/**
 * A session property's value in the session reading it: its first spelling set to something, or NULL. On a
 * distributed engine a worker's backend has none of the session's settings: there the values the session
 * published count (engine/citus.ts).
 */
export function setting(property: SessionProperty<unknown>, distributed = false): string {
  const names = [property.name, ...property.aliases];
  const local = names.map((name) => `nullif(trim(current_setting('${name}', true)), '')`);
  return `coalesce(${[...local, ...(distributed ? names.map(publishedSetting) : [])].join(', ')})`;
}

function windowFunction(defaults: WindowDefaults, distributed: boolean): string {
  const defaultStart = defaults.iterFromTimestamp ? `statement_timestamp() - make_interval(secs => ${defaults.iterOffsetSeconds})` : `'-infinity'::timestamptz`;
  return `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.window_start() RETURNS timestamptz LANGUAGE plpgsql STABLE AS $f$
DECLARE
  from_timestamp text := ${setting(SESSION_PROPERTIES.iterFromTimestamp, distributed)};
  offset_seconds text := ${setting(SESSION_PROPERTIES.iterOffsetSeconds, distributed)};
  start_timestamp text := ${setting(SESSION_PROPERTIES.iterStartTimestamp, distributed)};
BEGIN
  IF from_timestamp IS NULL AND offset_seconds IS NULL AND start_timestamp IS NULL THEN RETURN ${defaultStart}; END IF;
  IF NOT coalesce(lower(from_timestamp) IN ${TRUE_WORDS}, ${defaults.iterFromTimestamp}) THEN RETURN '-infinity'; END IF;
  IF start_timestamp IS NOT NULL THEN
    IF start_timestamp ~ '^\\d{12,}$' THEN RETURN to_timestamp(start_timestamp::numeric / 1000); END IF;
    IF start_timestamp ~ '([zZ]|[+-]\\d{2}:?\\d{2})$' THEN RETURN start_timestamp::timestamptz; END IF;
    RETURN start_timestamp::timestamp AT TIME ZONE 'UTC';
  END IF;
  RETURN statement_timestamp() - make_interval(secs => coalesce(offset_seconds::float8, ${defaults.iterOffsetSeconds}));
END $f$`;
}

/** The checkpoint iteration a statement reads after (NULL when checkpoint mode is off or this is iteration 0). */
function checkpointFunctions(defaults: CheckpointDefaults | undefined, distributed: boolean): string[] {
  const enabled = `coalesce(lower(${setting(SESSION_PROPERTIES.checkpointEnabled, distributed)}) IN ${TRUE_WORDS}, ${defaults?.enabled ?? false})`;
  const iteration = `coalesce(${setting(SESSION_PROPERTIES.iterationNumber, distributed)}::int, ${defaults?.iterationNumber ?? 0})`;
  const name = `coalesce(${setting(SESSION_PROPERTIES.checkpointLogicalName, distributed)}, ${quoteLiteral(defaults?.logicalName ?? 'process1')})`;
  return [
    `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.checkpoint_name() RETURNS text LANGUAGE sql STABLE AS $f$
       SELECT CASE WHEN ${enabled} AND ${iteration} > 0 THEN ${name} END $f$`,
    `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.checkpoint_previous_iteration() RETURNS int LANGUAGE sql STABLE AS $f$
       SELECT CASE WHEN ${enabled} AND ${iteration} > 0 THEN ${iteration} - 1 END $f$`,
  ];
}

/**
 * Checkpoints belong to the login role whose statements left them: each role reads only its own (row
 * security), and kinesql writes them under the role of the session (store/checkpoints.ts). A table from
 * before roles owned checkpoints gets the column, its rows owned by nobody.
 */
function ownCheckpointsStatements(): string[] {
  return [
    `DO $$ BEGIN
       IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = '${CHECKPOINTS_TABLE}'::regclass AND attname = 'role_name') THEN
         ALTER TABLE ${CHECKPOINTS_TABLE} ADD COLUMN role_name text NOT NULL DEFAULT '';
         ALTER TABLE ${CHECKPOINTS_TABLE} DROP CONSTRAINT checkpoints_pkey;
         ALTER TABLE ${CHECKPOINTS_TABLE} ADD PRIMARY KEY (role_name, logical_name, iteration, table_key, shard_id);
       END IF;
     END $$`,
    `DO $$ BEGIN
       IF NOT EXISTS (SELECT FROM pg_class WHERE oid = '${CHECKPOINTS_TABLE}'::regclass AND relrowsecurity) THEN
         ALTER TABLE ${CHECKPOINTS_TABLE} ENABLE ROW LEVEL SECURITY;
       END IF;
       CREATE POLICY own_checkpoints ON ${CHECKPOINTS_TABLE} FOR SELECT TO ${READER_ROLE} USING (role_name = session_user);
     EXCEPTION WHEN duplicate_object THEN NULL;
     END $$`,
  ];
}

/**
 * kinesql's private tables (positions, the client roles and when they first logged in, the secret) show no
 * client a row: row security with no policy for the reader role. They keep the SELECT that lets pg_dump lock
 * them, so a schema dump still works. Run after every private table exists.
 */
export async function hideStateTables(engine: Engine): Promise<void> {
  await engine.exec(`DO $$ DECLARE t regclass; BEGIN
    FOR t IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = '${STATE_SCHEMA}' AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity LOOP
      EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    END LOOP;
  END $$`);
}

/**
 * Creates (or brings up to date) the reader role, kinesql's schemas, the window and checkpoint functions
 * and the checkpoint table. `clientMaySet` names settings clients may change: those PostgreSQL reserves to
 * superusers (lc_messages, …) are granted to the reader role where the administrator may grant them.
 */
export async function installEngineRoles(
  engine: Engine,
  window: WindowDefaults,
  checkpoints: CheckpointDefaults | undefined,
  clientMaySet: (setting: string) => boolean,
  logger: Logger,
  /** Stream tables are distributed (engine/citus.ts): the functions also read the settings sessions publish. */
  distributed = false,
): Promise<void> {
  await engine.exec(
    `DO $$ BEGIN CREATE ROLE ${READER_ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
  );
  for (const statement of [
    `CREATE SCHEMA IF NOT EXISTS ${STATE_SCHEMA}`,
    `REVOKE ALL ON SCHEMA ${STATE_SCHEMA} FROM PUBLIC`,
    // Name lookups only (none of its tables may be read): BI tools ask has_table_privilege of every table
    // pg_tables lists, and PostgreSQL answers a name in a schema without USAGE with an error, not false.
    `GRANT USAGE ON SCHEMA ${STATE_SCHEMA} TO ${READER_ROLE}`,
    // Its tables may be read (and locked, as pg_dump does) like the catalogs; the secret's row never: row
    // security with no policy for the reader shows it none.
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${STATE_SCHEMA} GRANT SELECT ON TABLES TO ${READER_ROLE}`,
    `CREATE TABLE IF NOT EXISTS ${STATE_SCHEMA}.secret (value text NOT NULL)`,
    `ALTER TABLE ${STATE_SCHEMA}.secret ENABLE ROW LEVEL SECURITY`,
    `CREATE TABLE IF NOT EXISTS ${STATE_SCHEMA}.client_roles (name text PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now())`,
    `CREATE SCHEMA IF NOT EXISTS ${PUBLIC_SCHEMA}`,
    `GRANT USAGE ON SCHEMA ${PUBLIC_SCHEMA} TO ${READER_ROLE}`,
    `CREATE TABLE IF NOT EXISTS ${CHECKPOINTS_TABLE} (role_name text NOT NULL, logical_name text NOT NULL, iteration int NOT NULL,
       table_key text NOT NULL, shard_id text NOT NULL, sequence_number numeric NOT NULL,
       PRIMARY KEY (role_name, logical_name, iteration, table_key, shard_id))`,
    ...ownCheckpointsStatements(),
    `COMMENT ON TABLE ${CHECKPOINTS_TABLE} IS 'Your checkpoint iterations (the Trino connector''s): per logical name, iteration, table and shard, the last record the iteration saw'`,
    windowFunction(window, distributed),
    // What a client asks about its server, answered about kinesql (sql/server-identity.ts points the calls here).
    `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.version() RETURNS text LANGUAGE sql STABLE AS $f$
       SELECT pg_catalog.version() || ', served by kinesql ' || coalesce(nullif(current_setting('kinesql.server_version', true), ''), '(unknown version)') $f$`,
    `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.server_port() RETURNS integer LANGUAGE sql STABLE AS $f$
       SELECT nullif(current_setting('kinesql.server_port', true), '')::integer $f$`,
    `CREATE OR REPLACE FUNCTION ${PUBLIC_SCHEMA}.server_addr() RETURNS inet LANGUAGE sql STABLE AS $f$
       SELECT nullif(current_setting('kinesql.server_addr', true), '')::inet $f$`,
    ...checkpointFunctions(checkpoints, distributed),
    `GRANT SELECT ON ALL TABLES IN SCHEMA ${PUBLIC_SCHEMA} TO ${READER_ROLE}`,
    `GRANT SELECT ON ALL TABLES IN SCHEMA ${STATE_SCHEMA} TO ${READER_ROLE}`,
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${PUBLIC_SCHEMA} GRANT SELECT ON TABLES TO ${READER_ROLE}`,
    `REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
  ]) {
    await engine.exec(statement);
  }
  // Needs ownership of the database (an external engine's administrator may not have it): logged, not fatal.
  const optional = [`DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()); END $$`];
  if (engine.serverVersionNum >= 150000) {
    const { rows } = await engine.query(`SELECT name FROM pg_settings WHERE context = 'superuser'`);
    for (const row of rows) {
      const name = String(row['name']);
      if (clientMaySet(name)) optional.push(`GRANT SET ON PARAMETER ${quoteIdent(name)} TO ${READER_ROLE}`);
    }
  }
  for (const statement of optional) {
    await engine.exec(statement).catch((error: unknown) => logger.warn({ err: error, statement }, 'engine privilege not changed'));
  }
}

/**
 * Makes a stream table readable by the reader role, through its row policy only. `servedAs` is the name the
 * table will be served under when it is built under a staging name first (its checkpoints use that name).
 */
export const VISIBLE_ROWS_POLICY = 'kinesql_visible';

/**
 * Which rows of a stream table a statement sees. `layout`: one server's table; a distributed table itself,
 * whose policy Citus allows no subquery in (nor an IS NULL test of a call, which its check of the policy
 * leaves unusable); or each shard of it, where the policy of the table is replaced by this one
 * (engine/citus.ts) and the checkpoint table, a reference table there, is read through a function.
 */
export function visibleRows(servedAs: TableName, layout: 'single' | 'distributed' | 'shard'): string {
  const key = quoteLiteral(tableKey(servedAs));
  if (layout === 'distributed') {
    return `_message_timestamp >= ${PUBLIC_SCHEMA}.window_start() AND ${CHECKPOINT_SEQUENCE_FUNCTION}(${key}, _shard_id) < _shard_sequence_id::numeric`;
  }
  // The functions are called in scalar subqueries: PostgreSQL evaluates those once per statement
  // (InitPlans), not once per row, so a count over a million rows costs what it costs without the policy.
  const name = `(SELECT ${PUBLIC_SCHEMA}.checkpoint_name())`;
  const checkpointed =
    layout === 'single'
      ? `coalesce((SELECT c.sequence_number FROM ${CHECKPOINTS_TABLE} c
                 WHERE c.role_name = session_user AND c.logical_name = ${name}
                   AND c.iteration = (SELECT ${PUBLIC_SCHEMA}.checkpoint_previous_iteration()) AND c.table_key = ${key} AND c.shard_id = _shard_id), -1)`
      : `${CHECKPOINT_SEQUENCE_FUNCTION}(${key}, _shard_id)`;
  return `_message_timestamp >= (SELECT ${PUBLIC_SCHEMA}.window_start()) AND (${name} IS NULL OR _shard_sequence_id::numeric > ${checkpointed})`;
}

export function tableAccessStatements(definition: TableName, servedAs: TableName = definition, distributed = false): string[] {
  const table = qualifiedName(definition);
  return [
    ...tableGrantStatements(definition),
    `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`,
    `CREATE POLICY ${VISIBLE_ROWS_POLICY} ON ${table} FOR SELECT TO ${READER_ROLE} USING (${visibleRows(servedAs, distributed ? 'distributed' : 'single')})`,
  ];
}

/** What lets the reader role read a stream table (its row policy decides which rows). */
export function tableGrantStatements(definition: TableName): string[] {
  return [`GRANT USAGE ON SCHEMA ${quoteIdent(definition.schemaName)} TO ${READER_ROLE}`, `GRANT SELECT ON ${qualifiedName(definition)} TO ${READER_ROLE}`];
}

/** How checkpoints and shard positions name a table: "schema.table". */
export function tableKey(definition: TableName): string {
  return `${definition.schemaName}.${definition.tableName}`;
}

/** A login kinesql refuses before it reaches the engine (a reserved role name). */
export class RoleRefused extends PgError {
  constructor(message: string, sqlstate: string) {
    super(message, sqlstate, { severity: 'FATAL' });
  }
}

/**
 * Client logins as engine roles: created on demand, with a password only kinesql can derive (an HMAC of the
 * role name under a secret kept in the engine's private schema), so any kinesql server on the same engine
 * logs the same client in, and nobody without that secret can log in as a client role.
 */
export class ClientRoles {
  private readonly ready = new Map<string, Promise<string>>();
  private secret: Promise<string> | undefined;
  /** Superuser-only limits the engine refused to set on a role: logged the first time only, not at every login. */
  private readonly refusedLimits = new Set<string>();

  constructor(
    private readonly engine: Engine,
    private readonly limits: ClientLimits,
    /** Called once a role is created or updated, before it is used: with a read replica, waits until the standby has it. */
    private readonly replicated: (() => Promise<void>) | undefined,
    private readonly logger: Logger,
  ) {}

  /** The operator's limits on what a client session may set. */
  get ceilings(): readonly SettingCeiling[] {
    return this.limits.ceilings;
  }

  /** The password of the engine role for client user `name`, creating or updating the role first. */
  passwordFor(name: string): Promise<string> {
    let password = this.ready.get(name);
    if (!password) {
      password = this.prepare(name);
      password.catch(() => this.ready.delete(name));
      this.ready.set(name, password);
    }
    return password;
  }

  /**
   * A key for `purpose` derived from the engine's secret: the same on every kinesql server on this engine and
   * across restarts, and known to nobody who cannot read kinesql's private schema.
   */
  async derivedKey(purpose: string): Promise<Buffer> {
    return createHmac('sha256', await this.engineSecret())
      .update(`kinesql key\0${purpose}`)
      .digest();
  }

  private async engineSecret(): Promise<string> {
    this.secret ??= this.engine
      .transaction(async (tx) => {
        await tx.query(`LOCK TABLE ${STATE_SCHEMA}.secret IN EXCLUSIVE MODE`);
        const { rows } = await tx.query(`SELECT value FROM ${STATE_SCHEMA}.secret LIMIT 1`);
        if (rows[0]) return String(rows[0]['value']);
        const value = randomBytes(32).toString('base64');
        await tx.query(`INSERT INTO ${STATE_SCHEMA}.secret (value) VALUES ($1)`, [value]);
        return value;
      })
      .catch((error: unknown) => {
        this.secret = undefined;
        throw error;
      });
    return this.secret;
  }

  private async prepare(name: string): Promise<string> {
    if (Buffer.byteLength(name, 'utf8') > 63) throw new RoleRefused(`user name "${name}" is longer than 63 bytes`, SQLSTATE.invalidAuthorizationSpecification);
    if (name.toLowerCase().startsWith('pg_') || name === READER_ROLE) {
      throw new RoleRefused(`role "${name}" is reserved; log in with another user name`, SQLSTATE.invalidAuthorizationSpecification);
    }
    const password = createHmac('sha256', await this.engineSecret())
      .update(name)
      .digest('base64');
    const role = quoteIdent(name);
    await this.engine.transaction(async (tx) => {
      // One creation at a time across every kinesql server on this engine.
      await tx.query(`LOCK TABLE ${STATE_SCHEMA}.client_roles IN EXCLUSIVE MODE`);
      const existing = await tx.query(
        `SELECT r.rolname, c.name IS NOT NULL AS ours FROM pg_roles r LEFT JOIN ${STATE_SCHEMA}.client_roles c ON c.name = r.rolname WHERE r.rolname = $1`,
        [name],
      );
      const found = existing.rows[0];
      if (found && found['ours'] !== true) {
        throw new RoleRefused(`role "${name}" is reserved by the engine; log in with another user name`, SQLSTATE.invalidAuthorizationSpecification);
      }
      if (!found) {
        await tx.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT`);
        await tx.query(`INSERT INTO ${STATE_SCHEMA}.client_roles (name) VALUES ($1)`, [name]);
        // PostgreSQL 16 can grant membership that inherits privileges without allowing SET ROLE to it.
        await tx.query(`GRANT ${READER_ROLE} TO ${role}${this.engine.serverVersionNum >= 160000 ? ' WITH INHERIT TRUE, SET FALSE' : ''}`);
      }
      await tx.query(`ALTER ROLE ${role} PASSWORD ${quoteLiteral(password)}`);
      for (const [setting, value] of this.roleSettings()) await tx.query(`ALTER ROLE ${role} SET ${setting} = ${value}`);
    });
    // Superuser-only limits: applied where the administrator may (an embedded engine, a superuser URL).
    for (const ceiling of engineCeilings(this.limits.ceilings).filter((c) => SUPERUSER_CEILINGS.has(c.setting))) {
      await this.engine.exec(`ALTER ROLE ${role} SET ${ceiling.setting} = ${quoteLiteral(ceiling.shown)}`).catch((error: unknown) => {
        if (this.refusedLimits.has(ceiling.setting)) return;
        this.refusedLimits.add(ceiling.setting);
        this.logger.warn(
          { err: error, setting: ceiling.setting, value: ceiling.shown, role: name },
          'client sessions run without this limit: the engine refused to set it on their roles (it takes a superuser)',
        );
      });
    }
    await this.replicated?.();
    return password;
  }

  /** Each setting with its value as SQL (search_path is a list of identifiers, the others literals). */
  private roleSettings(): [string, string][] {
    const limits = engineCeilings(this.limits.ceilings).filter((ceiling) => !SUPERUSER_CEILINGS.has(ceiling.setting));
    return [
      ['default_transaction_read_only', 'on'],
      ['standard_conforming_strings', 'on'],
      ...limits.map((ceiling): [string, string] => [ceiling.setting, quoteLiteral(ceiling.shown)]),
      ['search_path', this.limits.searchPath.map(quoteIdent).join(', ')],
    ];
  }
}
