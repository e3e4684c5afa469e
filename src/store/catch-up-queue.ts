/**
 * How catch-ups of one table queue and share work: statements that arrive while one runs join the next one
 * when they ask for the same shards and read limits, widened to cover how far back each reaches.
 */
import type { ScanRequest } from './scan-request.js';

/** A catch-up of one table under way: what it has read so far (the first load's log line reports it). */
export class CatchUpProgress {
  recordsRead = 0;
}

export interface WaitingCatchUp {
  request: ScanRequest;
  done: Promise<void>;
}

/**
 * Requests with the same key can share one read: they differ at most in their stop time and in how far
 * back they reach (time bound, window start), which mergeInto widens to cover both.
 */
export function requestKey(request: ScanRequest): string {
  const { fromTime: _fromTime, ...otherBounds } = request.bounds ?? {};
  return JSON.stringify([request.bounds ? otherBounds : null, request.window !== undefined, request.read ?? null, request.background === true]);
}

function earlier(a: Date | undefined, b: Date | undefined): Date | undefined {
  if (a === undefined || b === undefined) return undefined;
  return a < b ? a : b;
}

export function mergeInto(target: ScanRequest, other: ScanRequest): void {
  if (other.stopAt > target.stopAt) target.stopAt = other.stopAt;
  // A shared read is as strict as the strictest of its statements.
  if (target.tipSince && other.tipSince) target.tipSince = new Date(Math.max(target.tipSince.getTime(), other.tipSince.getTime()));
  else delete target.tipSince;
  if (target.bounds && other.bounds) {
    const fromTime = earlier(target.bounds.fromTime, other.bounds.fromTime);
    const { fromTime: _old, ...rest } = target.bounds;
    target.bounds = fromTime === undefined ? rest : { ...rest, fromTime };
  }
  if (target.window && other.window) target.window = { start: earlier(target.window.start, other.window.start) };
}
