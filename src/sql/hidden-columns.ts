/**
 * Hidden columns, as the seed connector had them: a column marked `hidden` (and every internal column
 * under `kinesis.hide-internal-columns`) is left out of `SELECT *` but can still be named. PostgreSQL has
 * no such thing, so kinesql rewrites the star of a select list that reads such a table into the list of
 * its visible columns before the statement reaches the engine. The stars are found when the statement is
 * analysed; which of them to spell out is known only once the session's search_path is.
 */
import { quoteIdent } from '../pg/quoting.js';
import type { RelationName } from './stream-tables.js';
import type { Token } from './tokens.js';

export interface ColumnVisibility {
  /** Columns `*` stands for, in table order. */
  visible: readonly string[];
}

/** Visibility of a relation's columns; undefined when it has no hidden columns (or is no stream table). */
export type VisibilityLookup = (relation: RelationName) => ColumnVisibility | undefined;

type Fields = Record<string, unknown>;

function stringsOf(fields: unknown[]): (string | undefined)[] {
  return fields.map((field) => (field as { String?: { sval?: string } }).String?.sval);
}

/** The relations a FROM list reads directly (through joins, not subqueries), with the name that qualifies each. */
function fromItems(fromClause: unknown[]): { relation: RelationName; qualifier: string }[] {
  const items: { relation: RelationName; qualifier: string }[] = [];
  const pending = [...fromClause];
  while (pending.length > 0) {
    const node = pending.shift() as Fields;
    const rangeVar = node['RangeVar'] as Fields | undefined;
    if (rangeVar) {
      const name = rangeVar['relname'] as string;
      const schema = rangeVar['schemaname'] as string | undefined;
      const alias = (rangeVar['alias'] as { aliasname?: string } | undefined)?.aliasname;
      items.push({ relation: schema === undefined ? { name } : { schema, name }, qualifier: alias ?? name });
    }
    const join = node['JoinExpr'] as Fields | undefined;
    if (join) pending.push(join['larg'], join['rarg']);
  }
  return items;
}

/** Every SelectStmt in a parse tree, found without recursion (statements can nest deeply). */
function selectStatements(root: unknown): Fields[] {
  const found: Fields[] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      stack.push(...node);
    } else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node as Fields)) {
        if (key === 'SelectStmt') found.push(value as Fields);
        stack.push(value);
      }
    }
  }
  return found;
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
export function starSites(trees: readonly unknown[], tokens: () => readonly Token[]): StarSite[] {
  const sites: StarSite[] = [];
  let starTokens: Token[] | undefined;
  const starAtOrAfter = (offset: number): Token | undefined => {
    starTokens ??= tokens().filter((token) => token.text === '*');
    return starTokens.find((token) => token.start >= offset);
  };
  for (const tree of trees) {
    for (const select of selectStatements(tree)) {
      const targets = (select['targetList'] as unknown[] | undefined) ?? [];
      const items = fromItems((select['fromClause'] as unknown[] | undefined) ?? []);
      for (const target of targets) {
        const ref = ((target as Fields)['ResTarget'] as Fields | undefined)?.['val'] as Fields | undefined;
        const columnRef = ref?.['ColumnRef'] as { fields: unknown[]; location: number } | undefined;
        if (!columnRef?.fields.some((field) => (field as Fields)['A_Star'] !== undefined)) continue;
        const names = stringsOf(columnRef.fields.slice(0, -1));
        let item: { relation: RelationName; qualifier: string } | undefined;
        if (names.length === 0) {
          const only = select['fromClause'] as unknown[] | undefined;
          if (only?.length === 1 && (only[0] as Fields)['RangeVar'] !== undefined) item = items[0];
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
  }
  return sites;
}

/** The text that replaces a star: its table's visible columns, qualified as the star was. Names are always quoted (a column may be named `user`). */
export function spelledOutStar(site: StarSite, visibility: ColumnVisibility): string {
  const prefix = site.qualifier.map((name) => `${quoteIdent(name)}.`).join('');
  return visibility.visible.map((column) => `${prefix}${quoteIdent(column)}`).join(', ');
}
