/**
 * Finds the relations a statement names, so the engine can bring the stream tables among them up to date
 * before the statement runs.
 */
import type { Node } from 'libpg-query';
import type { RelationName } from '../store/stream-store.js';

export type { RelationName };

type Fields = Record<string, unknown>;

/** Field names whose value is a bare (unwrapped) RangeVar naming a statement's target relation. */
const TARGET_RELATION_FIELDS = new Set(['relation', 'rel']);

/**
 * Every relation named anywhere in the tree: FROM and JOIN items, subqueries, sublinks (EXISTS, IN,
 * scalar), LATERAL, CTE bodies, set operations, and the inner query of EXPLAIN, DECLARE CURSOR, PREPARE,
 * COPY (query) and CREATE TABLE AS; also the target relation of DML, COPY table and DDL.
 *
 * An unqualified name that refers to a common table expression in scope is not a relation and is left
 * out. Scoping follows PostgreSQL: a CTE is visible in the body of its WITH's statement and in the CTEs
 * after it (in all of them, itself included, under WITH RECURSIVE), and in everything nested inside
 * those; an inner WITH shadows an outer one. Target relations of DML are never CTE references.
 *
 * Each distinct (schema, name) is reported once, in order of first appearance. Relations named only
 * inside strings (`'t'::regclass`, `query_to_xml('select …')`, function bodies) are not seen.
 */
export function referencedRelations(node: Node | Node[]): RelationName[] {
  const found = new Map<string, RelationName>();
  const record = (rangeVar: unknown, scope: ReadonlySet<string>, cteCanShadow: boolean): void => {
    if (rangeVar === null || typeof rangeVar !== 'object') return;
    const { schemaname, relname } = rangeVar as Fields;
    if (typeof relname !== 'string') return;
    const schema = typeof schemaname === 'string' ? schemaname : undefined;
    if (schema === undefined && cteCanShadow && scope.has(relname)) return;
    const key = JSON.stringify([schema ?? null, relname]);
    if (!found.has(key)) found.set(key, schema === undefined ? { name: relname } : { schema, name: relname });
  };

  // An explicit stack instead of recursion: parse trees of long expressions nest thousands deep.
  // Frames are pushed in reverse so that relations are recorded in tree order.
  const stack: Frame[] = [{ kind: 'node', value: node, scope: new Set() }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { value, scope } = frame;
    if (frame.kind === 'rangeVar') {
      record(value, scope, true);
      continue;
    }
    if (frame.kind === 'target') {
      record(value, scope, false);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ kind: 'node', value: value[i], scope });
      continue;
    }
    const fields = value as Fields;
    const children: Frame[] = [];
    let bodyScope = scope;
    const withClause = fields.withClause;
    if (withClause !== null && typeof withClause === 'object') {
      bodyScope = withScopes(withClause as Fields, scope, children);
    }
    for (const [key, child] of Object.entries(fields)) {
      if (key === 'withClause') continue;
      if (key === 'RangeVar') children.push({ kind: 'rangeVar', value: child, scope: bodyScope });
      else if (TARGET_RELATION_FIELDS.has(key) && isBareRangeVar(child)) {
        children.push({ kind: 'target', value: child, scope: bodyScope });
      } else children.push({ kind: 'node', value: child, scope: bodyScope });
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return [...found.values()];
}

interface Frame {
  /** node: any tree value; rangeVar: a RangeVar in a FROM position; target: a DML/DDL target relation. */
  readonly kind: 'node' | 'rangeVar' | 'target';
  readonly value: unknown;
  /** Names of the CTEs visible here. */
  readonly scope: ReadonlySet<string>;
}

/**
 * Adds a frame per CTE body of a WITH clause, each with the CTE names it can see, and returns the
 * scope the WITH's own statement body sees.
 */
function withScopes(withClause: Fields, outer: ReadonlySet<string>, frames: Frame[]): ReadonlySet<string> {
  const ctes = (Array.isArray(withClause.ctes) ? withClause.ctes : [])
    .map((c) => (c as Fields).CommonTableExpr as Fields | undefined)
    .filter((c): c is Fields => c !== undefined && typeof c === 'object');
  const names = ctes.map((c) => c.ctename).filter((n): n is string => typeof n === 'string');
  const all = new Set([...outer, ...names]);
  ctes.forEach((cte, i) => {
    const visible = withClause.recursive ? all : new Set([...outer, ...names.slice(0, i)]);
    frames.push({ kind: 'node', value: cte.ctequery, scope: visible });
  });
  return all;
}

function isBareRangeVar(value: unknown): boolean {
  return value !== null && typeof value === 'object' && typeof (value as Fields).relname === 'string';
}
