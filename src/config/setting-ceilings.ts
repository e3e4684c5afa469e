/**
 * The operator's limits on the resource settings a client session may change. Every client backend starts
 * with the operator's value; a client may tighten it (SET, SET LOCAL, set_config, startup options), never
 * loosen it past that value, because what one session takes (engine memory, temporary files, locks held
 * open) is taken from everyone.
 */
import { parsePgDurationMs, parsePgMemoryKb } from '../pg/setting-syntax.js';
import { DEFAULT_ENGINE_CONFIG, type KinesqlConfig, windowSecondsOf } from './config.js';
import { SESSION_PROPERTIES, type SessionProperty } from './session-properties.js';

/**
 * How a setting's value is read and which value means "no limit": timeouts in milliseconds (0: none),
 * memory in kilobytes, temp_file_limit in kilobytes (-1: none), plain numbers; and the session window's
 * properties: its size in seconds, whether it starts at a time at all (false: everything the stream keeps),
 * and the instant it starts at, which must be within `limit` seconds of now.
 */
export type CeilingKind = 'timeout' | 'memory' | 'temp-file' | 'number' | 'window-seconds' | 'window-from' | 'window-start';

export interface SettingCeiling {
  /** The PostgreSQL setting, lower case. */
  readonly setting: string;
  readonly kind: CeilingKind;
  /** The operator's value in the setting's base unit. */
  readonly limit: number;
  /** The operator's value as configured (what client backends start with, and what errors quote). */
  readonly shown: string;
  /** The kinesql configuration key that sets it. */
  readonly configKey: string;
}

/** A session property's value as kinesql reads it, in a number (booleans 1 and 0, instants in epoch ms). */
function readProperty(property: SessionProperty<unknown>, text: string): number | undefined {
  const value = property.type.read(text.trim());
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.getTime();
  return typeof value === 'number' ? value : undefined;
}

const WINDOW_PROPERTIES: Partial<Record<CeilingKind, SessionProperty<unknown>>> = {
  'window-seconds': SESSION_PROPERTIES.iterOffsetSeconds,
  'window-from': SESSION_PROPERTIES.iterFromTimestamp,
  'window-start': SESSION_PROPERTIES.iterStartTimestamp,
};

/** The value of a setting in its base unit, as PostgreSQL reads it; undefined when kinesql cannot tell. */
function readValue(kind: CeilingKind, value: string | number | boolean): number | undefined {
  const property = WINDOW_PROPERTIES[kind];
  if (property) return readProperty(property, String(value));
  if (typeof value === 'boolean') return undefined;
  const text = String(value);
  if (kind === 'timeout') {
    const ms = parsePgDurationMs(text);
    // PostgreSQL rounds to whole milliseconds: `100us` is 0, which turns the timeout off.
    return ms === undefined ? undefined : Math.round(ms);
  }
  if (kind === 'number') {
    const number = Number(text.trim());
    return text.trim() === '' || !Number.isFinite(number) ? undefined : number;
  }
  return parsePgMemoryKb(text);
}

/** Whether `value` (base unit) is within `limit`, where 0 (timeouts) or -1 (temp_file_limit) means no limit. */
function within(kind: CeilingKind, value: number, limit: number): boolean {
  if (kind === 'window-from') return value === 1;
  if (kind === 'window-start') return value >= Date.now() - limit * 1000;
  if (kind === 'timeout') return limit === 0 || (value > 0 && value <= limit);
  if (kind === 'temp-file') return limit < 0 || (value >= 0 && value <= limit);
  return value <= limit;
}

/**
 * Why a client may not give `ceiling.setting` this value, or undefined when it may. `value` undefined is a
 * value kinesql cannot read before it runs (a parameter, an expression): refused, since it could be anything.
 */
export function ceilingRefusal(ceiling: SettingCeiling, value: string | number | boolean | undefined): string | undefined {
  // An empty session property is one the session did not set: it gets the table's configured window.
  if (WINDOW_PROPERTIES[ceiling.kind] && typeof value === 'string' && value.trim() === '') return undefined;
  if (ceiling.kind.startsWith('window-')) return windowRefusal(ceiling, value);
  const shown = value === undefined ? 'a value that is not a constant' : `"${String(value)}"`;
  const read = value === undefined ? undefined : readValue(ceiling.kind, value);
  if (read !== undefined && within(ceiling.kind, read, ceiling.limit)) return undefined;
  const unlimited = ceiling.kind === 'timeout' ? ' (0 turns it off)' : ceiling.kind === 'temp-file' ? ' (-1 turns it off)' : '';
  return (
    `permission denied to set parameter "${ceiling.setting}" to ${shown}: the operator's limit is ${ceiling.shown} (${ceiling.configKey}); ` +
    `a session may lower it, not raise it${unlimited}`
  );
}

function windowRefusal(ceiling: SettingCeiling, value: string | number | boolean | undefined): string | undefined {
  const read = value === undefined ? undefined : readValue(ceiling.kind, value);
  // A constant the property cannot take is refused by the property's own check, as 22023.
  if (value !== undefined && read === undefined) return undefined;
  if (read !== undefined && within(ceiling.kind, read, ceiling.limit)) return undefined;
  const shown = value === undefined ? 'a value that is not a constant' : `"${String(value)}"`;
  return (
    `permission denied to set parameter "${ceiling.setting}" to ${shown}: a session's window may reach back at most ${ceiling.shown} ` +
    `(${ceiling.configKey}), since what it asks for is loaded into the table every session shares`
  );
}

/** The ceiling on `setting` (any case), if the operator's configuration puts one on it. */
export function ceilingOf(ceilings: readonly SettingCeiling[], setting: string): SettingCeiling | undefined {
  const lower = setting.toLowerCase();
  return ceilings.find((ceiling) => ceiling.setting === lower);
}

function make(setting: string, kind: CeilingKind, shown: string, configKey: string): SettingCeiling {
  const limit = readValue(kind, shown);
  if (limit === undefined) throw new Error(`${configKey}: "${shown}" is not a value of ${setting}`);
  return { setting, kind, limit, shown, configKey };
}

/** How far back a session's window may reach (seconds): kinesql.max-window, else the configured window; undefined = no cap. */
export function maxWindowSeconds(config: KinesqlConfig): number | undefined {
  return config.engine.maxWindowSeconds ?? windowSecondsOf(config.read);
}

/** The caps on the session window's properties (each of their spellings), when its reach is capped. */
function windowCeilings(config: KinesqlConfig): SettingCeiling[] {
  const seconds = maxWindowSeconds(config);
  if (seconds === undefined) return [];
  const configKey = 'kinesql.max-window';
  return (Object.entries(WINDOW_PROPERTIES) as [CeilingKind, SessionProperty<unknown>][]).flatMap(([kind, property]) =>
    [property.name, ...property.aliases].map((setting) => ({ setting, kind, limit: seconds, shown: `${seconds}s`, configKey })),
  );
}

/** The limits of client sessions as configured; timeouts the operator left unset are 0 (none), as in PostgreSQL. */
export function settingCeilings(config: KinesqlConfig): SettingCeiling[] {
  const engine = { ...DEFAULT_ENGINE_CONFIG, ...config.engine };
  const idle = config.wire?.idleInTransactionTimeoutMs ?? 0;
  return [
    ...windowCeilings(config),
    make('statement_timeout', 'timeout', `${engine.statementTimeoutMs}ms`, 'kinesql.statement-timeout'),
    make('idle_in_transaction_session_timeout', 'timeout', `${idle}ms`, 'kinesql.idle-in-transaction-timeout'),
    make('lock_timeout', 'timeout', `${engine.lockTimeoutMs}ms`, 'kinesql.lock-timeout'),
    make('work_mem', 'memory', engine.workMem, 'kinesql.work-mem'),
    make('maintenance_work_mem', 'memory', engine.maintenanceWorkMem, 'kinesql.maintenance-work-mem'),
    make('temp_file_limit', 'temp-file', engine.tempFileLimit, 'kinesql.temp-file-limit'),
    make('hash_mem_multiplier', 'number', String(engine.hashMemMultiplier), 'kinesql.hash-mem-multiplier'),
    make('max_parallel_workers_per_gather', 'number', String(engine.maxParallelWorkersPerGather), 'kinesql.max-parallel-workers-per-gather'),
  ];
}

/** The ceilings that are engine settings every client role starts with (ALTER ROLE … SET); the others are kinesql's. */
export function engineCeilings(ceilings: readonly SettingCeiling[]): SettingCeiling[] {
  return ceilings.filter((ceiling) => !ceiling.kind.startsWith('window-'));
}

/** Settings only a superuser (or a role granted SET on them) may give a role: applied where the administrator may. */
export const SUPERUSER_CEILINGS: ReadonlySet<string> = new Set(['temp_file_limit']);
