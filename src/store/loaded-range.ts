import type { ShardPosition } from '../kinesis/records.js';
import { compareSequenceNumbers } from '../kinesis/sequence-number.js';

/** Where the records a statement needs from a shard begin. */
export type LowerBound = { kind: 'horizon' } | { kind: 'time'; at: Date } | { kind: 'sequence'; sequenceNumber: string; inclusive: boolean };

/**
 * What the engine holds of one shard. Statements only put lower bounds on a scan and every read runs to
 * the tip, so what is loaded is always one contiguous run of the shard:
 * - every record at or after `lower` with a sequence number up to `lastSequence` is loaded;
 * - the engine holds exactly the records from `firstSequence` to `lastSequence` (none when undefined).
 * A statement that needs older records reads from its own bound up to (not including) `firstSequence`,
 * so nothing is loaded twice; one that needs no older records reads only after `lastSequence`.
 */
export interface LoadedRange {
  lower: LowerBound;
  firstSequence?: string;
  firstArrival?: Date;
  /** The last record loaded; the tail is read after it. Kept when eviction removes every row. */
  lastSequence?: string;
  /**
   * The arrival of the last record loaded (stored with the position, so a catch-up that reloads it keeps it);
   * unknown for a position stored by a kinesql older than the column until its next load.
   */
  lastArrival?: Date;
}

/** Does the range hold every record (up to its tail) that a read from `needed` would load? */
export function covers(range: LoadedRange, needed: LowerBound): boolean {
  const { lower } = range;
  if (lower.kind === 'horizon') return true;
  if (needed.kind === 'horizon') return false;
  if (needed.kind === 'time') {
    if (lower.kind === 'time') return lower.at.getTime() <= needed.at.getTime();
    // Everything before the first loaded record arrived no later than it.
    return range.firstArrival !== undefined && range.firstArrival.getTime() < needed.at.getTime();
  }
  if (range.firstSequence !== undefined) {
    if (compareSequenceNumbers(range.firstSequence, needed.sequenceNumber) <= 0) return true;
  }
  if (lower.kind === 'sequence') {
    const order = compareSequenceNumbers(lower.sequenceNumber, needed.sequenceNumber);
    return order < 0 || (order === 0 && (lower.inclusive || !needed.inclusive));
  }
  return false;
}

/** The iterator position a read from this bound starts at. */
export function positionOf(bound: LowerBound): ShardPosition {
  switch (bound.kind) {
    case 'horizon':
      return { type: 'TRIM_HORIZON' };
    case 'time':
      return { type: 'AT_TIMESTAMP', timestamp: bound.at };
    case 'sequence':
      return { type: bound.inclusive ? 'AT_SEQUENCE_NUMBER' : 'AFTER_SEQUENCE_NUMBER', sequenceNumber: bound.sequenceNumber };
  }
}

/** The narrower of a window start and a statement's time bound (the later time). */
export function laterTime(window: Date | undefined, bound: Date | undefined): LowerBound {
  if (window === undefined && bound === undefined) return { kind: 'horizon' };
  if (window === undefined) return { kind: 'time', at: bound! };
  if (bound === undefined || bound.getTime() <= window.getTime()) return { kind: 'time', at: window };
  return { kind: 'time', at: bound };
}

export function describeBound(bound: LowerBound): string {
  switch (bound.kind) {
    case 'horizon':
      return 'TRIM_HORIZON';
    case 'time':
      return bound.at.toISOString();
    case 'sequence':
      return `${bound.inclusive ? 'at' : 'after'} ${bound.sequenceNumber}`;
  }
}
