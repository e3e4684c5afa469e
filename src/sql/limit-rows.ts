/**
 * A statement whose answer is any n rows of one table: `SELECT <plain columns> FROM t LIMIT n`, with no
 * WHERE, ORDER BY, aggregate, DISTINCT, GROUP BY, HAVING, window, OFFSET, set operation, CTE, locking or
 * function call in it. As in PostgreSQL, a LIMIT without ORDER BY gives some n rows, so such a statement can
 * run once n rows of the table's window are loaded rather than after all of them.
 */
import { fieldsOf, type Node, walk } from './parse-tree.js';
import type { TableRef } from './scan-bounds.js';

/** What a SelectStmt of this shape may hold; any other key (whereClause, sortClause, …) makes it need more. */
const PLAIN_KEYS = new Set(['targetList', 'fromClause', 'limitCount', 'limitOption', 'op']);

/** The n of such a statement over `table`, or undefined when its answer may depend on more rows than n. */
export function rowsEnough(statement: Node, table: TableRef): number | undefined {
  const select = fieldsOf(statement, 'SelectStmt');
  if (select?.op !== 'SETOP_NONE' || select.limitOption !== 'LIMIT_OPTION_COUNT') return undefined;
  if (Object.keys(select).some((key) => !PLAIN_KEYS.has(key))) return undefined;
  const from = select.fromClause ?? [];
  const rangeVar = fieldsOf(from[0], 'RangeVar');
  if (from.length !== 1 || !rangeVar || rangeVar.relname !== table.name) return undefined;
  if (rangeVar.schemaname !== undefined && table.schema !== undefined && rangeVar.schemaname !== table.schema) return undefined;
  if (rangeVar.inh === false) return undefined;
  if (!isPlain(select.targetList)) return undefined;
  const n = fieldsOf(select.limitCount, 'A_Const')?.ival?.ival;
  return typeof n === 'number' && n > 0 ? n : undefined;
}

const NOT_PLAIN = { stop: true } as const;

/** Columns, stars, constants and operators on them: nothing that aggregates, calls a function or runs a subquery. */
function isPlain(targets: readonly Node[] | undefined): boolean {
  const found = walk<undefined, true>(targets, undefined, {
    FuncCall: () => NOT_PLAIN,
    SubLink: () => NOT_PLAIN,
    GroupingFunc: () => NOT_PLAIN,
    WindowDef: () => NOT_PLAIN,
  });
  return found === undefined;
}
