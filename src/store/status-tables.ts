import type { Engine } from '../engine/engine.js';
import { tableKey } from '../engine/roles.js';
import { describeBound } from './loaded-range.js';
import { type LeaseHolding, leaseKey, type ShardLeases } from './shard-leases.js';
import type { StreamTable } from './stream-table.js';

/**
 * `kinesql.streams` and `kinesql.shards`: what the store holds of each stream table and how reading its
 * shards goes. Plain tables in the engine, rewritten before every statement that reads them.
 */
export const STATUS_SCHEMA = 'kinesql';
export const STATUS_TABLES = ['streams', 'shards'] as const;

const STREAMS_COLUMNS = `table_schema text NOT NULL, table_name text NOT NULL, stream text NOT NULL,
  shards integer NOT NULL, open_shards integer NOT NULL, records bigint NOT NULL, invalid_records bigint NOT NULL,
  message_bytes bigint NOT NULL, window_start timestamp with time zone, catching_up boolean NOT NULL, last_error text,
  schema_registry_error text, stream_status text, stream_created timestamp with time zone, unmatched_fields text[]`;

const SHARDS_COLUMNS = `table_schema text NOT NULL, table_name text NOT NULL, stream text NOT NULL, shard_id text NOT NULL,
  parent_shard_id text, adjacent_parent_shard_id text, state text NOT NULL, loaded_from text,
  first_sequence_number text, last_sequence_number text, records bigint NOT NULL, invalid_records bigint NOT NULL,
  millis_behind_latest bigint, get_records_calls bigint NOT NULL, records_read bigint NOT NULL, bytes_read bigint NOT NULL,
  throttles bigint NOT NULL, retries bigint NOT NULL, expired_iterators bigint NOT NULL, last_error text,
  lease_holder text, lease_expires_at timestamp with time zone`;

export async function createStatusTables(engine: Engine): Promise<void> {
  await engine.transaction(async (tx) => {
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${STATUS_SCHEMA}`);
    // Kept if there (other kinesql servers on the same engine may be using them).
    await tx.query(`CREATE TABLE IF NOT EXISTS ${STATUS_SCHEMA}.streams (${STREAMS_COLUMNS})`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${STATUS_SCHEMA}.shards (${SHARDS_COLUMNS})`);
    // Kept from an older kinesql, the table may lack columns added since.
    await tx.query(
      `ALTER TABLE ${STATUS_SCHEMA}.streams ADD COLUMN IF NOT EXISTS schema_registry_error text, ADD COLUMN IF NOT EXISTS stream_status text,
         ADD COLUMN IF NOT EXISTS stream_created timestamp with time zone, ADD COLUMN IF NOT EXISTS unmatched_fields text[]`,
    );
    await tx.query(
      `ALTER TABLE ${STATUS_SCHEMA}.shards ADD COLUMN IF NOT EXISTS lease_holder text, ADD COLUMN IF NOT EXISTS lease_expires_at timestamp with time zone`,
    );
    await tx.query(`COMMENT ON TABLE ${STATUS_SCHEMA}.streams IS 'Stream tables: records held, window, errors (refreshed when queried)'`);
    await tx.query(
      `COMMENT ON TABLE ${STATUS_SCHEMA}.shards IS 'Shards of every stream table: lineage, state, loaded range, reads, throttles, retries and lease holder (refreshed when queried)'`,
    );
  });
}

/** Does a statement name one of the status tables (qualified, or unqualified with kinesql on the search path)? */
export function namesStatusTable(relations: readonly { schema?: string; name: string }[], searchPath: readonly string[]): boolean {
  return relations.some(
    (relation) =>
      (STATUS_TABLES as readonly string[]).includes(relation.name) &&
      (relation.schema === STATUS_SCHEMA || (relation.schema === undefined && searchPath.includes(STATUS_SCHEMA))),
  );
}

/** `leases`: servers on one engine divide the shards, and each shard's row names its lease holder. */
export async function writeStatusTables(engine: Engine, tables: StreamTable[], leases?: ShardLeases): Promise<void> {
  const streams = tables.map((table) => {
    const shards = table.shardStatus();
    const start = table.windowStart();
    const stream = table.streamStatus();
    return {
      table_schema: table.definition.schemaName,
      table_name: table.definition.tableName,
      stream: table.definition.streamName,
      shards: shards.length,
      open_shards: shards.filter((shard) => shard.state === 'open').length,
      records: table.rowsLoaded,
      invalid_records: shards.reduce((sum, shard) => sum + shard.invalidRows, 0),
      message_bytes: table.bytesLoaded,
      window_start: start ? start.toISOString() : null,
      catching_up: table.loading,
      last_error: table.lastError ?? null,
      schema_registry_error: table.schemaRegistryError() ?? null,
      stream_status: stream.status,
      stream_created: stream.createdAt?.toISOString() ?? null,
      unmatched_fields: table.unmatchedFields() ?? null,
    };
  });
  const shardRows = (holdings: Map<string, LeaseHolding>) =>
    tables.flatMap((table) =>
      table.shardStatus().map((shard) => {
        const lease = holdings.get(leaseKey(tableKey(table.definition), shard.shardId));
        return {
          table_schema: table.definition.schemaName,
          table_name: table.definition.tableName,
          stream: table.definition.streamName,
          shard_id: shard.shardId,
          parent_shard_id: shard.parentShardId ?? null,
          adjacent_parent_shard_id: shard.adjacentParentShardId ?? null,
          state: shard.state,
          loaded_from: shard.loadedFrom ? describeBound(shard.loadedFrom) : null,
          first_sequence_number: shard.firstSequenceNumber ?? null,
          last_sequence_number: shard.lastSequenceNumber ?? null,
          records: shard.rows,
          invalid_records: shard.invalidRows,
          millis_behind_latest: shard.reader.millisBehindLatest ?? null,
          get_records_calls: shard.reader.calls,
          records_read: shard.reader.records,
          bytes_read: shard.reader.bytes,
          throttles: shard.reader.throttles,
          retries: shard.reader.retries,
          expired_iterators: shard.reader.expiredIterators,
          last_error: shard.reader.lastError ?? null,
          lease_holder: lease?.holder ?? null,
          lease_expires_at: lease?.expiresAt.toISOString() ?? null,
        };
      }),
    );
  await engine.transaction(async (tx) => {
    // Writers take turns, or two refreshes' deletes would each miss the other's rows.
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('kinesql.status'))`);
    const holdings = leases ? await leases.holdings(tx) : new Map<string, LeaseHolding>();
    for (const [name, rows] of [
      ['streams', streams],
      ['shards', shardRows(holdings)],
    ] as const) {
      await tx.query(
        `WITH fresh AS (DELETE FROM ${STATUS_SCHEMA}.${name})
         INSERT INTO ${STATUS_SCHEMA}.${name} SELECT * FROM json_populate_recordset(NULL::${STATUS_SCHEMA}.${name}, $1::json)`,
        [JSON.stringify(rows)],
      );
    }
  });
}
