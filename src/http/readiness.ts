import type { Catalog } from '../catalog/catalog.js';
import type { Engine, EngineUnavailable } from '../engine/engine.js';
import type { ReadReplica } from '../engine/replica.js';
import type { StreamStore } from '../store/stream-store.js';

/** What /readyz tells: whether kinesql can answer statements, and what is wrong with single tables. */
export interface Readiness {
  ready: boolean;
  /** What keeps the whole server from answering: the engine (or its read replica) away, no definitions. */
  problems: string[];
  /** Tables whose stream cannot be read: each answers from what is loaded, or with an error, on its own. */
  tables: { table: string; stream: string; problem: string }[];
}

/**
 * The engine (or the read replica sessions run on) down, or no definition served, keep kinesql from
 * answering; a stream in error takes only its own table out, unless every table is required.
 */
export async function readiness(engine: Engine, store: StreamStore, catalog: Catalog, requireEveryTable: boolean, replica?: ReadReplica): Promise<Readiness> {
  const problems: string[] = [];
  const away = engine.unavailableReason;
  if (away !== undefined) problems.push(`engine: ${away}`);
  else await engine.query('SELECT 1').catch((error: unknown) => problems.push(`engine: ${(error as EngineUnavailable).reason ?? (error as Error).message}`));
  const replicaProblem = await replica?.problem();
  if (replicaProblem !== undefined) problems.push(`read replica: ${replicaProblem}`);
  // A broken definition file takes only its own table out (kinesql.definitions shows it), not the server.
  if (!catalog.status().some((definition) => definition.status !== 'error')) problems.push('no table definition is served');
  const tables = store
    .list()
    .filter((table) => table.lastError)
    .map((table) => ({
      table: `${table.definition.schemaName}.${table.definition.tableName}`,
      stream: table.definition.streamName,
      problem: String(table.lastError),
    }));
  const blocking = requireEveryTable ? [...problems, ...tables.map((entry) => `stream ${entry.stream} (table ${entry.table}): ${entry.problem}`)] : problems;
  return { ready: blocking.length === 0, problems: blocking, tables };
}
