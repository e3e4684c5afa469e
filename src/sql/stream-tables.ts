/**
 * Finds the relations a statement names, so the engine can bring the stream tables among them up to date
 * before the statement runs.
 */
import type { Node } from 'libpg-query';

export interface RelationName {
  /** Schema as written (already case-folded by the parser unless quoted); absent when unqualified. */
  readonly schema?: string;
  readonly name: string;
}

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

  const visit = (value: unknown, scope: ReadonlySet<string>): void => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const item of value) visit(item, scope);
      return;
    }
    const fields = value as Fields;
    const withClause = fields.withClause as Fields | undefined;
    let bodyScope = scope;
    if (withClause && typeof withClause === 'object') {
      bodyScope = visitWith(withClause, scope);
    }
    for (const [key, child] of Object.entries(fields)) {
      if (key === 'withClause') continue;
      if (key === 'RangeVar') {
        record(child, bodyScope, true);
      } else if (TARGET_RELATION_FIELDS.has(key) && isBareRangeVar(child)) {
        record(child, bodyScope, false);
        visit(child, bodyScope);
      } else {
        visit(child, bodyScope);
      }
    }
  };

  /** Visits the CTE bodies of a WITH clause and returns the scope its statement's body sees. */
  const visitWith = (withClause: Fields, outer: ReadonlySet<string>): ReadonlySet<string> => {
    const ctes = (Array.isArray(withClause.ctes) ? withClause.ctes : [])
      .map((c) => (c as Fields).CommonTableExpr as Fields | undefined)
      .filter((c): c is Fields => c !== undefined && typeof c === 'object');
    const names = ctes.map((c) => c.ctename).filter((n): n is string => typeof n === 'string');
    const all = new Set([...outer, ...names]);
    ctes.forEach((cte, i) => {
      const visible = withClause.recursive ? all : new Set([...outer, ...names.slice(0, i)]);
      visit(cte.ctequery, visible);
    });
    return all;
  };

  visit(node, new Set());
  return [...found.values()];
}

function isBareRangeVar(value: unknown): boolean {
  return value !== null && typeof value === 'object' && typeof (value as Fields).relname === 'string';
}
