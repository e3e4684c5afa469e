/**
 * What the engine holds of each stream table, kept in the engine itself: per table the definition it was
 * built from, per shard how far it is loaded. A batch's rows and its shard's new position commit in one
 * transaction, so after a crash or a restart kinesql knows exactly what is loaded and reads only the rest.
 */
import { createHash } from 'node:crypto';
import type { TableDefinition } from '../catalog/definition.js';
import type { Engine, EngineTransaction } from '../engine/engine.js';
import type { StreamIncarnation } from '../kinesis/shard-listing.js';
import { STATE_SCHEMA } from '../engine/roles.js';
import type { LoadedRange, LowerBound } from './loaded-range.js';
import { partitionSchemaStatements } from './time-partitions.js';
import { quoteLiteral } from '../pg/quoting.js';

const TABLES = `${STATE_SCHEMA}.stream_tables`;
const POSITIONS = `${STATE_SCHEMA}.shard_positions`;

/** One shard's loaded range and counts, as stored. */
export interface StoredPosition {
  range: LoadedRange;
  closedAndRead: boolean;
  segmentCount: number;
  rows: number;
  invalidRows: number;
  messageBytes: number;
}

export async function createPositionTables(engine: Engine): Promise<void> {
  for (const statement of partitionSchemaStatements()) await engine.exec(statement);
  await engine.exec(`CREATE TABLE IF NOT EXISTS ${TABLES} (table_key text PRIMARY KEY, schema_name text NOT NULL, table_name text NOT NULL,
       fingerprint text NOT NULL, stream text NOT NULL)`);
  // Kept from an older kinesql, the table may lack the columns added since.
  await engine.exec(`ALTER TABLE ${TABLES} ADD COLUMN IF NOT EXISTS stream_arn text, ADD COLUMN IF NOT EXISTS stream_created timestamptz`);
  await engine.exec(
    `CREATE TABLE IF NOT EXISTS ${POSITIONS} (table_key text NOT NULL, shard_id text NOT NULL, lower_bound jsonb NOT NULL,
       first_sequence text, first_arrival timestamptz, last_sequence text, closed_and_read boolean NOT NULL,
       segment_count bigint NOT NULL, rows bigint NOT NULL, invalid_rows bigint NOT NULL, message_bytes bigint NOT NULL,
       PRIMARY KEY (table_key, shard_id))`,
  );
  // Kept from an older kinesql, the table may lack the columns added since.
  await engine.exec(`ALTER TABLE ${POSITIONS} ADD COLUMN IF NOT EXISTS last_arrival timestamptz`);
}

/**
 * Everything about a definition that shapes its engine table's rows (not where or when its file was read),
 * and the table's layout: a table built under another layout is built again.
 */
export function definitionFingerprint(definition: TableDefinition, partitionedByTime: boolean): string {
  const { source: _source, version: _version, ...shape } = definition;
  const layout = partitionedByTime ? 'partitioned by _message_timestamp' : 'plain';
  return createHash('sha256')
    .update(JSON.stringify({ ...shape, layout }))
    .digest('hex');
}

/** The fingerprint the engine table of `key` was built from, when that table is still there. */
export async function storedFingerprint(engine: Queries, key: string, qualifiedTable: string): Promise<string | undefined> {
  const { rows } = await engine.query(`SELECT t.fingerprint FROM ${TABLES} t WHERE t.table_key = $1 AND to_regclass($2) IS NOT NULL`, [key, qualifiedTable]);
  return rows[0] ? String(rows[0]['fingerprint']) : undefined;
}

/** Records that `key`'s engine table is (re)built from definition: positions start over, for whichever stream the name stands for. */
export async function registerTable(tx: EngineTransaction, key: string, definition: TableDefinition, fingerprint: string): Promise<void> {
  await tx.query(`DELETE FROM ${POSITIONS} WHERE table_key = $1`, [key]);
  await tx.query(
    `INSERT INTO ${TABLES} (table_key, schema_name, table_name, fingerprint, stream) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (table_key) DO UPDATE SET fingerprint = excluded.fingerprint, stream = excluded.stream, stream_arn = NULL, stream_created = NULL`,
    [key, definition.schemaName, definition.tableName, fingerprint, definition.streamName],
  );
}

/** The table now serves `definition` under `key` with the rows (and positions) of `previousKey`. */
export async function renameTable(tx: EngineTransaction, previousKey: string, key: string, definition: TableDefinition, fingerprint: string): Promise<void> {
  if (previousKey !== key) {
    await tx.query(`DELETE FROM ${POSITIONS} WHERE table_key = $1`, [key]);
    await tx.query(`UPDATE ${POSITIONS} SET table_key = $2 WHERE table_key = $1`, [previousKey, key]);
    await tx.query(`DELETE FROM ${TABLES} WHERE table_key = $1`, [previousKey]);
  }
  await tx.query(
    `INSERT INTO ${TABLES} (table_key, schema_name, table_name, fingerprint, stream) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (table_key) DO UPDATE SET fingerprint = excluded.fingerprint, stream = excluded.stream`,
    [key, definition.schemaName, definition.tableName, fingerprint, definition.streamName],
  );
}

/** Takes the lock under which one kinesql server at a time changes a table's definition in the engine. */
export async function lockDefinition(tx: EngineTransaction, key: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`kinesql.definition ${key}`]);
}

/** Every engine table registered by any run, with its qualified name (as regclass text). */
export async function registeredTables(engine: Engine): Promise<{ key: string; table: string }[]> {
  const { rows } = await engine.query(
    `SELECT t.table_key, format('%I.%I', t.schema_name, t.table_name) AS qualified FROM ${TABLES} t
      WHERE to_regclass(format('%I.%I', t.schema_name, t.table_name)) IS NOT NULL`,
  );
  return rows.map((row) => ({ key: String(row['table_key']), table: String(row['qualified']) }));
}

export async function forgetTable(tx: EngineTransaction, key: string): Promise<void> {
  await tx.query(`DELETE FROM ${POSITIONS} WHERE table_key = $1`, [key]);
  await tx.query(`DELETE FROM ${TABLES} WHERE table_key = $1`, [key]);
}

/** Anything that runs a query: the engine's pool, or one transaction. */
export type Queries = Pick<EngineTransaction, 'query'>;

/** The stream whose records `key`'s table holds, when it has loaded any since kinesql began to record it. */
export async function storedIncarnation(engine: Queries, key: string): Promise<StreamIncarnation | undefined> {
  const { rows } = await engine.query(`SELECT stream_arn, stream_created FROM ${TABLES} WHERE table_key = $1 AND stream_created IS NOT NULL`, [key]);
  const row = rows[0];
  return row ? { arn: String(row['stream_arn']), createdAt: new Date(row['stream_created'] as string | Date) } : undefined;
}

export async function saveIncarnation(tx: EngineTransaction, key: string, incarnation: StreamIncarnation): Promise<void> {
  await tx.query(`UPDATE ${TABLES} SET stream_arn = $2, stream_created = $3 WHERE table_key = $1`, [key, incarnation.arn, incarnation.createdAt.toISOString()]);
}

/**
 * Drops what `key`'s table holds of an earlier stream of the same name, rows and positions, and records the
 * stream it holds from now on. A DELETE, not a TRUNCATE: sessions reading the table are not waited for.
 * Returns the number of rows dropped.
 */
export async function replaceIncarnation(tx: EngineTransaction, key: string, qualifiedTable: string, incarnation: StreamIncarnation): Promise<number> {
  const { affectedRows } = await tx.query(`DELETE FROM ${qualifiedTable}`);
  await tx.query(`DELETE FROM ${POSITIONS} WHERE table_key = $1`, [key]);
  await saveIncarnation(tx, key, incarnation);
  return affectedRows;
}

export async function loadPositions(engine: Queries, key: string, shardIds?: readonly string[]): Promise<Map<string, StoredPosition>> {
  const { rows } =
    shardIds === undefined
      ? await engine.query(`SELECT * FROM ${POSITIONS} WHERE table_key = $1`, [key])
      : await engine.query(`SELECT * FROM ${POSITIONS} WHERE table_key = $1 AND shard_id = ANY($2::text[])`, [key, shardIds]);
  return new Map(rows.map((row) => [String(row['shard_id']), positionFromRow(row)]));
}

/**
 * Takes the lock that orders every load of one shard of one table, across all kinesql servers on the engine,
 * until the transaction ends; then reads the shard's stored position. One round trip with the transaction's
 * BEGIN: the read is a statement of its own after the lock is granted, so it sees every load committed before.
 */
export async function lockAndLoadPosition(tx: EngineTransaction, key: string, shardId: string): Promise<StoredPosition | undefined> {
  const [, read] = await tx.queries(
    `SELECT pg_advisory_xact_lock(hashtext(${quoteLiteral(`kinesql.shard ${key} ${shardId}`)}));
     SELECT * FROM ${POSITIONS} WHERE table_key = ${quoteLiteral(key)} AND shard_id = ${quoteLiteral(shardId)}`,
  );
  const row = read?.rows[0];
  return row === undefined ? undefined : positionFromRow(row);
}

function positionFromRow(row: Record<string, unknown>): StoredPosition {
  const range: LoadedRange = { lower: boundFromJson(row['lower_bound'] as StoredBound) };
  if (row['first_sequence'] !== null) range.firstSequence = String(row['first_sequence']);
  if (row['first_arrival'] !== null) range.firstArrival = new Date(row['first_arrival'] as string | Date);
  if (row['last_sequence'] !== null) range.lastSequence = String(row['last_sequence']);
  if (row['last_arrival'] !== null && row['last_arrival'] !== undefined) range.lastArrival = new Date(row['last_arrival'] as string | Date);
  return {
    range,
    closedAndRead: row['closed_and_read'] === true,
    segmentCount: Number(row['segment_count']),
    rows: Number(row['rows']),
    invalidRows: Number(row['invalid_rows']),
    messageBytes: Number(row['message_bytes']),
  };
}

export async function savePosition(tx: EngineTransaction, key: string, shardId: string, position: StoredPosition): Promise<void> {
  await tx.query(savePositionSql(key, shardId, position));
}

/** The statement that stores a shard's position (values written out: it can go with the COMMIT, EngineTransaction.atCommit). */
export function savePositionSql(key: string, shardId: string, position: StoredPosition): string {
  const { range } = position;
  const text = (value: string | undefined): string => (value === undefined ? 'NULL' : quoteLiteral(value));
  const values = [
    quoteLiteral(key),
    quoteLiteral(shardId),
    quoteLiteral(JSON.stringify(boundToJson(range.lower))),
    text(range.firstSequence),
    text(range.firstArrival?.toISOString()),
    text(range.lastSequence),
    String(position.closedAndRead),
    String(position.segmentCount),
    String(position.rows),
    String(position.invalidRows),
    String(position.messageBytes),
    text(range.lastArrival?.toISOString()),
  ];
  return `INSERT INTO ${POSITIONS} (table_key, shard_id, lower_bound, first_sequence, first_arrival, last_sequence, closed_and_read,
       segment_count, rows, invalid_rows, message_bytes, last_arrival) VALUES (${values.join(', ')})
     ON CONFLICT (table_key, shard_id) DO UPDATE SET lower_bound = excluded.lower_bound, first_sequence = excluded.first_sequence,
       first_arrival = excluded.first_arrival, last_sequence = excluded.last_sequence, closed_and_read = excluded.closed_and_read,
       segment_count = excluded.segment_count, rows = excluded.rows, invalid_rows = excluded.invalid_rows, message_bytes = excluded.message_bytes,
       last_arrival = excluded.last_arrival`;
}

type StoredBound = { kind: 'horizon' } | { kind: 'time'; at: string } | { kind: 'sequence'; sequenceNumber: string; inclusive: boolean };

function boundToJson(bound: LowerBound): StoredBound {
  return bound.kind === 'time' ? { kind: 'time', at: bound.at.toISOString() } : bound;
}

function boundFromJson(bound: StoredBound): LowerBound {
  return bound.kind === 'time' ? { kind: 'time', at: new Date(bound.at) } : bound;
}
