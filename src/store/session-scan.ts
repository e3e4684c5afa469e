import type { ReadOverrides, ScanWindow } from './scan-request.js';

/** The seed's session properties (SET SESSION kinesis.x) that change how a session's statements read. */
export interface SessionScan {
  window?: ScanWindow;
  read?: ReadOverrides;
}

/** Each seed session property under both its spellings (iter_* and starting_* / start_*). */
const FROM_TIMESTAMP = ['kinesis.iter_from_timestamp', 'kinesis.start_from_timestamp'];
const OFFSET_SECONDS = ['kinesis.iter_offset_seconds', 'kinesis.starting_offset_seconds'];
const START_TIMESTAMP = ['kinesis.iter_start_timestamp', 'kinesis.starting_timestamp'];

function first(settings: ReadonlyMap<string, string>, names: string[]): string | undefined {
  for (const name of names) {
    const value = settings.get(name)?.trim();
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/** A session property that cannot be used, reported to the client as an error naming it. */
export class SessionSettingError extends Error {
  constructor(
    readonly setting: string,
    value: string,
    expected: string,
  ) {
    super(`invalid value for ${setting}: "${value}"; expected ${expected}`);
  }
}

function parseBoolean(name: string, value: string): boolean {
  const lower = value.toLowerCase();
  if (['true', 'on', 'yes', '1'].includes(lower)) return true;
  if (['false', 'off', 'no', '0'].includes(lower)) return false;
  throw new SessionSettingError(name, value, 'true or false');
}

function parseCount(name: string, value: string, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) > max) throw new SessionSettingError(name, value, `an integer between 0 and ${max}`);
  return Number(value);
}

/** The seed wrote `yyyy-MM-dd HH:mm:ss.SSS` (UTC unless a zone follows); ISO 8601 and epoch milliseconds work too. */
function parseTimestamp(name: string, value: string): Date {
  if (/^\d{12,}$/.test(value)) return new Date(Number(value));
  const normalized = value.replace(' ', 'T');
  const withZone = /([zZ]|[+-]\d{2}:?\d{2})$/.test(normalized) ? normalized : `${normalized}Z`;
  const parsed = new Date(withZone);
  if (Number.isNaN(parsed.getTime())) throw new SessionSettingError(name, value, 'a timestamp such as 2026-03-01 12:00:00.000');
  return parsed;
}

/**
 * Checks a value a session gives one of the seed's session properties (SET kinesis.x = …): throws
 * SessionSettingError when the property could never use it. An empty value means "not set".
 */
export function checkSessionProperty(name: string, raw: string): void {
  const value = raw.trim();
  if (value === '') return;
  if (FROM_TIMESTAMP.includes(name) || name === 'kinesis.checkpoint_enabled') parseBoolean(name, value);
  else if (OFFSET_SECONDS.includes(name)) parseCount(name, value, 365 * 86_400);
  else if (START_TIMESTAMP.includes(name)) parseTimestamp(name, value);
  else if (name === 'kinesis.max_batches' || name === 'kinesis.batch_size') parseCount(name, value, Number.MAX_SAFE_INTEGER);
  else if (name === 'kinesis.iteration_number') parseCount(name, value, 2 ** 31 - 1);
  else if (name === 'kinesql.max_staleness') parseStaleness(value);
}

/** kinesql.max_staleness: `500ms`, `2s`, `1min`, `1h`, or a number of milliseconds. */
export function parseStaleness(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|min|h)?$/.exec(value.trim());
  if (!match) throw new SessionSettingError('kinesql.max_staleness', value, 'a duration such as 500ms, 2s or 1min');
  return Number(match[1]) * { ms: 1, s: 1000, min: 60_000, h: 3_600_000 }[match[2] ?? 'ms']!;
}

/**
 * The window and read limits a session's settings ask for; nothing when the session set none of them
 * (its statements then use the tables' configured windows).
 */
export function sessionScan(
  settings: ReadonlyMap<string, string> | undefined,
  defaults: { iterFromTimestamp: boolean; iterOffsetSeconds: number },
  now: Date,
): SessionScan {
  if (!settings || settings.size === 0) return {};
  const result: SessionScan = {};
  const fromTimestamp = first(settings, FROM_TIMESTAMP);
  const offset = first(settings, OFFSET_SECONDS);
  const start = first(settings, START_TIMESTAMP);
  if (fromTimestamp !== undefined || offset !== undefined || start !== undefined) {
    const useTimestamp = fromTimestamp === undefined ? defaults.iterFromTimestamp : parseBoolean(FROM_TIMESTAMP[0]!, fromTimestamp);
    if (!useTimestamp) result.window = { start: undefined };
    else if (start !== undefined) result.window = { start: parseTimestamp(START_TIMESTAMP[0]!, start) };
    else {
      const seconds = offset === undefined ? defaults.iterOffsetSeconds : parseCount(OFFSET_SECONDS[0]!, offset, 365 * 86_400);
      result.window = { start: new Date(now.getTime() - seconds * 1000) };
    }
  }
  const maxBatches = settings.get('kinesis.max_batches')?.trim();
  const batchSize = settings.get('kinesis.batch_size')?.trim();
  if (maxBatches || batchSize) {
    result.read = {
      ...(maxBatches ? { maxBatches: parseCount('kinesis.max_batches', maxBatches, Number.MAX_SAFE_INTEGER) } : {}),
      ...(batchSize ? { batchSize: Math.max(1, Math.min(10_000, parseCount('kinesis.batch_size', batchSize, Number.MAX_SAFE_INTEGER))) } : {}),
    };
  }
  return result;
}
