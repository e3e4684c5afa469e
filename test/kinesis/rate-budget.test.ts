import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { READ_BURST, ShardRateBudget } from '../../src/kinesis/rate-budget.js';
import { withRetries, KinesisTimeoutError } from '../../src/kinesis/retry.js';

/** Asks the budget for `calls` calls of one shard at once; the function returned moves the fake clock on and says how many started. */
function askFor(budget: ShardRateBudget, calls: number): (advanceMs: number) => Promise<number> {
  let granted = 0;
  for (let i = 0; i < calls; i++) void budget.acquire('s', 'shard-0').then(() => (granted += 1));
  return async (advanceMs) => {
    await vi.advanceTimersByTimeAsync(advanceMs);
    return granted;
  };
}

describe('the per-shard read budget', () => {
  beforeEach(() => vi.useFakeTimers({ now: new Date('2026-03-01T00:00:00Z') }));
  afterEach(() => vi.useRealTimers());

  it('lets at most 5 calls a second through for one shard, whoever asks', async () => {
    const grantedAfter = askFor(new ShardRateBudget(), 12);
    expect(await grantedAfter(0)).toBe(5);
    expect(await grantedAfter(1_000)).toBe(10);
    expect(await grantedAfter(1_000)).toBe(12);
  });

  it('at a share of the rate, lets a burst of 2 calls start at once, then one per 1/rate seconds (0.2 of 5 is 1 a second, 0.1 one per 2 s)', async () => {
    for (const [rate, gapMs] of [
      [1, 1_000],
      [0.5, 2_000],
    ] as const) {
      const budget = new ShardRateBudget(rate);
      expect(budget.burst).toBe(READ_BURST);
      let granted = 0;
      for (let i = 0; i < 4; i++) void budget.acquire('s', 'shard-0').then(() => (granted += 1));
      await vi.advanceTimersByTimeAsync(0);
      expect(granted).toBe(2);
      await vi.advanceTimersByTimeAsync(gapMs - 1);
      expect(granted).toBe(2);
      await vi.advanceTimersByTimeAsync(1);
      expect(granted).toBe(3);
      await vi.advanceTimersByTimeAsync(gapMs);
      expect(granted).toBe(4);
    }
    expect(new ShardRateBudget(2.5).callsPerSecond).toBeCloseTo(2.5);
    expect(() => new ShardRateBudget(0)).toThrow(RangeError);
  });

  it('holds any 10 s to rate × 10 + burst calls, however the callers come', async () => {
    const budget = new ShardRateBudget(1);
    const granted: number[] = [];
    const start = Date.now();
    // Callers arrive in clumps and alone, more of them than the budget can take.
    for (let second = 0; second < 30; second++) {
      for (let i = 0; i < (second % 3 === 0 ? 4 : 1); i++) void budget.acquire('s', 'shard-0').then(() => granted.push(Date.now() - start));
      await vi.advanceTimersByTimeAsync(1_000);
    }
    await vi.advanceTimersByTimeAsync(60_000);
    for (const from of granted) expect(granted.filter((at) => at >= from && at < from + 10_000).length).toBeLessThanOrEqual(10 + READ_BURST);
    expect(granted.length).toBe(60);
  });

  it('has a call to spare for the follower only when its bucket is full and nobody waits', async () => {
    const budget = new ShardRateBudget(1);
    expect(budget.spare('s', 'shard-0')).toBe(true);
    await budget.acquire('s', 'shard-0');
    // One call left for a statement: the follower waits.
    expect(budget.spare('s', 'shard-0')).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(budget.spare('s', 'shard-0')).toBe(true);
    await budget.acquire('s', 'shard-0');
    await budget.acquire('s', 'shard-0');
    let third = false;
    void budget.acquire('s', 'shard-0').then(() => (third = true));
    await vi.advanceTimersByTimeAsync(1_999);
    expect(budget.spare('s', 'shard-0')).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(third).toBe(true);
  });

  it('keeps shards apart and makes a shard wait until 2 MB/s pays for what it read', async () => {
    const budget = new ShardRateBudget();
    await budget.acquire('s', 'shard-0');
    budget.spend('s', 'shard-0', 4 * 1024 * 1024);
    let other = false;
    let same = false;
    void budget.acquire('s', 'shard-1').then(() => (other = true));
    void budget.acquire('s', 'shard-0').then(() => (same = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(other).toBe(true);
    expect(same).toBe(false);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(same).toBe(false);
    await vi.advanceTimersByTimeAsync(2);
    expect(same).toBe(true);
  });

  it('with a budget shared by several servers, a call starts only when the shared bucket has one, and is spare only when it is full', async () => {
    /** Another server's calls: the shared bucket (1 call a second, burst 2) holds what both have left. */
    let tokens = 2;
    let at = Date.now();
    let full = true;
    const shared = {
      take: async () => {
        tokens = Math.min(2, tokens + (Date.now() - at) / 1000);
        at = Date.now();
        if (tokens < 1) return (1 - tokens) * 1000;
        tokens -= 1;
        return 0;
      },
      full: () => full,
      look: async () => undefined,
    };
    const budget = new ShardRateBudget(1, undefined, 0, undefined, shared);
    tokens = 0.5; // the other server took a call and a half
    const grantedAfter = askFor(budget, 2);
    expect(await grantedAfter(0)).toBe(0);
    expect(await grantedAfter(500)).toBe(1);
    expect(await grantedAfter(999)).toBe(1);
    expect(await grantedAfter(1)).toBe(2);
    // This server's own bucket is full again after a quiet spell, but spare follows the shared one.
    await vi.advanceTimersByTimeAsync(5_000);
    full = false;
    expect(budget.spare('s', 'shard-0')).toBe(false);
    full = true;
    expect(budget.spare('s', 'shard-0')).toBe(true);
  });
});

describe('retries', () => {
  const throttled = Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' });
  const notFound = Object.assign(new Error('no such stream'), { name: 'ResourceNotFoundException' });

  it('retries throttles beyond the attempt count, other failures up to it, and never a missing stream', async () => {
    let calls = 0;
    const policy = { attempts: 2, baseDelayMs: 0, maxDelayMs: 0 };
    await expect(withRetries(policy, 'x', async () => (++calls < 6 ? Promise.reject(throttled) : 'ok'))).resolves.toBe('ok');
    calls = 0;
    const broken = Object.assign(new Error('boom'), { $metadata: { httpStatusCode: 503 } });
    await expect(
      withRetries(policy, 'x', async () => {
        calls += 1;
        return Promise.reject(broken);
      }),
    ).rejects.toBe(broken);
    expect(calls).toBe(2);
    calls = 0;
    await expect(
      withRetries(policy, 'x', async () => {
        calls += 1;
        return Promise.reject(notFound);
      }),
    ).rejects.toBe(notFound);
    expect(calls).toBe(1);
  });

  it('gives up with a timeout error when an attempt never answers', async () => {
    const policy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, callTimeoutMs: 20, deadlineMs: 200 };
    const never = (signal: AbortSignal) => new Promise<string>((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
    await expect(withRetries(policy, 'GetRecords s/shard-0', never)).rejects.toBeInstanceOf(KinesisTimeoutError);
  });
});
