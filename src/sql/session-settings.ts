/**
 * Which run-time settings a kinesql client may change (SET, RESET, set_config). Only settings that shape
 * how a session sees or formats data, or how the planner works, are allowed: nothing that writes,
 * changes identity (role, session_authorization), loads code, or turns read-only off.
 */
import { codecNamed } from '../pg/client-encoding.js';
import { SESSION_PROPERTY_NAMES } from '../config/session-properties.js';
import { parsePgBoolean } from '../pg/setting-syntax.js';

/** Exact setting names, lower case (PostgreSQL matches setting names case-insensitively). */
const ALLOWED_SETTINGS = new Set([
  'timezone',
  'datestyle',
  'intervalstyle',
  'extra_float_digits',
  'application_name',
  'search_path',
  'client_min_messages',
  'bytea_output',
  'statement_timeout',
  'client_encoding',
  'standard_conforming_strings',
  'lc_messages',
  'lc_monetary',
  'lc_numeric',
  'lc_time',
  'geqo',
  'jit',
  // resource settings: a session may lower them below the operator's limits (config/setting-ceilings.ts)
  'work_mem',
  'maintenance_work_mem',
  'hash_mem_multiplier',
  'temp_file_limit',
  'default_transaction_isolation',
  'default_transaction_read_only',
  'default_transaction_deferrable',
  'transaction_isolation',
  'transaction_read_only',
  'transaction_deferrable',
  'idle_in_transaction_session_timeout',
  'lock_timeout',
  'row_security',
  'xmloption',
  // planner knobs BI tools and people tune per session; none of them writes anything
  'random_page_cost',
  'seq_page_cost',
  'cpu_tuple_cost',
  'cpu_index_tuple_cost',
  'cpu_operator_cost',
  'effective_cache_size',
  'join_collapse_limit',
  'from_collapse_limit',
  'cursor_tuple_fraction',
  'plan_cache_mode',
  'max_parallel_workers_per_gather',
  // pg_dump's own session setup
  'synchronize_seqscans',
  'quote_all_identifiers',
  // narrows what the session may use (pg_dump sets it); never widens anything
  'restrict_nonsystem_relation_kind',
  // the session properties (kinesql.max_staleness; the kinesis.* ones are covered by their prefix too)
  ...SESSION_PROPERTY_NAMES,
]);

/**
 * Prefixes: the enable_* planner switches and the Trino connector's session properties (`SET SESSION kinesis.max_batches = …`).
 */
const ALLOWED_PREFIXES = ['enable_', 'kinesis.'];

/**
 * Settings that are allowed only when on: read-only transactions, and standard_conforming_strings (the
 * gate parses string literals as the engine does only while it is on).
 */
const ON_ONLY = new Set(['default_transaction_read_only', 'transaction_read_only', 'standard_conforming_strings']);

export type SettingValue = string | number | boolean | undefined;

export function isAllowedSetting(name: string, extra: readonly string[] = []): boolean {
  const lower = name.toLowerCase();
  return ALLOWED_SETTINGS.has(lower) || ALLOWED_PREFIXES.some((p) => lower.startsWith(p)) || extra.some((e) => e.toLowerCase() === lower);
}

/** Whether PostgreSQL reads a constant as boolean true. */
function isTrue(value: SettingValue): boolean {
  if (value === true || value === 1) return true;
  return typeof value === 'string' && parsePgBoolean(value) === true;
}

/**
 * Whether `value` names a client encoding kinesql can read SQL in (pg/client-encoding.ts). client_encoding
 * is a name setting, so PostgreSQL first cuts the value to 63 bytes; looking the encoding up, it then drops
 * every byte that is not an ASCII letter or digit and lower-cases the rest. So `UTF-8`, ` Unicode `, `latin1`
 * and `'utf-8'` (quotes included, as asyncpg sends it in its startup packet) all name encodings.
 */
function isConvertibleEncoding(value: SettingValue): boolean {
  if (typeof value !== 'string') return false;
  const name = Buffer.from(value, 'utf8').subarray(0, 63).toString('latin1');
  return codecNamed(name.replace(/[^A-Za-z0-9]/g, '')) !== undefined;
}

/**
 * Why setting `name` to `value` is refused, or undefined when it is allowed. `value` undefined means
 * "the value is not a constant kinesql can read" (or DEFAULT / RESET, which for the read-only switches
 * could mean off).
 */
export function settingRefusal(name: string, value: SettingValue, extra: readonly string[] = []): string | undefined {
  const lower = name.toLowerCase();
  if (!isAllowedSetting(lower, extra)) return `parameter "${name}" is not a session setting kinesql allows changing`;
  if (ON_ONLY.has(lower) && !isTrue(value)) return `parameter "${name}" can only be set to on`;
  if (lower === 'client_encoding' && !isConvertibleEncoding(value)) {
    return `parameter "${name}" can only name UTF8, SQL_ASCII or a single-byte encoding (LATIN1, WIN1252, …)`;
  }
  return undefined;
}

/** Whether RESET / SET … TO DEFAULT of `name` is allowed (not for settings whose default could be off). */
export function resetRefusal(name: string, extra: readonly string[] = []): string | undefined {
  const lower = name.toLowerCase();
  if (!isAllowedSetting(lower, extra)) return `parameter "${name}" is not a session setting kinesql allows changing`;
  if (ON_ONLY.has(lower)) return `parameter "${name}" can only be set to on`;
  return undefined;
}
