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

/** A read the test ends when it chooses: whether it reached the shard's end, or failed. */
interface HeldRead {
  reachEnd(): void;
  stopEarly(): void;
  fail(error: Error): void;
}

/** A stream's shards and reads of them that the test lets finish one by one, recording what started. */
function stream(descriptions: ShardDescription[]) {
  const shards = new Map<string, OrderedShard>(descriptions.map((description) => [description.shardId, { description, closedAndRead: false }]));
  const started: string[] = [];
  const held = new Map<string, HeldRead>();
  const readShard = (shard: OrderedShard): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      started.push(shard.description.shardId);
      held.set(shard.description.shardId, {
        reachEnd: () => {
          shard.closedAndRead = true;
          resolve();
        },
        stopEarly: resolve,
        fail: reject,
      });
    });
  const read = (chosen: string[], selected = chosen) =>
    readInReshardOrder({
      shards,
      ordered: descriptions,
      chosen: new Set(chosen),
      selected: new Set(selected),
      windowStart: undefined,
      request: { stopAt },
      readShard,
    });
  const settled = () => new Promise<void>((resolve) => setImmediate(resolve));
  return { shards, started, held: (id: string) => held.get(id)!, read, settled };
}

describe('the order a catch-up reads shards in across reshards', () => {
  it('reads unrelated shards together, and a split child only once its parent is read to its end', async () => {
    const { started, held, read, settled } = stream([described('parent', [], true), described('other'), described('child', ['parent'])]);
    const done = read(['parent', 'other', 'child']);
    await settled();
    expect(started).toEqual(['parent', 'other']);
    held('parent').reachEnd();
    await settled();
    expect(started).toEqual(['parent', 'other', 'child']);
    held('other').stopEarly();
    held('child').stopEarly();
    await done;
  });

  it('leaves a child unread when its parent stopped before its end: the parent still holds older records of its keys', async () => {
    const { started, held, read, settled } = stream([described('parent', [], true), described('child', ['parent'])]);
    const done = read(['parent', 'child']);
    await settled();
    held('parent').stopEarly();
    await settled();
    expect(started).toEqual(['parent']);
    await done;
  });

  it('reads a merged child after both its parents', async () => {
    const { started, held, read, settled } = stream([described('left', [], true), described('right', [], true), described('merged', ['left', 'right'])]);
    const done = read(['left', 'right', 'merged']);
    await settled();
    held('left').reachEnd();
    await settled();
    expect(started).toEqual(['left', 'right']);
    held('right').reachEnd();
    await settled();
    expect(started).toEqual(['left', 'right', 'merged']);
    held('merged').stopEarly();
    await done;
  });

  it('reads a child at once when its parent is outside what the statement selects', async () => {
    const { started, held, read, settled } = stream([described('unselected', [], true), described('child', ['unselected'])]);
    const done = read(['child'], ['child']);
    await settled();
    expect(started).toEqual(['child']);
    held('child').stopEarly();
    await done;
  });

  it('judges a parent read in an earlier round by whether that read reached its end', async () => {
    const { shards, started, held, read, settled } = stream([described('parent', [], true), described('child', ['parent'])]);
    const first = read(['child'], ['parent', 'child']);
    await settled();
    expect(started).toEqual([]);
    await first;
    shards.get('parent')!.closedAndRead = true;
    const done = read(['child'], ['parent', 'child']);
    await settled();
    expect(started).toEqual(['child']);
    held('child').stopEarly();
    await done;
  });

  it('fails with the first failure only once every other read has stopped', async () => {
    const { held, read, settled } = stream([described('a'), described('b')]);
    let outcome: unknown;
    const done = read(['a', 'b']).catch((error: unknown) => {
      outcome = error;
    });
    await settled();
    held('a').fail(new Error('stream gone'));
    await settled();
    expect(outcome).toBeUndefined();
    held('b').stopEarly();
    await done;
    expect(outcome).toEqual(new Error('stream gone'));
  });
});
