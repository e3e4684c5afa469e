import { qualifiedName } from '../catalog/ddl.js';
import type { KinesqlConfig } from '../config/config.js';
import type { Engine } from '../engine/engine.js';
import type { StatementVisibility } from '../engine/row-visibility.js';
import type { CheckpointStore, ShardPositions } from '../store/checkpoints.js';
import { sessionScan, SessionSettingError } from '../store/session-scan.js';
import type { StreamTable } from '../store/stream-table.js';

export type CheckpointDefaults = NonNullable<KinesqlConfig['checkpoint']>;

interface CheckpointMode {
  logicalName: string;
  iteration: number;
}

const TRUE = new Set(['true', 'on', 'yes', '1']);

/** The seed's incremental mode as a session has it: its SET kinesis.* values over the configured ones. */
export function checkpointMode(settings: ReadonlyMap<string, string> | undefined, defaults: CheckpointDefaults | undefined): CheckpointMode | undefined {
  const enabledSetting = settings?.get('kinesis.checkpoint_enabled')?.trim().toLowerCase();
  const enabled = enabledSetting ? TRUE.has(enabledSetting) : (defaults?.enabled ?? false);
  if (!enabled) return undefined;
  const logicalName = settings?.get('kinesis.checkpoint_logical_name')?.trim() || defaults?.logicalName || 'process1';
  const iterationText = settings?.get('kinesis.iteration_number')?.trim();
  const iteration = iterationText ? Number(iterationText) : (defaults?.iterationNumber ?? 0);
  if (!Number.isInteger(iteration) || iteration < 0) {
    throw new SessionSettingError('kinesis.iteration_number', iterationText ?? String(iteration), 'a whole number of 0 or more');
  }
  return { logicalName, iteration };
}

export const tableKey = (table: StreamTable): string => `${table.definition.schemaName}.${table.definition.tableName}`;

/**
 * What one statement of a session may see of the stream tables: the session's window (the seed's
 * SET kinesis.iter_* properties, else the configured window) and, in checkpoint mode, only records after
 * the checkpoint of the previous iteration. Enforced in the engine by the tables' row policies.
 */
export async function statementVisibility(
  tables: StreamTable[],
  settings: ReadonlyMap<string, string> | undefined,
  windowDefaults: { iterFromTimestamp: boolean; iterOffsetSeconds: number },
  checkpoints: { store: CheckpointStore; defaults: CheckpointDefaults | undefined },
  now: Date,
): Promise<StatementVisibility> {
  const scan = sessionScan(settings, windowDefaults, now);
  const visibleFrom = scan.window
    ? scan.window.start
    : windowDefaults.iterFromTimestamp
      ? new Date(now.getTime() - windowDefaults.iterOffsetSeconds * 1000)
      : undefined;
  const visibility: StatementVisibility = visibleFrom ? { visibleFrom } : {};
  const mode = checkpointMode(settings, checkpoints.defaults);
  if (mode && mode.iteration > 0) {
    const afterSequence: Record<string, ShardPositions> = {};
    for (const table of tables) {
      const previous = await checkpoints.store.get(mode.logicalName, mode.iteration - 1, tableKey(table));
      if (previous) afterSequence[tableKey(table)] = previous;
    }
    if (Object.keys(afterSequence).length > 0) visibility.afterSequence = afterSequence;
  }
  return visibility;
}

/**
 * In checkpoint mode, after a statement: the last record per shard it could see becomes this iteration's
 * checkpoint (shards it saw nothing new of keep the previous iteration's). Runs as the statement's role,
 * so the row policy limits it to exactly what the statement saw. Call with the engine held.
 */
export async function saveCheckpoints(
  engine: Engine,
  tables: StreamTable[],
  settings: ReadonlyMap<string, string> | undefined,
  checkpoints: { store: CheckpointStore; defaults: CheckpointDefaults | undefined },
): Promise<void> {
  const mode = checkpointMode(settings, checkpoints.defaults);
  if (!mode) return;
  for (const table of tables) {
    const key = tableKey(table);
    const previous = mode.iteration > 0 ? await checkpoints.store.get(mode.logicalName, mode.iteration - 1, key) : undefined;
    const { rows } = await engine.query(
      `SELECT _shard_id AS shard, max(_shard_sequence_id::numeric)::text AS last FROM ${qualifiedName(table.definition)} GROUP BY 1`,
    );
    const positions: ShardPositions = { ...previous };
    for (const row of rows) positions[String(row['shard'])] = String(row['last']);
    await checkpoints.store.put(mode.logicalName, mode.iteration, key, positions);
  }
}
