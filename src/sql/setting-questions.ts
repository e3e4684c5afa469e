/**
 * Questions about the session's settings, answered with the session properties' effective values (what the
 * session set, else the operator's default) instead of the empty placeholders each backend starts with:
 * `SHOW kinesis.x` (any of its spellings), `SHOW ALL`, and every read of `pg_settings`, pointed at the
 * engine's kinesql.session_setting() and kinesql.pg_settings (engine/roles.ts).
 */
import { sessionPropertyNamed } from '../config/session-properties.js';
import { quoteIdent, quoteLiteral } from '../pg/quoting.js';
import type { ParsedStatement } from './parse.js';
import type { ByteEdit } from './splice.js';
import type { Token } from './tokens.js';

const SETTINGS_VIEW = 'kinesql.pg_settings';
const SHOW_ALL = `SELECT name, setting, short_desc AS description FROM ${SETTINGS_VIEW} ORDER BY name`;

/** The edits that answer SHOW of a session property or SHOW ALL, and point reads of pg_settings at kinesql's view. */
export function settingQuestionEdits(sql: string, statements: readonly ParsedStatement[], scan: () => readonly Token[]): ByteEdit[] {
  const edits: ByteEdit[] = [];
  for (const statement of statements) {
    const show = (statement.node as { VariableShowStmt?: { name?: string } }).VariableShowStmt;
    const name = show?.name?.toLowerCase();
    const answer = name === 'all' ? SHOW_ALL : name !== undefined && sessionPropertyNamed(name) ? showProperty(name) : undefined;
    if (answer === undefined) continue;
    const start = Buffer.byteLength(sql.slice(0, statement.textOffset), 'utf8');
    edits.push({ start, end: start + Buffer.byteLength(statement.text, 'utf8'), text: answer });
  }
  if (/pg_settings/i.test(sql)) edits.push(...settingsViewEdits(statements, scan()));
  return edits;
}

function showProperty(name: string): string {
  return `SELECT kinesql.session_setting(${quoteLiteral(name)}) AS ${quoteIdent(name)}`;
}

/** `pg_settings` and `pg_catalog.pg_settings` where a statement reads them as a relation. */
function settingsViewEdits(statements: readonly ParsedStatement[], tokens: readonly Token[]): ByteEdit[] {
  const edits: ByteEdit[] = [];
  for (const rangeVar of rangeVars(statements.map((statement) => statement.node))) {
    if (rangeVar.relname !== 'pg_settings' || (rangeVar.schemaname !== undefined && rangeVar.schemaname !== 'pg_catalog')) continue;
    const first = tokens.findIndex((token) => token.start === rangeVar.location);
    const last = rangeVar.schemaname === undefined ? first : first + 2;
    if (first < 0 || tokens[last]?.text.toLowerCase().replace(/"/g, '') !== 'pg_settings') continue;
    // The view keeps the name pg_settings, so columns qualified by it still resolve.
    edits.push({ start: tokens[first]!.start, end: tokens[last]!.end, text: SETTINGS_VIEW });
  }
  return edits;
}

interface RangeVarFields {
  relname?: string;
  schemaname?: string;
  location: number;
}

/** Every RangeVar of the trees, found without recursion. */
function rangeVars(trees: readonly unknown[]): RangeVarFields[] {
  const found: RangeVarFields[] = [];
  const stack: unknown[] = [...trees];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) stack.push(...node);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
        if (key === 'RangeVar') found.push(value as RangeVarFields);
        stack.push(value);
      }
    }
  }
  return found;
}
