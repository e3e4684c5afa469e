import type { Catalog } from '../catalog/catalog.js';
import type { Engine, EngineUnavailable } from '../engine/engine.js';
import type { ReadReplica } from '../engine/replica.js';
import type { StreamStore } from '../store/stream-store.js';

/**
 * What keeps kinesql from answering statements well: the engine (or the read replica sessions run on) down,
 * no table served, streams in error.
 */
export async function readinessProblems(engine: Engine, store: StreamStore, catalog: Catalog, replica?: ReadReplica): Promise<string[]> {
  const problems: string[] = [];
  const away = engine.unavailableReason;
  if (away !== undefined) problems.push(`engine: ${away}`);
  else await engine.query('SELECT 1').catch((error: unknown) => problems.push(`engine: ${(error as EngineUnavailable).reason ?? (error as Error).message}`));
  const replicaProblem = await replica?.problem();
  if (replicaProblem !== undefined) problems.push(`read replica: ${replicaProblem}`);
  // A broken definition file takes only its own table out (kinesql.definitions shows it), not the server.
  if (!catalog.status().some((definition) => definition.status !== 'error')) problems.push('no table definition is served');
  for (const table of store.list()) {
    if (table.lastError)
      problems.push(`stream ${table.definition.streamName} (table ${table.definition.schemaName}.${table.definition.tableName}): ${table.lastError}`);
  }
  return problems;
}
