/**
 * A session's settings live in its own engine backend. kinesql passes the client's startup settings on (after
 * the read-only gate's allow-list) and keeps the few it needs to plan a stream statement's read itself
 * (tracked-settings.ts): the session properties (config/session-properties.ts), search_path, statement_timeout
 * and the login role. It reads them back with SHOW at the session's first statement that may read a stream, and
 * again only where it cannot know them.
 */
import { SESSION_PROPERTY_NAMES } from '../config/session-properties.js';
import { SESSION_ROLE_SETTING } from '../store/checkpoints.js';
import { parsePgDurationMs } from '../pg/setting-syntax.js';
import { settingRefusal } from '../sql/session-settings.js';
import { ceilingOf, ceilingRefusal, type SettingCeiling } from '../config/setting-ceilings.js';
import { PgError } from '../pg/pg-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import type { BackendMessage } from './backend-relay.js';
import { buildBind, buildExecute, buildParse, buildTarget, SYNC } from './extended-messages.js';

/** Startup parameters that are not settings. */
const NOT_SETTINGS = new Set(['user', 'database', 'options', 'replication']);

/** Parses `-c name=value` / `--name=value` items of the startup packet's `options` parameter. */
export function parseStartupOptions(options: string): [string, string][] {
  const words = options.match(/(?:\\.|[^\s\\])+/g)?.map((word) => word.replace(/\\(.)/g, '$1')) ?? [];
  const found: [string, string][] = [];
  for (let i = 0; i < words.length; i += 1) {
    let item: string | undefined;
    const word = words[i]!;
    if (word === '-c') item = words[++i];
    else if (word.startsWith('-c')) item = word.slice(2);
    else if (word.startsWith('--')) item = word.slice(2);
    const eq = item?.indexOf('=') ?? -1;
    if (item !== undefined && eq > 0) found.push([item.slice(0, eq).replace(/-/g, '_'), item.slice(eq + 1)]);
  }
  return found;
}

/** A setting of the startup packet that a session may not have: the login's FATAL. */
export class StartupSettingRefused extends PgError {
  constructor(message: string, sqlstate: string) {
    super(message, sqlstate, { severity: 'FATAL' });
  }
}

/**
 * The settings a client's startup packet asks for (parameters and `-c` options), checked like SET (the
 * operator's `ceilings` included), followed by the session properties as empty placeholders (so they can
 * always be read back and RESET).
 */
export function engineStartupParameters(client: ReadonlyMap<string, string>, ceilings: readonly SettingCeiling[] = []): [string, string][] {
  const asked: [string, string][] = [];
  for (const [name, value] of client) {
    if (!NOT_SETTINGS.has(name) && !name.startsWith('_pq_.')) asked.push([name, value]);
  }
  asked.push(...parseStartupOptions(client.get('options') ?? ''));
  for (const [name, value] of asked) {
    const refusal = settingRefusal(name, value);
    if (refusal !== undefined) throw new StartupSettingRefused(refusal, SQLSTATE.readOnlySqlTransaction);
    const ceiling = ceilingOf(ceilings, name);
    const beyond = ceiling ? ceilingRefusal(ceiling, value) : undefined;
    if (beyond !== undefined) throw new StartupSettingRefused(beyond, SQLSTATE.insufficientPrivilege);
  }
  const named = new Set(asked.map(([name]) => name.toLowerCase()));
  for (const property of SESSION_PROPERTY_NAMES) if (!named.has(property)) asked.push([property, '']);
  return asked;
}

/** What kinesql keeps of a session's settings (the login role: whose checkpoints). */
export const READ_BACK: readonly string[] = ['search_path', 'statement_timeout', SESSION_ROLE_SETTING, ...SESSION_PROPERTY_NAMES];

const OWN_STATEMENT = 'kinesql_read_setting';
const OWN_PORTAL = 'kinesql_read_setting';

/**
 * SHOW (not current_setting in a SELECT) because SHOW takes no snapshot: inside a REPEATABLE READ block
 * the client's own first statement, after the catch-up, must be the one that takes it. Named statement and
 * portal, closed again, so the client's unnamed ones are untouched.
 */
export const READ_SETTINGS_EXCHANGE = Buffer.concat([
  ...READ_BACK.flatMap((name) => [
    buildParse({ name: OWN_STATEMENT, query: `SHOW ${name}`, rest: Buffer.from([0, 0]) }),
    buildBind({ portal: OWN_PORTAL, statement: OWN_STATEMENT, rest: Buffer.from([0, 0, 0, 0, 0, 0]) }),
    buildExecute({ portal: OWN_PORTAL, maxRows: 0 }),
    buildTarget('C', { kind: 'P', name: OWN_PORTAL }),
    buildTarget('C', { kind: 'S', name: OWN_STATEMENT }),
  ]),
  SYNC,
]);

/** The values from a settings exchange's replies, by lower-case name (undefined when the exchange failed). */
export function readSettingsReply(messages: BackendMessage[]): Map<string, string> | undefined {
  const values: string[] = [];
  for (const message of messages) {
    if (message.type === 'E') return undefined;
    if (message.type !== 'D') continue;
    const length = message.body.readInt32BE(2);
    values.push(length < 0 ? '' : message.body.subarray(6, 6 + length).toString('utf8'));
  }
  if (values.length !== READ_BACK.length) return undefined;
  return new Map(READ_BACK.map((name, i) => [name, values[i]!]));
}

/** search_path as the engine shows it, as schema names (`"$user"` resolved, quotes removed). */
export function searchPathSchemas(searchPath: string, user: string): string[] {
  const schemas: string[] = [];
  for (const match of searchPath.matchAll(/\s*("(?:[^"]|"")*"|[^,]+)\s*(?:,|$)/g)) {
    const item = match[1]!.trim();
    if (item === '') continue;
    const name = item.startsWith('"') ? item.slice(1, -1).replace(/""/g, '"') : item.toLowerCase();
    schemas.push(name === '$user' ? user : name);
  }
  return schemas;
}

/** statement_timeout as SHOW prints it ('0', '500ms', '5s', '1min', '2h', '1d'), in milliseconds. */
export function timeoutMs(shown: string | undefined): number {
  return parsePgDurationMs(shown ?? '0') ?? 0;
}
