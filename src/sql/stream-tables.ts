/**
 * Finds the relations a statement names, so the engine can bring the stream tables among them up to date
 * before the statement runs.
 */
import { fieldsOf, walk, type Node, type NodeFields } from './parse-tree.js';
import type { RelationName } from '../store/stream-store.js';

export type { RelationName };

/** The CTE names visible where the walk is, and, inside a WITH clause, the CTEs it defines. */
interface Scope {
  readonly visible: ReadonlySet<string>;
  readonly withClause?: { readonly clause: NodeFields<'WithClause'>; readonly outer: ReadonlySet<string> };
}

/**
 * Every relation named anywhere in the tree: FROM and JOIN items, subqueries, sublinks (EXISTS, IN,
 * scalar), LATERAL, CTE bodies, set operations, and the inner query of EXPLAIN, DECLARE CURSOR, PREPARE,
 * COPY (query) and CREATE TABLE AS; also the target relation of DML, COPY table and DDL.
 *
 * An unqualified name that refers to a common table expression in scope is not a relation and is left
 * out. Scoping follows PostgreSQL: a CTE is visible in the body of its WITH's statement and in the CTEs
 * after it (in all of them, itself included, under WITH RECURSIVE), and in everything nested inside
 * those; an inner WITH shadows an outer one. Target relations (DML, COPY table, DDL: the bare RangeVars of
 * the tree) are never CTE references.
 *
 * Each distinct (schema, name) is reported once, in order of first appearance. Relations named only
 * inside strings (`'t'::regclass`, `query_to_xml('select …')`, function bodies) are not seen.
 */
export function referencedRelations(node: Node | readonly Node[]): RelationName[] {
  const found = new Map<string, RelationName>();
  walk<Scope, never>(
    node,
    { visible: new Set() },
    {
      RangeVar: ({ schemaname: schema, relname }, { visible }, bare) => {
        if (relname === undefined || (schema === undefined && !bare && visible.has(relname))) return { skip: true };
        const key = JSON.stringify([schema ?? null, relname]);
        if (!found.has(key)) found.set(key, schema === undefined ? { name: relname } : { schema, name: relname });
        return { skip: true };
      },
      SelectStmt: (f, scope) => withScope(f, scope),
      InsertStmt: (f, scope) => withScope(f, scope),
      UpdateStmt: (f, scope) => withScope(f, scope),
      DeleteStmt: (f, scope) => withScope(f, scope),
      MergeStmt: (f, scope) => withScope(f, scope),
      WithClause: (clause, { visible }) => ({ context: { visible, withClause: { clause, outer: visible } } }),
      CommonTableExpr: (cte, { visible, withClause }) => {
        if (!withClause) return { context: { visible } };
        const { clause, outer } = withClause;
        const names = cteNames(clause);
        const index = (clause.ctes ?? []).findIndex((item) => fieldsOf(item, 'CommonTableExpr') === cte);
        return { context: { visible: new Set([...outer, ...(clause.recursive ? names : names.slice(0, index))]) } };
      },
    },
  );
  return [...found.values()];
}

/** A statement with a WITH clause: its body sees the clause's CTEs, the clause itself is walked in the scope outside. */
function withScope(f: { readonly withClause?: NodeFields<'WithClause'> }, scope: Scope): { context: Scope; fieldContext: { withClause: Scope } } | undefined {
  if (!f.withClause) return undefined;
  return { context: { visible: new Set([...scope.visible, ...cteNames(f.withClause)]) }, fieldContext: { withClause: { visible: scope.visible } } };
}

function cteNames(clause: NodeFields<'WithClause'>): string[] {
  return (clause.ctes ?? []).flatMap((item) => {
    const name = fieldsOf(item, 'CommonTableExpr')?.ctename;
    return name === undefined ? [] : [name];
  });
}
