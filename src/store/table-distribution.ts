/**
 * Where a stream table's rows live: on the one engine server, or (kinesql.engine-distribution = citus) spread
 * over a Citus cluster's workers by `_partition_key`, still partitioned by time, each shard with the row
 * policy that reads the session's published settings (engine/citus.ts).
 */
import { createTableStatements } from '../catalog/ddl.js';
import type { TableDefinition } from '../catalog/definition.js';
import { distributeTable, replaceShardPolicies } from '../engine/citus.js';
import type { Engine, EngineTransaction } from '../engine/engine.js';
import { READER_ROLE, tableAccessStatements, VISIBLE_ROWS_POLICY, visibleRows } from '../engine/roles.js';
import type { TableName } from '../pg/quoting.js';

export interface TableLayout {
  partitionedByTime: boolean;
  distributed: boolean;
}

/** Creates a definition's engine table, readable by the reader role through its row policy, in `tx`. */
export async function createStreamTable(tx: EngineTransaction, definition: TableDefinition, layout: TableLayout): Promise<void> {
  for (const statement of createTableStatements(definition, layout)) await tx.query(statement);
  if (layout.distributed) await distributeTable(tx, definition);
  for (const statement of tableAccessStatements(definition, definition, layout.distributed)) await tx.query(statement);
}

/**
 * Gives each shard of a distributed stream table its row policy, once the table is committed (Citus sets it
 * on each shard over connections of its own); again at each start, in case Citus moved or split shards. Until
 * then the shards have the table's own policy, which shows the same rows at a higher cost per row.
 */
export function setShardPolicies(engine: Engine, table: TableName): Promise<void> {
  return replaceShardPolicies(engine, table, VISIBLE_ROWS_POLICY, READER_ROLE, visibleRows(table, 'shard'));
}
