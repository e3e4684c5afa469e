import { qualifiedName, quoteIdent, quoteLiteral } from '../catalog/ddl.js';
import type { TableDefinition } from '../catalog/definition.js';
import type { Engine } from './engine.js';

/**
 * Client statements run as this role: not a superuser, allowed to SELECT the stream tables and kinesql's
 * status tables and nothing else, inside read-only transactions. It is the engine's own defence behind the
 * read-only gate, and it makes row-level security apply (superusers bypass it): each stream table has a
 * policy that shows a statement only the rows of its session's window and, in the seed's checkpoint mode,
 * only records after the previous iteration's checkpoint.
 */
export const READER_ROLE = 'kinesql_reader';

/** Per-statement settings the row policies read (set by kinesql before each client statement). */
const VISIBLE_FROM = 'kinesql.visible_from';
const AFTER_SEQUENCE = 'kinesql.after_sequence';

/**
 * Creates the reader role and its grants. `clientMaySet` names the settings clients may change (the
 * read-only gate's allow-list); those PostgreSQL reserves to superusers (lc_messages, …) are granted to the role.
 */
export async function installReaderRole(engine: Engine, clientMaySet: (setting: string) => boolean): Promise<void> {
  await engine.exclusive(async () => {
    for (const statement of readerRoleStatements()) await engine.exec(statement);
    const { rows } = await engine.query(`SELECT name FROM pg_settings WHERE context = 'superuser'`);
    for (const row of rows) {
      const name = String(row['name']);
      if (clientMaySet(name)) await engine.exec(`GRANT SET ON PARAMETER ${quoteIdent(name)} TO ${READER_ROLE}`);
    }
  });
}

function readerRoleStatements(): string[] {
  return [
    `DO $$ BEGIN CREATE ROLE ${READER_ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
    // Nothing the role may create anywhere; PUBLIC keeps reading the catalogs as in PostgreSQL.
    `REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
    `DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()); END $$`,
    `CREATE SCHEMA IF NOT EXISTS kinesql`,
    `GRANT USAGE ON SCHEMA kinesql TO ${READER_ROLE}`,
    `GRANT SELECT ON ALL TABLES IN SCHEMA kinesql TO ${READER_ROLE}`,
    `ALTER DEFAULT PRIVILEGES IN SCHEMA kinesql GRANT SELECT ON TABLES TO ${READER_ROLE}`,
  ];
}

/** Makes a stream table readable by the reader role, through its row policy only. */
export function tableAccessStatements(definition: Pick<TableDefinition, 'schemaName' | 'tableName'>): string[] {
  const table = qualifiedName(definition);
  const key = quoteLiteral(`${definition.schemaName}.${definition.tableName}`);
  return [
    `GRANT USAGE ON SCHEMA ${quoteIdent(definition.schemaName)} TO ${READER_ROLE}`,
    `GRANT SELECT ON ${table} TO ${READER_ROLE}`,
    `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`,
    // The settings are read in scalar subqueries: PostgreSQL evaluates those once per statement (InitPlans),
    // not once per row, which keeps a full count over a million rows from tripling in time.
    `CREATE POLICY kinesql_visible ON ${table} FOR SELECT TO ${READER_ROLE} USING (
       _message_timestamp >= (SELECT coalesce(nullif(current_setting('${VISIBLE_FROM}', true), '')::timestamptz, '-infinity'::timestamptz))
       AND ((SELECT coalesce(current_setting('${AFTER_SEQUENCE}', true), '') = '')
            OR _shard_sequence_id::numeric > coalesce(((SELECT nullif(current_setting('${AFTER_SEQUENCE}', true), '')::jsonb) #>> ARRAY[${key}, _shard_id])::numeric, -1)))`,
  ];
}

export interface StatementVisibility {
  /** Oldest arrival time a statement sees (the session's window start); undefined = everything loaded. */
  visibleFrom?: Date;
  /** Checkpoint mode: per table ("schema.table") and shard, the last sequence number already seen. */
  afterSequence?: Record<string, Record<string, string>>;
}

/** Switches the engine to the reader role with a statement's visibility (one simple-query string). */
export function enterReaderStatements(visibility: StatementVisibility): string {
  const from = visibility.visibleFrom ? visibility.visibleFrom.toISOString() : '';
  const after = visibility.afterSequence ? JSON.stringify(visibility.afterSequence) : '';
  return [
    `SET ROLE ${READER_ROLE}`,
    `SET default_transaction_read_only = on`,
    `SELECT set_config('${VISIBLE_FROM}', ${quoteLiteral(from)}, false), set_config('${AFTER_SEQUENCE}', ${quoteLiteral(after)}, false)`,
  ].join('; ');
}

/** Back to the engine's owner for kinesql's own work (loading, DDL, status tables). */
export const LEAVE_READER_STATEMENTS = 'RESET ROLE; SET default_transaction_read_only = off';
