import { describe, expect, it } from 'vitest';
import { LoadRate, shardProgress } from '../../src/store/load-progress.js';
import { type ShardReaderStats, unreadShardStats } from '../../src/kinesis/shard-reader-stats.js';
import type { ShardStatus } from '../../src/store/stream-table.js';

const HOUR = 3_600_000;
const TIP = Date.UTC(2026, 0, 1, 12);

function shard(overrides: Partial<ShardStatus>, reader: Partial<ShardReaderStats>): ShardStatus {
  return {
    shardId: 'shardId-000000000000',
    parentShardId: undefined,
    adjacentParentShardId: undefined,
    state: 'open',
    loadedFrom: undefined,
    firstSequenceNumber: undefined,
    lastSequenceNumber: undefined,
    firstArrival: undefined,
    rows: 0,
    invalidRows: 0,
    reader: {
      ...unreadShardStats(),
      calls: 1,
      ...reader,
    },
    ...overrides,
  };
}

describe('load progress of a shard', () => {
  it('is the share of the window between its start and the tip that the loaded records cover', () => {
    // Loaded from the window start (24 h before the tip) up to 6 h behind the tip: three quarters.
    const loading = shard({ loadedFrom: { kind: 'time', at: new Date(TIP - 24 * HOUR) } }, { millisBehindLatest: 6 * HOUR, readUpTo: TIP - 6 * HOUR });
    expect(shardProgress(loading, 24 * HOUR)).toEqual({ shardId: 'shardId-000000000000', ratio: 0.75, remainingMs: 6 * HOUR });
  });

  it('leaves out the older part of the window a time-bounded statement did not load', () => {
    const lastHour = shard({ loadedFrom: { kind: 'time', at: new Date(TIP - HOUR) } }, { millisBehindLatest: 0, readUpTo: TIP });
    expect(shardProgress(lastHour, 4 * HOUR).ratio).toBe(0.25);
    expect(shardProgress(lastHour, 4 * HOUR).remainingMs).toBe(3 * HOUR);
  });

  it('spans from the oldest record held to the tip when the table has no window', () => {
    const horizon = shard(
      { loadedFrom: { kind: 'horizon' }, firstArrival: new Date(TIP - 10 * HOUR) },
      { millisBehindLatest: 8 * HOUR, readUpTo: TIP - 8 * HOUR },
    );
    expect(shardProgress(horizon, undefined).ratio).toBeCloseTo(0.2, 10);
    // An empty shard read to its tip holds nothing and misses nothing.
    expect(shardProgress(shard({ loadedFrom: { kind: 'horizon' } }, { millisBehindLatest: 0, readUpTo: TIP }), undefined).ratio).toBe(1);
  });

  it('is 0 before the first read and 1 for a shard closed and read to its end', () => {
    expect(shardProgress(shard({}, {}), HOUR)).toMatchObject({ ratio: 0, remainingMs: HOUR });
    expect(shardProgress(shard({ state: 'closed, read to its end' }, {}), HOUR)).toMatchObject({ ratio: 1, remainingMs: 0 });
  });
});

describe('time left of a load', () => {
  it('follows the rate the remaining span shrank at over the last minute', () => {
    const rate = new LoadRate();
    expect(rate.secondsLeft('t', 10 * HOUR, 0)).toBeUndefined();
    // 1 h of stream time loaded in 10 s (net of the tip moving on): 9 h left takes 90 s.
    expect(rate.secondsLeft('t', 9 * HOUR, 10_000)).toBe(90);
    expect(rate.secondsLeft('t', 8 * HOUR, 20_000)).toBe(80);
    // Samples older than a minute are dropped: from 20 s to 80 s, 1 h more loaded: 7 h left take 420 s.
    expect(rate.secondsLeft('t', 7 * HOUR, 80_000)).toBe(420);
    expect(rate.secondsLeft('t', 0, 90_000)).toBe(0);
  });

  it('is unknown while nothing gets loaded', () => {
    const rate = new LoadRate();
    rate.secondsLeft('t', HOUR, 0);
    expect(rate.secondsLeft('t', HOUR + 5_000, 5_000)).toBeUndefined();
  });
});
