import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { citusMissing } from '../support/citus-cluster.js';
import type { Harness } from '../support/harness.js';
import { startWindowedTicks } from '../support/windowed-table.js';

/** A 30-second window in partitions of one second, so partitions expire within the test (and loads on a busy machine fit in it). */
const WINDOW_SECONDS = 30;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const onCitus = process.env['KINESQL_TEST_ENGINE'] === 'citus';

describe.skipIf(!onCitus || citusMissing() !== undefined)('stream tables on a Citus coordinator and two workers', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startWindowedTicks({ windowSeconds: WINDOW_SECONDS });
  });

  afterAll(async () => {
    await harness?.close();
  });

  /** Rows of the table per worker (host:port), counted on the shards themselves as the administrator. */
  const rowsPerWorker = async (): Promise<Map<string, number>> => {
    const { rows } = await harness.server.engine.query(
      `SELECT s.nodename || ':' || s.nodeport AS node, sum(r.result::int)::int AS rows
         FROM citus_shards s
         JOIN run_command_on_shards('public.ticks', 'SELECT count(*) FROM %s') r ON r.shardid = s.shardid
        WHERE s.table_name = 'public.ticks'::regclass GROUP BY 1`,
    );
    return new Map(rows.map((row) => [String(row['node']), Number(row['rows'])]));
  };

  const distributedPartitions = async (): Promise<string[]> => {
    const { rows } = await harness.server.engine.query(
      `SELECT p.logicalrelid::text AS name FROM pg_dist_partition p JOIN pg_inherits i ON i.inhrelid = p.logicalrelid
        WHERE i.inhparent = 'public.ticks'::regclass ORDER BY 1`,
    );
    return rows.map((row) => String(row['name']));
  };

  it('distributes a stream table by _partition_key over both workers, its time partitions with it', async () => {
    await harness.put(
      'ticks',
      Array.from({ length: 40 }, (_, n) => ({ n })),
    );
    const client = await harness.connect();
    try {
      expect((await client.query('select count(*)::int as n, sum(n)::int as total from ticks')).rows[0]).toEqual({ n: 40, total: 780 });
    } finally {
      await client.end();
    }
    const { rows } = await harness.server.engine.query(
      `SELECT column_to_column_name(logicalrelid, partkey) AS column FROM pg_dist_partition WHERE logicalrelid = 'public.ticks'::regclass`,
    );
    expect(rows).toEqual([{ column: '_partition_key' }]);
    const perWorker = await rowsPerWorker();
    expect(perWorker.size).toBe(2);
    expect([...perWorker.values()].every((count) => count > 0)).toBe(true);
    expect([...perWorker.values()].reduce((sum, count) => sum + count, 0)).toBe(40);
    expect((await distributedPartitions()).length).toBeGreaterThan(0);
  });

  it("applies each session's own window on the workers, as on one server", async () => {
    const narrow = await harness.connect();
    const wide = await harness.connect();
    try {
      await sleep(1_100);
      const between = new Date();
      await sleep(1_100);
      await harness.put(
        'ticks',
        Array.from({ length: 5 }, (_, n) => ({ n: 1000 + n })),
      );
      await narrow.query(`SET kinesis.iter_start_timestamp = '${between.toISOString()}'`);
      const count = async (client: typeof narrow) => (await client.query('select count(*)::int as n, min(n) as first from ticks')).rows[0];
      const [a, b] = await Promise.all([count(narrow), count(wide)]);
      expect(a).toEqual({ n: 5, first: 1000 });
      expect(b).toEqual({ n: 45, first: 0 });
      await narrow.query('RESET kinesis.iter_start_timestamp');
      expect(await count(narrow)).toEqual({ n: 45, first: 0 });
    } finally {
      await narrow.end();
      await wide.end();
    }
  });

  it('drops distributed partitions, with their shards on the workers, once they are past the window, queueing no reader', async () => {
    const before = await distributedPartitions();
    // A session idle in a transaction that read the table holds it: the partitions wait for it, readers do not.
    const holder = await harness.connect();
    const client = await harness.connect();
    /** Client statements seen waiting for a lock, while the holder held the table and after. */
    const lockWaits = { held: 0, after: 0 };
    let phase: keyof typeof lockWaits = 'held';
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await harness.server.engine.query(
          `SELECT l.relation::regclass::text AS relation FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.usename = 'tester'`,
        );
        lockWaits[phase] += rows.length;
        await sleep(20);
      }
    })();
    try {
      await holder.query('begin');
      await holder.query('select count(*) from ticks');
      await sleep((WINDOW_SECONDS + 2) * 1000);
      await harness.put(
        'ticks',
        Array.from({ length: 3 }, (_, n) => ({ n: 2000 + n })),
      );
      // Each statement runs an eviction, whose drop gives up while the holder holds the table.
      for (let round = 0; round < 5; round++) {
        expect((await client.query('select count(*)::int as n, min(n)::int as lo from ticks')).rows[0]).toEqual({ n: 3, lo: 2000 });
      }
      expect((await distributedPartitions()).filter((name) => before.includes(name)).length).toBeGreaterThan(0);
      await holder.query('commit');
      phase = 'after';
      let slowest = 0;
      await vi.waitFor(
        async () => {
          const started = performance.now();
          expect((await client.query('select count(*)::int as n from ticks')).rows[0]).toEqual({ n: 3 });
          slowest = Math.max(slowest, performance.now() - started);
          const after = await distributedPartitions();
          expect(after.filter((name) => before.includes(name))).toEqual([]);
          expect([...(await rowsPerWorker()).values()].reduce((sum, count) => sum + count, 0)).toBe(3);
        },
        { timeout: 60_000, interval: 500 },
      );
      console.log(
        `once the holder ended: slowest count ${slowest.toFixed(0)} ms; client lock waits sampled ${lockWaits.after} (while held: ${lockWaits.held})`,
      );
    } finally {
      sampling = false;
      await sampler;
      await holder.end();
      await client.end();
    }
    // While the holder held the table, the drop's attempts never queued a reader; after, readers wait only for the drop itself.
    expect(lockWaits.held).toBe(0);
  }, 180_000);
});
