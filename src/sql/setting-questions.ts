/**
 * Questions about the session's settings and the catalog, answered as a client of kinesql should see them:
 * the session properties' effective values (what the session set, else the operator's default) instead of
 * the empty placeholders each backend starts with — `SHOW kinesis.x` (any of its spellings), `SHOW ALL`,
 * reads of `pg_settings` — and the catalog without kinesql's internal schemas and relations (reads of
 * `pg_class`, `pg_namespace`, `pg_tables`, `information_schema.tables` and the catalogs whose rows name a
 * schema) and the roles without other users' logins (reads of `pg_roles`, `pg_user`, `pg_group`,
 * `pg_auth_members` and `pg_stat_activity`). They are pointed at the engine's kinesql.session_setting(), kinesql.pg_settings() and
 * kinesql's catalog functions (engine/catalog-functions.ts).
 */
import { sessionPropertyNamed } from '../config/session-properties.js';
import { CLIENT_CATALOG } from '../engine/catalog-functions.js';
import { quoteIdent, quoteLiteral } from '../pg/quoting.js';
import type { ParsedStatement } from './parse.js';
import { fieldsOf, walk, type NodeFields } from './parse-tree.js';
import type { ByteEdit } from './splice.js';
import type { Token } from './tokens.js';

const SETTINGS_VIEW = 'kinesql.pg_settings()';
const SHOW_ALL = `SELECT name, setting, short_desc AS description FROM ${SETTINGS_VIEW} ORDER BY name`;
/**
 * Catalog relations clients read kinesql's version of (functions, whose default alias is their name), by
 * schema and name; a pg_catalog relation also when its name is not qualified.
 */
const CATALOG_VIEWS: Record<string, Record<string, string>> = Object.fromEntries(
  Object.entries(CLIENT_CATALOG).map(([schema, names]) => [schema, Object.fromEntries(names.map((name) => [name, `kinesql.${name}()`]))]),
);
const MENTIONS_CATALOG_VIEW = new RegExp(
  [...CLIENT_CATALOG['pg_catalog']!, ...Object.keys(CLIENT_CATALOG).filter((schema) => schema !== 'pg_catalog')].join('|'),
  'i',
);

/** The edits that answer SHOW of a session property or SHOW ALL, and point reads of pg_settings and pg_class at kinesql's views. */
export function settingQuestionEdits(sql: string, statements: readonly ParsedStatement[], scan: () => readonly Token[]): ByteEdit[] {
  const edits: ByteEdit[] = [];
  for (const statement of statements) {
    const name = fieldsOf(statement.node, 'VariableShowStmt')?.name?.toLowerCase();
    const answer = name === 'all' ? SHOW_ALL : name !== undefined && sessionPropertyNamed(name) ? showProperty(name) : undefined;
    if (answer === undefined) continue;
    const start = Buffer.byteLength(sql.slice(0, statement.textOffset), 'utf8');
    edits.push({ start, end: start + Buffer.byteLength(statement.text, 'utf8'), text: answer });
  }
  if (MENTIONS_CATALOG_VIEW.test(sql)) edits.push(...catalogViewEdits(statements, scan()));
  return edits;
}

function showProperty(name: string): string {
  return `SELECT kinesql.session_setting(${quoteLiteral(name)}) AS ${quoteIdent(name)}`;
}

/** The relations of CATALOG_VIEWS where a statement reads them as a relation. */
function catalogViewEdits(statements: readonly ParsedStatement[], tokens: readonly Token[]): ByteEdit[] {
  const edits: ByteEdit[] = [];
  for (const rangeVar of rangeVars(statements.map((statement) => statement.node))) {
    const view = rangeVar.relname === undefined ? undefined : CATALOG_VIEWS[rangeVar.schemaname ?? 'pg_catalog']?.[rangeVar.relname];
    if (view === undefined || rangeVar.location === undefined) continue;
    const first = tokens.findIndex((token) => token.start === rangeVar.location);
    const last = rangeVar.schemaname === undefined ? first : first + 2;
    if (first < 0 || tokens[last]?.text.toLowerCase().replace(/"/g, '') !== rangeVar.relname) continue;
    // A function in FROM is named after itself, as the catalog was, so columns qualified by it still resolve.
    edits.push({ start: tokens[first]!.start, end: tokens[last]!.end, text: view });
  }
  return edits;
}

/** Every RangeVar of the trees where any relation may stand (not the bare targets of COPY, DML and DDL). */
function rangeVars(trees: readonly ParsedStatement['node'][]): NodeFields<'RangeVar'>[] {
  const found: NodeFields<'RangeVar'>[] = [];
  walk(trees, undefined, {
    RangeVar: (rangeVar, _context, bare) => {
      if (!bare) found.push(rangeVar);
      return { skip: true };
    },
  });
  return found;
}
