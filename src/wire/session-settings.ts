/**
 * Session settings (GUCs) are kept per session by kinesql: after a statement that may have changed them,
 * the values the backend holds are read back; when the backend next runs another session's statements,
 * Engine.applySettings puts that session's values in force (RESET ALL + set_config), so each session's
 * SET is in force only for its own statements.
 */
import type { Engine } from '../engine/engine.js';

export type SettingPairs = readonly (readonly [string, string])[];

/** Settings PostgreSQL reports with ParameterStatus when they change (GUC_REPORT). */
export const REPORTED_SETTINGS = [
  'application_name',
  'client_encoding',
  'DateStyle',
  'default_transaction_read_only',
  'in_hot_standby',
  'integer_datetimes',
  'IntervalStyle',
  'is_superuser',
  'scram_iterations',
  'server_encoding',
  'server_version',
  'session_authorization',
  'standard_conforming_strings',
  'TimeZone',
] as const;

/** Values kinesql reports itself, whatever the engine's own say (it is a read-only server; clients are not superusers). */
export function fixedReports(user: string): Record<string, string> {
  return {
    default_transaction_read_only: 'on',
    in_hot_standby: 'off',
    is_superuser: 'off',
    session_authorization: user,
  };
}

/**
 * Settings that are per transaction or per role, never restored by set_config at session level, and the
 * ones kinesql itself puts in force before each client statement (read-only mode, row visibility).
 */
const NOT_RESTORED = /^(transaction_|is_superuser$|session_authorization$|role$|default_transaction_read_only$|kinesql\.visible_from$|kinesql\.after_sequence$)/;

export interface CapturedSettings {
  /** What the session set (pg_settings source = session), to re-apply when it gets the backend again. */
  session: [string, string][];
  /** Current values of the reported settings. */
  reported: Map<string, string>;
}

/**
 * The seed's session properties (SET SESSION kinesis.x in Trino). PostgreSQL keeps such dotted settings as
 * placeholders that pg_settings does not list, so they are read back by name.
 */
export const SESSION_PROPERTIES = [
  'kinesis.iter_from_timestamp',
  'kinesis.start_from_timestamp',
  'kinesis.iter_offset_seconds',
  'kinesis.starting_offset_seconds',
  'kinesis.iter_start_timestamp',
  'kinesis.starting_timestamp',
  'kinesis.max_batches',
  'kinesis.batch_size',
  'kinesis.checkpoint_enabled',
  'kinesis.checkpoint_logical_name',
  'kinesis.iteration_number',
] as const;

/** Reads the backend's settings; call with the engine held by the session whose settings they are. */
export async function captureSettings(engine: Engine): Promise<CapturedSettings> {
  const result = await engine.query(
    `select name, setting, source from pg_settings where source = 'session' or name = any($1::text[])
     union all
     select name, current_setting(name, true), 'session' from unnest($2::text[]) as name
      where coalesce(current_setting(name, true), '') <> ''`,
    [REPORTED_SETTINGS, SESSION_PROPERTIES],
  );
  const session: [string, string][] = [];
  const reported = new Map<string, string>();
  const reportedByLower = new Map(REPORTED_SETTINGS.map((name) => [name.toLowerCase(), name]));
  for (const row of result.rows) {
    const name = String(row['name']);
    const setting = String(row['setting'] ?? '');
    if (row['source'] === 'session' && !NOT_RESTORED.test(name)) session.push([name, setting]);
    const reportedName = reportedByLower.get(name.toLowerCase());
    if (reportedName) reported.set(reportedName, setting);
  }
  return { session, reported };
}

/** The value of one setting among pairs, by case-insensitive name. */
export function settingValue(settings: SettingPairs, name: string): string | undefined {
  const lower = name.toLowerCase();
  return settings.find(([key]) => key.toLowerCase() === lower)?.[1];
}

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
