import { describe, expect, it } from 'vitest';
import { covers, laterTime, positionOf, type LoadedRange } from '../../src/store/loaded-range.js';

const at = (iso: string) => new Date(iso);

describe('what a shard range already holds', () => {
  const fromTen: LoadedRange = {
    lower: { kind: 'time', at: at('2026-03-01T10:00:00Z') },
    firstSequence: '500',
    firstArrival: at('2026-03-01T10:00:01Z'),
    lastSequence: '900',
  };

  it('covers a later time bound but not an earlier one', () => {
    expect(covers(fromTen, { kind: 'time', at: at('2026-03-01T11:00:00Z') })).toBe(true);
    expect(covers(fromTen, { kind: 'time', at: at('2026-03-01T10:00:00Z') })).toBe(true);
    expect(covers(fromTen, { kind: 'time', at: at('2026-03-01T09:00:00Z') })).toBe(false);
    expect(covers(fromTen, { kind: 'horizon' })).toBe(false);
    expect(covers({ lower: { kind: 'horizon' } }, { kind: 'time', at: at('2000-01-01T00:00:00Z') })).toBe(true);
  });

  it('covers a sequence bound at or after its first record', () => {
    expect(covers(fromTen, { kind: 'sequence', sequenceNumber: '600', inclusive: false })).toBe(true);
    expect(covers(fromTen, { kind: 'sequence', sequenceNumber: '500', inclusive: true })).toBe(true);
    expect(covers(fromTen, { kind: 'sequence', sequenceNumber: '499', inclusive: false })).toBe(false);
  });

  it('covers a time bound from a sequence range only when its first record is older', () => {
    const afterSeq: LoadedRange = {
      lower: { kind: 'sequence', sequenceNumber: '499', inclusive: false },
      firstSequence: '500',
      firstArrival: at('2026-03-01T10:00:01Z'),
      lastSequence: '900',
    };
    expect(covers(afterSeq, { kind: 'time', at: at('2026-03-01T10:30:00Z') })).toBe(true);
    expect(covers(afterSeq, { kind: 'time', at: at('2026-03-01T10:00:00Z') })).toBe(false);
  });

  it('starts reads at the iterator each bound calls for, and takes the later of window and bound', () => {
    expect(positionOf({ kind: 'horizon' })).toEqual({ type: 'TRIM_HORIZON' });
    expect(positionOf({ kind: 'sequence', sequenceNumber: '7', inclusive: true })).toEqual({ type: 'AT_SEQUENCE_NUMBER', sequenceNumber: '7' });
    expect(laterTime(at('2026-03-01T10:00:00Z'), at('2026-03-01T11:00:00Z'))).toEqual({ kind: 'time', at: at('2026-03-01T11:00:00Z') });
    expect(laterTime(at('2026-03-01T10:00:00Z'), at('2026-03-01T09:00:00Z'))).toEqual({ kind: 'time', at: at('2026-03-01T10:00:00Z') });
    expect(laterTime(undefined, undefined)).toEqual({ kind: 'horizon' });
  });
});
