/**
 * The Trino connector's incremental mode: with `kinesis.checkpoint_enabled`, a statement of iteration N under a logical
 * name sees only records after the checkpoint that iteration N − 1 left (the tables' row policies read
 * kinesql.checkpoints), and leaves its own for iteration N + 1. The Trino connector kept checkpoints in DynamoDB;
 * kinesql keeps them in the engine.
 */
import { qualifiedName } from '../pg/quoting.js';
import type { Engine } from '../engine/engine.js';
import { CHECKPOINTS_TABLE, tableKey, type CheckpointDefaults } from '../engine/roles.js';
import { SESSION_PROPERTIES, sessionPropertyValue } from '../config/session-properties.js';
import type { StreamTable } from './stream-table.js';

export interface CheckpointMode {
  /** The login role the checkpoints belong to: the session's own (its backend's session_authorization). */
  role: string;
  logicalName: string;
  iteration: number;
}

/** The setting kinesql reads back from a session's backend to know whose checkpoints its statements move. */
export const SESSION_ROLE_SETTING = 'session_authorization';

/**
 * The Trino connector's incremental mode as a session has it: its SET kinesis.* values over the configured ones, under
 * the session's login role (none known: no checkpoints are read or moved). Throws SessionSettingError.
 */
export function checkpointMode(settings: ReadonlyMap<string, string> | undefined, defaults: CheckpointDefaults | undefined): CheckpointMode | undefined {
  const enabled = sessionPropertyValue(settings, SESSION_PROPERTIES.checkpointEnabled) ?? defaults?.enabled ?? false;
  const role = settings?.get(SESSION_ROLE_SETTING);
  if (!enabled || !role) return undefined;
  const logicalName = sessionPropertyValue(settings, SESSION_PROPERTIES.checkpointLogicalName) ?? (defaults?.logicalName || 'process1');
  const iteration = sessionPropertyValue(settings, SESSION_PROPERTIES.iterationNumber) ?? defaults?.iterationNumber ?? 0;
  return { role, logicalName, iteration };
}

/**
 * After a statement of checkpoint mode: per shard, the last record it could see becomes this iteration's
 * checkpoint (shards it saw nothing new of keep the previous iteration's). Records loaded by other sessions
 * after this statement's catch-up (past `reached`) are left to the next iteration, so an iteration may
 * repeat a record but never skips one.
 */
export async function saveCheckpoints(
  engine: Engine,
  mode: CheckpointMode,
  visibleFrom: Date | undefined,
  tables: { table: StreamTable; reached: Map<string, string> }[],
): Promise<void> {
  for (const { table, reached } of tables) {
    const key = tableKey(table.definition);
    await engine.transaction(async (tx) => {
      await tx.query(`DELETE FROM ${CHECKPOINTS_TABLE} WHERE role_name = $1 AND logical_name = $2 AND iteration = $3 AND table_key = $4`, [
        mode.role,
        mode.logicalName,
        mode.iteration,
        key,
      ]);
      await tx.query(
        `INSERT INTO ${CHECKPOINTS_TABLE} (role_name, logical_name, iteration, table_key, shard_id, sequence_number)
         SELECT $1, $2, $3, $4, shard_id, max(sequence_number) FROM (
           SELECT c.shard_id, c.sequence_number FROM ${CHECKPOINTS_TABLE} c
            WHERE c.role_name = $1 AND c.logical_name = $2 AND c.iteration = $3 - 1 AND c.table_key = $4
           UNION ALL
           SELECT t._shard_id, max(t._shard_sequence_id::numeric) FROM ${qualifiedName(table.definition)} t
             JOIN jsonb_each_text($5::jsonb) r ON r.key = t._shard_id
            WHERE t._message_timestamp >= $6::timestamptz AND t._shard_sequence_id::numeric <= r.value::numeric
            GROUP BY t._shard_id
         ) seen GROUP BY shard_id`,
        [mode.role, mode.logicalName, mode.iteration, key, JSON.stringify(Object.fromEntries(reached)), visibleFrom?.toISOString() ?? '-infinity'],
      );
    });
  }
}
