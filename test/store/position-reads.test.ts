import { describe, expect, it } from 'vitest';
import { PositionReads } from '../../src/store/position-reads.js';
import type { QueryResult } from '../../src/engine/engine.js';

/** The positions table as the engine would answer the joined read: a row for each stored shard asked for. */
function positionsEngine(stored: Record<string, number>, failFirst = false) {
  const queries: string[][] = [];
  let failing = failFirst;
  return {
    queries,
    query: async (_sql: string, params?: unknown[]): Promise<QueryResult> => {
      const asked = params?.[1] as string[];
      queries.push([...asked]);
      const rows = asked
        .filter((shardId) => stored[shardId] !== undefined)
        .map((shardId) => ({
          shard_id: shardId,
          lower_bound: { kind: 'horizon' },
          first_sequence: '1',
          first_arrival: null,
          last_sequence: String(stored[shardId]),
          last_arrival: null,
          closed_and_read: false,
          segment_count: stored[shardId],
          rows: stored[shardId],
          invalid_rows: 0,
          message_bytes: 0,
        }));
      // The engine answers a little later, with what was stored when the query ran.
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (failing) {
        failing = false;
        throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
      }
      return { rows, affectedRows: rows.length };
    },
  };
}

const shardIds = Array.from({ length: 32 }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);

describe('stored shard positions read together', () => {
  it('answer the 32 shards of a catch-up, asking in one turn, with one query, each its own position', async () => {
    const stored = Object.fromEntries(shardIds.slice(0, 20).map((shardId, i) => [shardId, 1000 + i]));
    const engine = positionsEngine(stored);
    const reads = new PositionReads(engine, 'public.events');
    const positions = await Promise.all(shardIds.map((shardId) => reads.read(shardId)));
    expect(engine.queries).toEqual([shardIds]);
    positions.forEach((position, i) => {
      if (i < 20) expect(position?.range.lastSequence).toBe(String(1000 + i));
      else expect(position).toBeUndefined();
    });
  });

  it('send a read asked after the query went out in a query of its own, which sees what committed since', async () => {
    const stored: Record<string, number> = { [shardIds[0]!]: 5 };
    const engine = positionsEngine(stored);
    const reads = new PositionReads(engine, 'public.events');
    const first = reads.read(shardIds[0]!);
    await new Promise((resolve) => setImmediate(resolve));
    stored[shardIds[0]!] = 9;
    const second = reads.read(shardIds[0]!);
    expect((await first)?.range.lastSequence).toBe('5');
    expect((await second)?.range.lastSequence).toBe('9');
    expect(engine.queries).toEqual([[shardIds[0]], [shardIds[0]]]);
  });

  it('fail every read of a failed query with its error, and read afresh when asked again', async () => {
    const engine = positionsEngine({ [shardIds[1]!]: 7 }, true);
    const reads = new PositionReads(engine, 'public.events');
    const failed = await Promise.allSettled([reads.read(shardIds[0]!), reads.read(shardIds[1]!)]);
    expect(failed.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect((failed[0] as PromiseRejectedResult).reason).toMatchObject({ code: '57P01' });
    expect((await reads.read(shardIds[1]!))?.range.lastSequence).toBe('7');
    expect(engine.queries).toHaveLength(2);
  });
});
