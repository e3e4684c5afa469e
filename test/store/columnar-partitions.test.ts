import { describe, expect, it } from 'vitest';
import { ARRIVAL_SKEW_MS, closedRange } from '../../src/store/columnar-partitions.js';
import type { LoadedRange } from '../../src/store/loaded-range.js';
import type { ShardState } from '../../src/store/shard-loader.js';

const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1) + seconds * 1000);

function shard(range: LoadedRange | undefined, state: { closedAndRead?: boolean; expired?: boolean } = {}): ShardState {
  return { range, closedAndRead: state.closedAndRead ?? false, expired: state.expired ?? false } as ShardState;
}

describe('which time partitions can receive no more records', () => {
  it('ends before the earliest last-loaded arrival of the shards still read, less the skew', () => {
    const closed = closedRange([shard({ lower: { kind: 'horizon' }, lastArrival: at(100) }), shard({ lower: { kind: 'horizon' }, lastArrival: at(40) })]);
    expect(closed?.to).toEqual(new Date(at(40).getTime() - ARRIVAL_SKEW_MS));
    expect(closed).toEqual({ to: new Date(at(40).getTime() - ARRIVAL_SKEW_MS) });
  });

  it('starts after where a read of older records could still add some', () => {
    const closed = closedRange([
      shard({ lower: { kind: 'time', at: at(10) }, lastArrival: at(100) }),
      shard({ lower: { kind: 'sequence', sequenceNumber: '5', inclusive: true }, firstArrival: at(20), lastArrival: at(100) }),
    ]);
    expect(closed).toEqual({ from: new Date(at(20).getTime() + ARRIVAL_SKEW_MS), to: new Date(at(100).getTime() - ARRIVAL_SKEW_MS) });
  });

  it('is bounded by no shard that is read to its end, and by none that expired', () => {
    const closed = closedRange([
      shard({ lower: { kind: 'horizon' }, lastArrival: at(10) }, { closedAndRead: true }),
      shard(undefined, { expired: true }),
      shard({ lower: { kind: 'horizon' }, lastArrival: at(100) }),
    ]);
    expect(closed?.to).toEqual(new Date(at(100).getTime() - ARRIVAL_SKEW_MS));
  });

  it('is nothing while a shard has no position, or none loaded by this process, or every shard is read to its end', () => {
    expect(closedRange([shard({ lower: { kind: 'horizon' }, lastArrival: at(100) }), shard(undefined)])).toBeUndefined();
    expect(closedRange([shard({ lower: { kind: 'horizon' }, lastSequence: '9' })])).toBeUndefined();
    expect(closedRange([shard({ lower: { kind: 'horizon' }, lastArrival: at(100) }, { closedAndRead: true })])).toBeUndefined();
    expect(closedRange([shard({ lower: { kind: 'sequence', sequenceNumber: '5', inclusive: true }, lastArrival: at(100) })])).toBeUndefined();
    expect(closedRange([])).toBeUndefined();
  });
});
