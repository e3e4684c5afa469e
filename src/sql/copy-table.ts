/**
 * `COPY table TO STDOUT` as the query it stands for. PostgreSQL copies a table under row security as
 * `SELECT * FROM ONLY table`, and a stream table is partitioned by time with its rows in the partitions, so
 * the engine would export none of them. kinesql hands the engine `COPY (SELECT … FROM table) TO STDOUT`
 * instead: the rows (and the columns `*` stands for) a plain SELECT of the session sees.
 */
import { quoteIdent } from '../pg/quoting.js';
import type { ColumnVisibility } from './hidden-columns.js';
import type { ParsedStatement } from './parse.js';
import { fieldsOf, stringsOf } from './parse-tree.js';
import type { RelationName } from './stream-tables.js';
import type { Token } from './tokens.js';

/** The bytes [start, end) of a COPY TO naming its table (and column list), and what they name. */
export interface CopyTableSite {
  start: number;
  end: number;
  relation: RelationName;
  /** The column list as written; none means every column `*` stands for. */
  columns: readonly string[];
}

/** Every `COPY table [(columns)] TO …` of the statements, with the span from the table's name to before TO. */
export function copyTableSites(statements: readonly ParsedStatement[], tokens: () => readonly Token[]): CopyTableSite[] {
  const sites: CopyTableSite[] = [];
  for (const statement of statements) {
    const copy = fieldsOf(statement.node, 'CopyStmt');
    const relation = copy?.relation;
    if (!copy || copy.is_from || copy.query !== undefined || relation?.relname === undefined || relation.location === undefined) continue;
    const { relname, schemaname, location } = relation;
    // The old `COPY BINARY table` spelling has no `COPY BINARY (query)` form: it is left as written.
    const before = tokens()
      .filter((token) => token.end <= location)
      .at(-1);
    if (before?.text.toLowerCase() === 'binary') continue;
    const end = endOfTarget(tokens(), location);
    if (end === undefined) continue;
    const columns = stringsOf(copy.attlist).map((column) => column ?? '');
    const name: RelationName = schemaname === undefined ? { name: relname } : { schema: schemaname, name: relname };
    sites.push({ start: location, end, relation: name, columns });
  }
  return sites;
}

/** The end of the last token before the `TO` that follows the table name (outside the column list's parentheses). */
function endOfTarget(tokens: readonly Token[], from: number): number | undefined {
  let depth = 0;
  let end: number | undefined;
  for (const token of tokens) {
    if (token.start < from) continue;
    if (token.text === '(') depth++;
    else if (token.text === ')') depth--;
    else if (depth === 0 && token.text.toLowerCase() === 'to') return end;
    end = token.end;
  }
  return undefined;
}

/** The query that replaces a COPY's table: its named columns, or those `*` stands for in a plain SELECT. */
export function copyQuery(site: CopyTableSite, visibility: ColumnVisibility | undefined): string {
  const columns = site.columns.length > 0 ? site.columns : visibility?.visible;
  const list = columns && columns.length > 0 ? columns.map(quoteIdent).join(', ') : '*';
  const table = [...(site.relation.schema === undefined ? [] : [site.relation.schema]), site.relation.name].map(quoteIdent).join('.');
  return `(SELECT ${list} FROM ${table})`;
}
