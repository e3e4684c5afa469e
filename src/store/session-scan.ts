import { SESSION_PROPERTIES, sessionPropertyValue } from '../config/session-properties.js';
import type { ReadOverrides, ScanWindow } from './scan-request.js';

export { SessionSettingError } from '../config/session-properties.js';

/** The seed's session properties (SET SESSION kinesis.x) that change how a session's statements read. */
export interface SessionScan {
  window?: ScanWindow;
  read?: ReadOverrides;
}

/** GetRecords takes at most this many records per call. */
const MAX_BATCH_SIZE = 10_000;

/**
 * The window and read limits a session's settings ask for; nothing when the session set none of them
 * (its statements then use the tables' configured windows). A value a property cannot take throws
 * SessionSettingError.
 */
export function sessionScan(
  settings: ReadonlyMap<string, string> | undefined,
  defaults: { iterFromTimestamp: boolean; iterOffsetSeconds: number },
  now: Date,
): SessionScan {
  if (!settings || settings.size === 0) return {};
  const result: SessionScan = {};
  const fromTimestamp = sessionPropertyValue(settings, SESSION_PROPERTIES.iterFromTimestamp);
  const offset = sessionPropertyValue(settings, SESSION_PROPERTIES.iterOffsetSeconds);
  const start = sessionPropertyValue(settings, SESSION_PROPERTIES.iterStartTimestamp);
  if (fromTimestamp !== undefined || offset !== undefined || start !== undefined) {
    if (!(fromTimestamp ?? defaults.iterFromTimestamp)) result.window = { start: undefined };
    else if (start !== undefined) result.window = { start };
    else result.window = { start: new Date(now.getTime() - (offset ?? defaults.iterOffsetSeconds) * 1000) };
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
