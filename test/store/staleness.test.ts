import { describe, expect, it } from 'vitest';
import { listingServes, readServes, type ShardFreshness, unreadShards } from '../../src/store/staleness.js';

const at = (iso: string) => new Date(iso);
const FULL_HASH_RANGE = 2n ** 128n - 1n;
const windowStart = at('2026-03-01T09:00:00Z');
const stopAt = at('2026-03-01T12:00:00Z');

function shard(shardId: string, facts: Partial<ShardFreshness> = {}): ShardFreshness {
  return {
    description: { shardId, startingHashKey: 0n, endingHashKey: FULL_HASH_RANGE, startingSequenceNumber: '1' },
    range: { lower: { kind: 'time', at: windowStart }, firstSequence: '10', lastSequence: '90' },
    closedAndRead: false,
    readToTipFor: undefined,
    ...facts,
  };
}

const shards = (...list: ShardFreshness[]) => new Map(list.map((entry) => [entry.description.shardId, entry]));

describe('whether what is loaded answers a statement within its staleness bound', () => {
  it('counts a shard read to its tip for a statement at most the bound older as fresh, an older read not', () => {
    const table = shards(
      shard('read-a-second-ago', { readToTipFor: at('2026-03-01T11:59:59Z') }),
      shard('read-a-minute-ago', { readToTipFor: at('2026-03-01T11:59:00Z') }),
      shard('never-read'),
    );
    expect(unreadShards(table, { stopAt }, 5_000, windowStart)).toEqual(['read-a-minute-ago', 'never-read']);
    expect(unreadShards(table, { stopAt }, 120_000, windowStart)).toEqual(['never-read']);
  });

  it('needs a shard whose loaded range does not reach back to the window, however recently it was read', () => {
    const narrow = shard('narrow', { readToTipFor: stopAt, range: { lower: { kind: 'time', at: at('2026-03-01T11:00:00Z') } } });
    expect(unreadShards(shards(narrow), { stopAt }, 60_000, windowStart)).toEqual(['narrow']);
  });

  it('needs no read of a closed shard read to its end, nor of one the bounds leave out', () => {
    const table = shards(shard('closed', { closedAndRead: true }), shard('other'));
    expect(unreadShards(table, { stopAt, bounds: { shardIds: ['closed'] } }, 0, windowStart)).toEqual([]);
  });

  it('trusts a shard listing while it is younger than its time to live, or as young as the answer may be old', () => {
    const now = stopAt.getTime();
    expect(listingServes(0, 10_000, { stopAt }, 60_000, now)).toBe(false);
    expect(listingServes(now - 5_000, 10_000, { stopAt }, 0, now)).toBe(true);
    expect(listingServes(now - 30_000, 10_000, { stopAt }, 60_000, now)).toBe(true);
    expect(listingServes(now - 30_000, 10_000, { stopAt }, 10_000, now)).toBe(false);
  });

  it('lets a read of the tip begun after the statement started serve it, one begun before not', () => {
    const needed = { kind: 'time', at: windowStart } as const;
    expect(readServes(shard('s', { readToTipFor: stopAt }), needed, { stopAt })).toBe(true);
    expect(readServes(shard('s', { readToTipFor: at('2026-03-01T11:59:59Z') }), needed, { stopAt })).toBe(false);
    expect(readServes(shard('s', { readToTipFor: stopAt, range: undefined }), needed, { stopAt })).toBe(false);
  });
});
