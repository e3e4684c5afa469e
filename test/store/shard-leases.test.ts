import { describe, expect, it } from 'vitest';
import { fairShare, leasesToTake, renewIntervalMs } from '../../src/store/shard-leases.js';

const lease = (shardId: string, holder?: string) => ({ table: 'public.orders', shardId, ...(holder === undefined ? { holder: undefined } : { holder }) });

describe('dividing a table’s shard leases among the servers on one engine', () => {
  it('gives each of m servers n / m shards, the remainder one each, and every shard to someone', () => {
    for (const [n, m] of [
      [4, 3],
      [10, 3],
      [2, 5],
      [7, 1],
    ] as const) {
      const shares = Array.from({ length: m }, (_, rank) => fairShare(n, m, rank, 'public.orders'));
      expect(shares.reduce((a, b) => a + b, 0)).toBe(n);
      expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
    }
  });

  it('does not give the remainders of every table to the same servers', () => {
    const tables = Array.from({ length: 12 }, (_, i) => `public.t${i}`);
    const extras = [0, 1, 2].map((rank) => tables.filter((table) => fairShare(4, 3, rank, table) === 2).length);
    expect(extras.filter((count) => count > 0).length).toBeGreaterThan(1);
  });

  it('takes free leases first, up to the server’s share', () => {
    const rows = [lease('s0', 'a'), lease('s1'), lease('s2'), lease('s3')];
    const live = ['a', 'b'];
    const taken = leasesToTake(rows, live, 'b', 'public.orders');
    expect(taken.map((row) => row.shardId)).toEqual(['s1', 's2'].slice(0, fairShare(4, 2, 1, 'public.orders')));
  });

  it('a server that joins takes leases from the servers above their share, and a balanced table stays as it is', () => {
    const rows = [lease('s0', 'a'), lease('s1', 'a'), lease('s2', 'b'), lease('s3', 'b')];
    const live = ['a', 'b', 'c'];
    const taken = leasesToTake(rows, live, 'c', 'public.orders');
    expect(taken).toHaveLength(fairShare(4, 3, 2, 'public.orders'));
    const after = rows.map((row) => (taken.includes(row) ? { ...row, holder: 'c' } : row));
    for (const server of live) expect(leasesToTake(after, live, server, 'public.orders')).toEqual([]);
  });

  it('renews three times per lease duration', () => {
    expect(renewIntervalMs(10_000)).toBe(3_333);
  });
});
