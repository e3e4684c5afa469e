import { resolve } from 'node:path';
import type { Engine } from '../engine/engine.js';
import type { DefinitionStatus } from './definition-set.js';

/**
 * `kinesql.definitions`: one row per definition file or object, with what is served from it and the error
 * that keeps its newest version from being served. Rewritten after every change of the catalog.
 */
export const DEFINITIONS_TABLE = 'kinesql.definitions';

export async function createDefinitionsTable(engine: Engine): Promise<void> {
  await engine.transaction(async (tx) => {
    await tx.query('CREATE SCHEMA IF NOT EXISTS kinesql');
    // Kept if there (other kinesql servers on the same engine may be using it).
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${DEFINITIONS_TABLE} (
         table_schema text, table_name text, source text NOT NULL, version text NOT NULL,
         loaded_at timestamp with time zone NOT NULL, status text NOT NULL, error text)`,
    );
    await tx.query(
      `COMMENT ON TABLE ${DEFINITIONS_TABLE} IS 'Table definitions kinesql has read: status ok (served), stale (the last good version is served because the newest is broken or unreadable, or the location cannot be listed) or error (not served)'`,
    );
  });
}

/**
 * Clients see where a definition is relative to the definitions' location (`orders.json`, `sub/x.json`):
 * the server's own paths and bucket are the operator's business.
 */
function withoutLocation(location: string): (text: string) => string {
  const root = /^s3:\/\//i.test(location) ? location.replace(/\/*$/, '') : resolve(location);
  return (text) => text.split(`${root}/`).join('').split(root).join('(the definitions location)');
}

/** Rewrites the table from the catalog's statuses; `location` is the definitions' directory or s3:// prefix. */
export async function writeDefinitionsTable(engine: Engine, statuses: DefinitionStatus[], location: string): Promise<void> {
  const relative = withoutLocation(location);
  const rows = statuses.map((status) => ({
    table_schema: status.schemaName,
    table_name: status.tableName,
    source: relative(status.source),
    version: status.version,
    loaded_at: status.loadedAt.toISOString(),
    status: status.status,
    error: status.error === null ? null : relative(status.error),
  }));
  await engine.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('kinesql.definitions'))`);
    await tx.query(
      `WITH fresh AS (DELETE FROM ${DEFINITIONS_TABLE})
       INSERT INTO ${DEFINITIONS_TABLE}
       SELECT * FROM json_populate_recordset(NULL::${DEFINITIONS_TABLE}, $1::json)`,
      [JSON.stringify(rows)],
    );
  });
}
