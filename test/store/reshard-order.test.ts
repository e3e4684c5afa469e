import { describe, expect, it } from 'vitest';
import type { ShardDescription } from '../../src/kinesis/records.js';
import { type OrderedShard, readInReshardOrder } from '../../src/store/reshard-order.js';

const FULL_HASH_RANGE = 2n ** 128n - 1n;
const stopAt = new Date('2026-03-01T12:00:00Z');

function described(shardId: string, parents: string[] = [], closed = false): ShardDescription {
  return {
    shardId,
    startingHashKey: 0n,
    endingHashKey: FULL_HASH_RANGE,
    startingSequenceNumber: '1',
    ...(parents[0] !== undefined ? { parentShardId: parents[0] } : {}),
    ...(parents[1] !== undefined ? { adjacentParentShardId: parents[1] } : {}),
    ...(closed ? { endingSequenceNumber: '99' } : {}),
  };
}

type ReadEnd = 'reachEnd' | 'stopEarly';

/**
 * A stream's shards and reads of them that the test ends one by one: `begin` starts a catch-up's reads and
 * `end` ends one, each giving the shards whose reads have started once everything that could run has run.
 */
function stream(descriptions: ShardDescription[]) {
  const shards = new Map<string, OrderedShard>(descriptions.map((description) => [description.shardId, { description, closedAndRead: false }]));
  const started: string[] = [];
  const ends = new Map<string, Record<ReadEnd, () => void> & { fail: (error: Error) => void }>();
  const readShard = (shard: OrderedShard): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      started.push(shard.description.shardId);
      const reachEnd = () => {
        shard.closedAndRead = true;
        resolve();
      };
      ends.set(shard.description.shardId, { reachEnd, stopEarly: resolve, fail: reject });
    });
  const startedNow = async (): Promise<string[]> => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return [...started];
  };
  return {
    shards,
    begin: async (chosen: string[], selected = chosen) => {
      const request = { stopAt };
      const done = readInReshardOrder({
        shards,
        ordered: descriptions,
        chosen: new Set(chosen),
        selected: new Set(selected),
        windowStart: undefined,
        request,
        readShard,
      });
      done.catch(() => undefined);
      return { done, started: await startedNow() };
    },
    end: (id: string, how: ReadEnd): Promise<string[]> => {
      ends.get(id)![how]();
      return startedNow();
    },
    fail: (id: string, error: Error): Promise<string[]> => {
      ends.get(id)!.fail(error);
      return startedNow();
    },
  };
}

describe('the order a catch-up reads shards in across reshards', () => {
  it('reads unrelated shards together, and a split child only once its parent is read to its end', async () => {
    const { begin, end } = stream([described('parent', [], true), described('other'), described('child', ['parent'])]);
    const { done, started } = await begin(['parent', 'other', 'child']);
    expect(started).toEqual(['parent', 'other']);
    expect(await end('parent', 'reachEnd')).toEqual(['parent', 'other', 'child']);
    await end('other', 'stopEarly');
    await end('child', 'stopEarly');
    await done;
  });

  it('leaves a child unread when its parent stopped before its end: the parent still holds older records of its keys', async () => {
    const { begin, end } = stream([described('parent', [], true), described('child', ['parent'])]);
    const { done } = await begin(['parent', 'child']);
    expect(await end('parent', 'stopEarly')).toEqual(['parent']);
    await done;
  });

  it('reads a merged child after both its parents', async () => {
    const { begin, end } = stream([described('left', [], true), described('right', [], true), described('merged', ['left', 'right'])]);
    const { done } = await begin(['left', 'right', 'merged']);
    expect(await end('left', 'reachEnd')).toEqual(['left', 'right']);
    expect(await end('right', 'reachEnd')).toEqual(['left', 'right', 'merged']);
    await end('merged', 'stopEarly');
    await done;
  });

  it('reads a child at once when its parent is outside what the statement selects', async () => {
    const { begin, end } = stream([described('unselected', [], true), described('child', ['unselected'])]);
    const { done, started } = await begin(['child'], ['child']);
    expect(started).toEqual(['child']);
    await end('child', 'stopEarly');
    await done;
  });

  it('judges a parent read in an earlier round by whether that read reached its end', async () => {
    const { shards, begin, end } = stream([described('parent', [], true), described('child', ['parent'])]);
    const earlier = await begin(['child'], ['parent', 'child']);
    expect(earlier.started).toEqual([]);
    await earlier.done;
    shards.get('parent')!.closedAndRead = true;
    const later = await begin(['child'], ['parent', 'child']);
    expect(later.started).toEqual(['child']);
    await end('child', 'stopEarly');
    await later.done;
  });

  it('fails with the first failure only once every other read has stopped', async () => {
    const { begin, end, fail } = stream([described('a'), described('b')]);
    const { done } = await begin(['a', 'b']);
    let outcome: unknown;
    done.catch((error: unknown) => {
      outcome = error;
    });
    await fail('a', new Error('stream gone'));
    expect(outcome).toBeUndefined();
    await end('b', 'stopEarly');
    await expect(done).rejects.toEqual(new Error('stream gone'));
  });
});
