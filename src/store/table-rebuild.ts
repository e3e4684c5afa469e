import { columnNames, createTableStatements, indexStatements } from '../catalog/ddl.js';
import { qualifiedName, quoteIdent, type TableName } from '../pg/quoting.js';
import { INTERNAL_COLUMNS, type TableDefinition } from '../catalog/definition.js';
import { createDecoder } from '../decode/index.js';
import { type MappingVerdict, MappingSample } from '../decode/mapping-sample.js';
import type { Engine } from '../engine/engine.js';
import { tableAccessStatements } from '../engine/roles.js';
import { copyLine } from './copy-text.js';
import { DDL_LOCK_TIMEOUT_MS, lockTablesWithoutQueueing, refuseWhileHeldByIdleTransaction } from './ddl-locks.js';
import { listPartitions, partitionSeconds, partitionSecondsOf, renamePartitions, TimePartitions } from './time-partitions.js';

/** Formats whose decoded payload is text, so the `_message` column holds everything needed to decode again. */
const TEXT_FORMATS = new Set(['json', 'csv', 'dummy']);

/**
 * Whether a changed definition can be served by decoding the messages already loaded again, instead of
 * re-reading the stream: same stream, same compression (`_message` holds the payload after
 * decompression), and text formats before and after.
 */
export function canRebuildFromLoadedMessages(old: TableDefinition, next: TableDefinition): boolean {
  return (
    old.streamName === next.streamName &&
    old.message.compressionCodec === next.message.compressionCodec &&
    TEXT_FORMATS.has(old.message.dataFormat) &&
    TEXT_FORMATS.has(next.message.dataFormat)
  );
}

const REBUILD_BATCH_ROWS = 10_000;
const encoder = new TextEncoder();

/**
 * Replaces old's engine table by one with next's columns, filled by decoding every loaded `_message`
 * with next's decoder; the internal columns are carried over as they are. Runs in one engine transaction,
 * so no statement sees the table half rebuilt: statements that started before finish on the old table,
 * later ones see the new one.
 */
export async function rebuildFromLoadedMessages(
  engine: Engine,
  old: TableDefinition,
  next: TableDefinition,
  partitionedByTime: boolean,
): Promise<{ rows: number; mappings: MappingVerdict | undefined }> {
  const decoder = createDecoder(next.message);
  const staging: TableDefinition = { ...next, tableName: `${next.tableName}__kinesql_rebuild` };
  const internalList = INTERNAL_COLUMNS.map((column) => `${quoteIdent(column.name)}::text`).join(', ');
  const copySql = `COPY ${qualifiedName(staging)} (${columnNames(next).map(quoteIdent).join(', ')}) FROM STDIN`;
  const validIndex = INTERNAL_COLUMNS.findIndex((column) => column.name === '_message_valid');
  const messageIndex = INTERNAL_COLUMNS.findIndex((column) => column.name === '_message');
  return engine.transaction(
    async (tx) => {
      // The oldest loaded messages come first: which of next's mappings match nothing in them.
      let mappings: MappingVerdict | undefined;
      const sample = new MappingSample(next.message.fields, (verdict) => {
        mappings = verdict;
      });
      await refuseWhileHeldByIdleTransaction(tx, [old, next]);
      await tx.query(`DROP TABLE IF EXISTS ${qualifiedName(staging)}`);
      for (const statement of [...createTableStatements(staging, { partitionedByTime }), ...tableAccessStatements(staging, next)]) await tx.query(statement);
      const oldPartitions = partitionedByTime ? await listPartitions(tx, old) : undefined;
      // The staging table's partitions are as wide as the old table's.
      const partitions = oldPartitions && new TimePartitions(staging, partitionSecondsOf(oldPartitions) ?? partitionSeconds(undefined));
      const sources: { table: TableName; from?: Date }[] = oldPartitions ?? [{ table: old }];
      let copied = 0;
      // Partition by partition, each read once through a cursor: a columnar partition (kinesql.closed-partition-storage)
      // has no row ids to page by.
      for (const source of sources) {
        await tx.query(`DECLARE kinesql_rebuild NO SCROLL CURSOR FOR SELECT ${internalList} FROM ${qualifiedName(source.table)}`);
        for (;;) {
          const { rows } = await tx.query(`FETCH ${REBUILD_BATCH_ROWS} FROM kinesql_rebuild`);
          if (rows.length === 0) break;
          if (partitions && source.from) await partitions.ensure(engine, [source.from], tx);
          let text = '';
          for (const row of rows) {
            const internal = INTERNAL_COLUMNS.map((column) => (row[column.name] ?? null) as string | null);
            const matches = sample.matches;
            const decoded = decoder.decode(encoder.encode(internal[messageIndex] ?? ''), matches);
            if (matches) sample.counted();
            internal[validIndex] = decoded.valid ? 't' : 'f';
            text += copyLine([...decoded.values, ...internal]);
          }
          copied += await tx.copyFrom(copySql, Buffer.from(text, 'utf8'));
        }
        await tx.query('CLOSE kinesql_rebuild');
      }
      for (const statement of indexStatements(staging)) await tx.query(statement);
      await lockTablesWithoutQueueing(tx, [old, next]);
      await tx.query(`DROP TABLE ${qualifiedName(old)}`);
      if (old.schemaName !== next.schemaName || old.tableName !== next.tableName) {
        await tx.query(`DROP TABLE IF EXISTS ${qualifiedName(next)}`);
      }
      await tx.query(`ALTER TABLE ${qualifiedName(staging)} RENAME TO ${quoteIdent(next.tableName)}`);
      if (partitionedByTime) await renamePartitions(tx, next);
      sample.judge();
      return { rows: copied, mappings };
    },
    { lockTimeoutMs: DDL_LOCK_TIMEOUT_MS },
  );
}
