import { SESSION_PROPERTIES, SessionLimitError, sessionPropertyValue } from '../config/session-properties.js';
import type { ReadOverrides, ScanWindow } from './scan-request.js';
import type { WindowDefaults } from './stream-store.js';

/** The Trino connector's session properties (SET SESSION kinesis.x) that change how a session's statements read. */
export interface SessionScan {
  window?: ScanWindow;
  read?: ReadOverrides;
}

/**
 * What a session asks for is loaded into the table every session shares: its window may start at most
 * kinesql.max-window before the statement. (A start timestamp allowed when it was SET can age past it.)
 */
function checkReach(window: ScanWindow, maxSeconds: number | undefined, now: Date): void {
  if (maxSeconds === undefined) return;
  const earliest = now.getTime() - maxSeconds * 1000;
  if (window.start !== undefined && window.start.getTime() >= earliest) return;
  const asked = window.start === undefined ? 'everything the stream keeps' : `from ${window.start.toISOString()}`;
  throw new SessionLimitError(
    SESSION_PROPERTIES.iterStartTimestamp.name,
    `permission denied to read ${asked}: a session's window may reach back at most ${maxSeconds}s (kinesql.max-window), ` +
      `since what it asks for is loaded into the table every session shares`,
  );
}

/** GetRecords takes at most this many records per call. */
const MAX_BATCH_SIZE = 10_000;

/**
 * The window and read limits a session's settings ask for; nothing when the session set none of them
 * (its statements then use the tables' configured windows). A value a property cannot take throws
 * SessionSettingError; a window reaching back further than the operator allows, SessionLimitError.
 */
export function sessionScan(settings: ReadonlyMap<string, string> | undefined, defaults: WindowDefaults, now: Date): SessionScan {
  if (!settings || settings.size === 0) return {};
  const result: SessionScan = {};
  const fromTimestamp = sessionPropertyValue(settings, SESSION_PROPERTIES.iterFromTimestamp);
  const offset = sessionPropertyValue(settings, SESSION_PROPERTIES.iterOffsetSeconds);
  const start = sessionPropertyValue(settings, SESSION_PROPERTIES.iterStartTimestamp);
  if (fromTimestamp !== undefined || offset !== undefined || start !== undefined) {
    if (!(fromTimestamp ?? defaults.iterFromTimestamp)) result.window = { start: undefined };
    else if (start !== undefined) result.window = { start };
    else result.window = { start: new Date(now.getTime() - (offset ?? defaults.iterOffsetSeconds) * 1000) };
    checkReach(result.window, defaults.maxWindowSeconds, now);
  }
  const maxBatches = sessionPropertyValue(settings, SESSION_PROPERTIES.maxBatches);
  const batchSize = sessionPropertyValue(settings, SESSION_PROPERTIES.batchSize);
  if (maxBatches !== undefined || batchSize !== undefined) {
    result.read = {
      ...(maxBatches !== undefined ? { maxBatches } : {}),
      ...(batchSize !== undefined ? { batchSize: Math.max(1, Math.min(MAX_BATCH_SIZE, batchSize)) } : {}),
    };
  }
  return result;
}
