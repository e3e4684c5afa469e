import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import { partitionName } from '../../src/store/time-partitions.js';
import { startHarness, type Harness } from '../support/harness.js';
import { startWindowedTicks } from '../support/windowed-table.js';

/** A 6-second window with partitions of one second (kinesql.partition-interval), so partitions expire within the test. */
const WINDOW_SECONDS = 6;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('stream tables partitioned by arrival time', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startWindowedTicks({ windowSeconds: WINDOW_SECONDS });
  });

  afterAll(async () => {
    await harness?.close();
  });

  const partitions = async (): Promise<{ name: string; rows: number; from: Date; to: Date }[]> => {
    const engine = harness.server.engine;
    const { rows } = await engine.query(
      `SELECT c.oid::regclass::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.ticks'::regclass ORDER BY 1`,
    );
    const result = [];
    for (const row of rows) {
      const name = String(row['name']);
      const count = await engine.query(`SELECT count(*)::int AS n FROM ${name}`);
      const [, from, to] = /FROM \('([^']+)'\) TO \('([^']+)'\)/.exec(String(row['bound']))!;
      const bounds = await engine.query('SELECT $1::timestamptz AS from_time, $2::timestamptz AS to_time', [from, to]);
      result.push({ name, rows: Number(count.rows[0]?.['n']), from: bounds.rows[0]!['from_time'] as Date, to: bounds.rows[0]!['to_time'] as Date });
    }
    return result;
  };

  /** The partition a loaded record (by n) sits in, and when that partition's second ends (ms). */
  const placementOf = async (n: number): Promise<{ partition: string; end: number }> => {
    const { rows } = await harness.server.engine.query('SELECT tableoid::regclass::text AS partition, _message_timestamp AS at FROM ticks WHERE n = $1', [n]);
    const at = (rows[0]!['at'] as Date).getTime();
    return { partition: String(rows[0]!['partition']), end: Math.floor(at / 1000) * 1000 + 1000 };
  };

  it('loads each record into the partition of its arrival time, in a schema of its own', async () => {
    await harness.put(
      'ticks',
      Array.from({ length: 20 }, (_, n) => ({ n })),
    );
    const client = await harness.connect();
    try {
      expect((await client.query('select count(*)::int as n from ticks')).rows[0]?.n).toBe(20);
      const held = await partitions();
      expect(held.length).toBeGreaterThan(0);
      expect(held.reduce((sum, partition) => sum + partition.rows, 0)).toBe(20);
      for (const partition of held) {
        expect(partition.name.startsWith('kinesql_partitions.ticks_')).toBe(true);
        expect(partition.to.getTime() - partition.from.getTime()).toBe(1000);
      }
      // Each record sits in the partition named for the second it arrived in (PostgreSQL only checks the bounds).
      const placed = await harness.server.engine.query('SELECT tableoid::regclass::text AS partition, _message_timestamp AS at FROM ticks');
      for (const row of placed.rows) {
        const second = new Date(Math.floor((row['at'] as Date).getTime() / 1000) * 1000);
        expect(row['partition']).toBe(`kinesql_partitions.${partitionName({ schemaName: 'public', tableName: 'ticks' }, second)}`);
      }
      // BI tools list the stream table, not its partitions.
      const listed = await client.query(`select table_schema, table_name from information_schema.tables where table_name like 'ticks%' order by 1, 2`);
      expect(listed.rows).toEqual([{ table_schema: 'public', table_name: 'ticks' }]);
    } finally {
      await client.end();
    }
  });

  it('reads only the partitions a time-bounded query reaches (EXPLAIN shows the pruning)', async () => {
    // Its own two records, in consecutive partitions, rather than those of the test before: on a slow machine
    // those may already be past the 6-second window (and their partitions detached) by the time this one runs.
    const client = await harness.connect();
    try {
      await harness.put('ticks', [{ n: 50 }]);
      expect((await client.query('select count(*)::int as n from ticks where n = 50')).rows[0]?.n).toBe(1);
      const earlier = await placementOf(50);
      while (Date.now() < earlier.end) await sleep(earlier.end - Date.now() + 10);
      await harness.put('ticks', [{ n: 51 }]);
      expect((await client.query('select count(*)::int as n from ticks where n in (50, 51)')).rows[0]?.n).toBe(2);
      const later = await placementOf(51);
      expect(later.partition).not.toBe(earlier.partition);
      const plan = await client.query(
        `explain (analyze, costs off, timing off, summary off) select count(*) from ticks where _message_timestamp > now() - interval '1 millisecond'`,
      );
      const text = plan.rows.map((row) => String(row['QUERY PLAN'])).join('\n');
      // Pruned at executor start (now() is stable): the plan says how many partitions it left out, among them
      // the earlier record's, which is inside the window (the row policy did not leave it out).
      expect(text).toMatch(/Subplans Removed: [1-9]/);
      expect(text).not.toContain(earlier.partition.split('.')[1]);
    } finally {
      await client.end();
    }
  });

  it('drops whole partitions past the window, keeps what is inside, even while a session holds the table', async () => {
    const holder = await harness.connect();
    const client = await harness.connect();
    try {
      // A record of its own for the holder to read: those of the tests before may be past the window by now.
      await harness.put('ticks', [{ n: 70 }]);
      await holder.query('begin');
      expect((await holder.query('select count(*)::int as n from ticks')).rows[0]?.n).toBeGreaterThan(0);
      // New records need new partitions: attaching one must not wait for the open transaction.
      await harness.put(
        'ticks',
        Array.from({ length: 5 }, (_, n) => ({ n: 100 + n })),
      );
      const during = await client.query('select count(*)::int as n from ticks where n >= 100');
      expect(during.rows[0]?.n).toBe(5);
      await holder.query('commit');

      const firstGeneration = await partitions();
      await sleep((WINDOW_SECONDS + 2) * 1000);
      await harness.put(
        'ticks',
        Array.from({ length: 3 }, (_, n) => ({ n: 200 + n })),
      );
      const after = await client.query('select count(*)::int as n, min(n)::int as lo from ticks');
      expect(after.rows[0]).toEqual({ n: 3, lo: 200 });
      // Detached and dropped in the background, right after the eviction that gave them up.
      let held = await partitions();
      for (let attempt = 0; attempt < 50 && firstGeneration.some((old) => held.some((partition) => partition.name === old.name)); attempt++) {
        await sleep(100);
        held = await partitions();
      }
      const gone = firstGeneration.filter((old) => !held.some((partition) => partition.name === old.name));
      expect(gone.length).toBe(firstGeneration.length);
      const windowStart = Date.now() - WINDOW_SECONDS * 1000;
      for (const partition of held) expect(partition.to.getTime()).toBeGreaterThan(windowStart - 5_000);
      const shards = await client.query('select sum(records)::int as rows from kinesql.shards where table_name = $1', ['ticks']);
      expect(shards.rows[0]?.rows).toBe(held.reduce((sum, partition) => sum + partition.rows, 0));
    } finally {
      await holder.end().catch(() => undefined);
      await client.end();
    }
  });
});

describe('stream tables with kinesql.partition-by-time = false', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'plain', shards: 1 }],
      definitions: {
        'plain.json': { tableName: 'plain', streamName: 'plain', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } },
      },
      configure: (config) => ({
        ...config,
        read: { ...config.read, iterFromTimestamp: true, iterOffsetSeconds: WINDOW_SECONDS },
        scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0, evictionIntervalMs: 0, partitionByTime: false },
      }),
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('are plain tables (pgjdbc lists them as TABLE) whose rows past the window are deleted', async () => {
    const client = await harness.connect();
    try {
      await harness.put('plain', [{ n: 1 }, { n: 2 }]);
      expect((await client.query('select count(*)::int as n from plain')).rows[0]?.n).toBe(2);
      const kind = await harness.server.engine.query(`select relkind from pg_class where oid = 'public.plain'::regclass`);
      expect(kind.rows[0]?.relkind).toBe('r');
      await sleep((WINDOW_SECONDS + 1) * 1000);
      await harness.put('plain', [{ n: 3 }]);
      expect((await client.query('select count(*)::int as n from plain')).rows[0]?.n).toBe(1);
      const held = await harness.server.engine.query('select count(*)::int as n from plain');
      expect(held.rows[0]?.['n']).toBe(1);
    } finally {
      await client.end();
    }
  });
});
