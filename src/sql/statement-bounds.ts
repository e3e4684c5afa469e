/**
 * Where a statement's scan bounds (scan-bounds.ts) come from once its text is analysed: its parse tree when
 * the main thread parsed it, or, when a worker did (the tree stays there: copying it back would cost the
 * main thread as much as parsing), bounds the worker worked out for every table the statement may mean.
 */
import type { Node } from './parse-tree.js';
import type { ScanBounds } from '../store/scan-request.js';
import { rowsEnough } from './limit-rows.js';
import { readsNoRows, scanBoundsFor, type TableRef } from './scan-bounds.js';
import type { RelationName } from './stream-tables.js';

export interface StatementBounds {
  /** The bounds the statement puts on `table`, for a statement starting at `start`; undefined = none. */
  boundsFor(table: TableRef, start: Date): ScanBounds | undefined;
  /** Whether the statement reads no rows of `table` (EXPLAIN, LIMIT 0, a constant-false WHERE): no catch-up. */
  readsNoRows(table: TableRef): boolean;
  /** n when the statement's answer is any n rows of `table` (`SELECT … FROM t LIMIT n`, limit-rows.ts). */
  rowsEnough(table: TableRef): number | undefined;
}

export function boundsOfTree(node: Node): StatementBounds {
  return {
    boundsFor: (table, start) => scanBoundsFor(node, table, start),
    readsNoRows: (table) => readsNoRows(node, table),
    rowsEnough: (table) => rowsEnough(node, table),
  };
}

/**
 * A table's bounds worked out at two statement starts, `at` and `at + FAR_MS`. A bound is either a fixed
 * instant or the start plus a constant, or the least or greatest of such: so it never moves faster than the
 * start. Equal at both: fixed; apart by exactly FAR_MS: the start plus a constant throughout; otherwise the
 * earlier one, which is never later than the bound at any start after `at` (it may load more, never less).
 */
export interface PrecomputedTable {
  schema: string;
  name: string;
  early?: ScanBounds | undefined;
  late?: ScanBounds | undefined;
  /** The statement reads no rows of the table. */
  noRows: boolean;
  /** Its answer is any this many rows of the table. */
  enough?: number;
}

export interface PrecomputedBounds {
  /** When the bounds were worked out (epoch ms): before any start they are used for. */
  at: number;
  tables: PrecomputedTable[];
}

const FAR_MS = 100 * 365 * 86_400_000;

/** Stands for every schema the statement does not name: a table it names without one, in any other schema. */
const OTHER_SCHEMA = '';

export function precomputeBounds(node: Node, relations: readonly RelationName[], at: number): PrecomputedBounds {
  const tables: PrecomputedTable[] = [];
  for (const name of new Set(relations.map((relation) => relation.name))) {
    const schemas = new Set(relations.flatMap((relation) => (relation.name === name && relation.schema !== undefined ? [relation.schema] : [])));
    for (const schema of [...schemas, OTHER_SCHEMA]) {
      const ref = { schema, name };
      const early = scanBoundsFor(node, ref, new Date(at));
      // Only a time bound can depend on the start.
      const late = early?.fromTime ? scanBoundsFor(node, ref, new Date(at + FAR_MS)) : early;
      const enough = rowsEnough(node, ref);
      tables.push({ schema, name, early, late, noRows: readsNoRows(node, ref), ...(enough === undefined ? {} : { enough }) });
    }
  }
  return { at, tables };
}

function fromTimeAt(early: Date | undefined, late: Date | undefined, at: number, start: Date): Date | undefined {
  if (early === undefined || late === undefined) return undefined;
  if (early.getTime() === late.getTime()) return early;
  if (late.getTime() - early.getTime() === FAR_MS) return new Date(start.getTime() + (early.getTime() - at));
  return early;
}

export function boundsOfPrecomputed(precomputed: PrecomputedBounds): StatementBounds {
  const entryFor = (table: TableRef): PrecomputedTable | undefined =>
    precomputed.tables.find((t) => t.name === table.name && t.schema === table.schema) ??
    precomputed.tables.find((t) => t.name === table.name && t.schema === OTHER_SCHEMA);
  return {
    readsNoRows: (table) => entryFor(table)?.noRows ?? false,
    rowsEnough: (table) => entryFor(table)?.enough,
    boundsFor(table, start) {
      const entry = entryFor(table);
      const { early, late } = entry ?? {};
      if (early === undefined || late === undefined) return undefined;
      const { fromTime: _early, ...rest } = early;
      const fromTime = fromTimeAt(early.fromTime, late.fromTime, precomputed.at, start);
      return fromTime === undefined ? rest : { ...rest, fromTime };
    },
  };
}
