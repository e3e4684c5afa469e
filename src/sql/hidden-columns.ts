/**
 * Hidden columns, as the Trino connector had them: a column marked `hidden` (and every internal column
 * under `kinesis.hide-internal-columns`) is left out of `SELECT *` but can still be named. PostgreSQL has
 * no such thing, so kinesql rewrites the star of a select list that reads such a table into the list of
 * its visible columns before the statement reaches the engine. The stars are found when the statement is
 * analysed; which of them to spell out is known only once the session's search_path is.
 */
import { quoteIdent } from '../pg/quoting.js';
import { fieldsOf, stringsOf, walk, type Node, type NodeFields } from './parse-tree.js';
import type { RelationName } from './stream-tables.js';
import type { Token } from './tokens.js';

export interface ColumnVisibility {
  /** Columns `*` stands for, in table order. */
  visible: readonly string[];
}

/** Visibility of a relation's columns; undefined when it has no hidden columns (or is no stream table). */
export type VisibilityLookup = (relation: RelationName) => ColumnVisibility | undefined;

/** The relations a FROM list reads directly (through joins, not subqueries), with the name that qualifies each. */
function fromItems(fromClause: readonly Node[]): { relation: RelationName; qualifier: string }[] {
  const items: { relation: RelationName; qualifier: string }[] = [];
  const pending = [...fromClause];
  while (pending.length > 0) {
    const node = pending.shift();
    const rangeVar = fieldsOf(node, 'RangeVar');
    const name = rangeVar?.relname;
    if (rangeVar && name !== undefined) {
      const schema = rangeVar.schemaname;
      items.push({ relation: schema === undefined ? { name } : { schema, name }, qualifier: rangeVar.alias?.aliasname ?? name });
    }
    const join = fieldsOf(node, 'JoinExpr');
    if (join?.larg) pending.push(join.larg);
    if (join?.rarg) pending.push(join.rarg);
  }
  return items;
}

/** A `*` or `t.*` over a table that may have hidden columns: bytes [start, end) of the text spell it. */
export interface StarSite {
  start: number;
  end: number;
  relation: RelationName;
  /** The names that qualify the star, as written (none for a bare `*`). */
  qualifier: readonly string[];
}

/**
 * Every `*` and `t.*` of the statements whose table is known: where it is in the text, and which relation
 * it stands for. An unqualified `*` counts only when the FROM list is that one table (with joins the star's
 * meaning depends on USING/NATURAL merging; there hidden columns stay in `*`).
 */
export function starSites(trees: readonly Node[], tokens: () => readonly Token[]): StarSite[] {
  const sites: StarSite[] = [];
  let starTokens: Token[] | undefined;
  const starAtOrAfter = (offset: number): Token | undefined => {
    starTokens ??= tokens().filter((token) => token.text === '*');
    return starTokens.find((token) => token.start >= offset);
  };
  const selects: NodeFields<'SelectStmt'>[] = [];
  walk(trees, undefined, {
    SelectStmt: (select, _context, bare) => {
      // The bare SELECTs are the arms of a set operation, whose stars are left as written.
      if (!bare) selects.push(select);
      return undefined;
    },
  });
  for (const select of selects) {
    const items = fromItems(select.fromClause ?? []);
    for (const target of select.targetList ?? []) {
      const columnRef = fieldsOf(fieldsOf(target, 'ResTarget')?.val, 'ColumnRef');
      const fields = columnRef?.fields ?? [];
      if (columnRef?.location === undefined || !fields.some((field) => fieldsOf(field, 'A_Star') !== undefined)) continue;
      const names = stringsOf(fields.slice(0, -1));
      let item: { relation: RelationName; qualifier: string } | undefined;
      if (names.length === 0) {
        const only = select.fromClause;
        if (only?.length === 1 && fieldsOf(only[0], 'RangeVar') !== undefined) item = items[0];
      } else if (names.length === 1) {
        item = items.find((candidate) => candidate.qualifier === names[0]);
      } else if (names.length === 2) {
        item = items.find((candidate) => candidate.relation.schema === names[0] && candidate.relation.name === names[1] && candidate.qualifier === names[1]);
      }
      if (!item) continue;
      const star = starAtOrAfter(columnRef.location);
      if (!star) continue;
      const qualifier = names.length === 0 ? [] : names.length === 2 ? [names[0]!, names[1]!] : [item.qualifier];
      sites.push({ start: names.length === 0 ? star.start : columnRef.location, end: star.end, relation: item.relation, qualifier });
    }
  }
  return sites;
}

/** The text that replaces a star: its table's visible columns, qualified as the star was. Names are always quoted (a column may be named `user`). */
export function spelledOutStar(site: StarSite, visibility: ColumnVisibility): string {
  const prefix = site.qualifier.map((name) => `${quoteIdent(name)}.`).join('');
  return visibility.visible.map((column) => `${prefix}${quoteIdent(column)}`).join(', ');
}
