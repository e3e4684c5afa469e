/**
 * A statement whose answer is any n rows of one table: `SELECT <plain columns> FROM t LIMIT n`, with no
 * WHERE, ORDER BY, aggregate, DISTINCT, GROUP BY, HAVING, window, OFFSET, set operation, CTE, locking or
 * function call in it. As in PostgreSQL, a LIMIT without ORDER BY gives some n rows, so such a statement can
 * run once n rows of the table's window are loaded rather than after all of them.
 */
import type { Node } from 'libpg-query';
import type { TableRef } from './scan-bounds.js';
import { nodesOfKind } from './tree-search.js';

type Fields = Record<string, unknown>;

/** What a SelectStmt of this shape may hold; any other key (whereClause, sortClause, …) makes it need more. */
const PLAIN_KEYS = new Set(['targetList', 'fromClause', 'limitCount', 'limitOption', 'op']);

/** The n of such a statement over `table`, or undefined when its answer may depend on more rows than n. */
export function rowsEnough(statement: Node, table: TableRef): number | undefined {
  const select = (statement as Fields).SelectStmt as Fields | undefined;
  if (select?.['op'] !== 'SETOP_NONE' || select['limitOption'] !== 'LIMIT_OPTION_COUNT') return undefined;
  if (Object.keys(select).some((key) => !PLAIN_KEYS.has(key))) return undefined;
  const from = Array.isArray(select['fromClause']) ? select['fromClause'] : [];
  const rangeVar = (from[0] as Fields | undefined)?.['RangeVar'] as Fields | undefined;
  if (from.length !== 1 || !rangeVar || rangeVar['relname'] !== table.name) return undefined;
  if (rangeVar['schemaname'] !== undefined && table.schema !== undefined && rangeVar['schemaname'] !== table.schema) return undefined;
  if (rangeVar['inh'] === false) return undefined;
  if (!isPlain(select['targetList'])) return undefined;
  const limit = ((select['limitCount'] as Fields | undefined)?.['A_Const'] as Fields | undefined)?.['ival'] as Fields | undefined;
  const n = limit?.['ival'];
  return typeof n === 'number' && n > 0 ? n : undefined;
}

/** Columns, stars, constants and operators on them: nothing that aggregates, calls a function or runs a subquery. */
function isPlain(tree: unknown): boolean {
  return ['FuncCall', 'SubLink', 'GroupingFunc', 'WindowDef'].every((kind) => nodesOfKind(tree, kind).length === 0);
}
