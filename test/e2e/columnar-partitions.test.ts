import { pino } from 'pino';
import type pg from 'pg';
import { DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasColumnar, startColumnarEngine, storedPartitions, ticksDefinitions as definitions } from '../support/columnar-engine.js';
import type { ExternalPostgres } from '../support/external-postgres.js';
import { startHarness, type Harness } from '../support/harness.js';
import { startWindowedTicks } from '../support/windowed-table.js';

/**
 * Partitions of one second, so the first records' partitions close (ARRIVAL_SKEW_MS after) and expire within the
 * test. Eviction (every statement here) moves each shard's lower bound to the window's start, and a partition
 * within ARRIVAL_SKEW_MS of it is not closed (a read of older records could still fill it): a partition can be
 * converted from ARRIVAL_SKEW_MS after the last records until WINDOW_SECONDS - ARRIVAL_SKEW_MS after its own. At
 * 16 s that left about 4 s, which a loaded machine's first catch-up and statements used up (seen once in CI).
 */
const WINDOW_SECONDS = 30;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!hasColumnar)('kinesql.closed-partition-storage = columnar on PostgreSQL 15 with citus_columnar', () => {
  let engine: ExternalPostgres;
  let harness: Harness;
  let admin: pg.Client;

  beforeAll(async () => {
    ({ engine, admin } = await startColumnarEngine());
    harness = await startWindowedTicks({
      windowSeconds: WINDOW_SECONDS,
      definition: definitions['ticks.json'],
      scan: { closedPartitionStorage: 'columnar' },
      configure: (config) => ({ ...config, engine: { ...config.engine, url: engine.url } }),
    });
  }, 120_000);

  afterAll(async () => {
    await admin?.end();
    await harness?.close();
    await engine?.stop();
  });

  it('converts closed partitions to columnar with their rows unchanged, keeps the open one heap, and evicts them', async () => {
    const client = await harness.connect();
    const contents = 'select n, word, _shard_id, _shard_sequence_id, _message_timestamp from ticks where n < 1000 order by _shard_sequence_id, _shard_id';
    try {
      await harness.put(
        'ticks',
        Array.from({ length: 300 }, (_, n) => ({ n, word: `w${n % 7}` })),
      );
      const before = (await client.query(contents)).rows;
      expect(before).toHaveLength(300);
      const first = await storedPartitions(admin, 'public.ticks');
      expect(first.every((partition) => partition.storage === 'heap')).toBe(true);

      // The first records' partitions close once every shard has loaded records from ARRIVAL_SKEW_MS after them.
      await sleep(6_500);
      await harness.put('ticks', [
        { n: 1000, word: 'late' },
        { n: 1001, word: 'late' },
        { n: 1002, word: 'late' },
        { n: 1003, word: 'late' },
      ]);
      let stored = await storedPartitions(admin, 'public.ticks');
      for (let attempt = 0; attempt < 100 && first.some((old) => stored.find((partition) => partition.name === old.name)?.storage !== 'columnar'); attempt++) {
        await client.query('select count(*) from ticks');
        await sleep(100);
        stored = await storedPartitions(admin, 'public.ticks');
      }
      for (const old of first) expect(stored.find((partition) => partition.name === old.name)?.storage).toBe('columnar');
      // The newest partition (the records just put) can still receive records: heap.
      expect(stored.at(-1)?.storage).toBe('heap');
      expect(first.some((old) => old.name === stored.at(-1)?.name)).toBe(false);

      expect((await client.query(contents)).rows).toEqual(before);
      const grouped = await client.query('select word, count(*)::int as n from ticks where n < 1000 group by word order by word');
      const expected = new Map<string, number>();
      for (const row of before) expected.set(row.word, (expected.get(row.word) ?? 0) + 1);
      expect(grouped.rows).toEqual([...expected].sort(([a], [b]) => a.localeCompare(b)).map(([word, n]) => ({ word, n })));

      // Past the window, the columnar partitions are evicted like any other.
      await sleep(WINDOW_SECONDS * 1000);
      await harness.put('ticks', [{ n: 2000, word: 'new' }]);
      expect((await client.query('select count(*)::int as n from ticks where n < 1000')).rows[0]?.n).toBe(0);
      let held = await storedPartitions(admin, 'public.ticks');
      for (let attempt = 0; attempt < 50 && first.some((old) => held.some((partition) => partition.name === old.name)); attempt++) {
        await client.query('select count(*) from ticks');
        await sleep(100);
        held = await storedPartitions(admin, 'public.ticks');
      }
      expect(held.filter((partition) => first.some((old) => old.name === partition.name))).toEqual([]);
    } finally {
      await client.end();
    }
  }, 90_000);
});

describe('kinesql.closed-partition-storage = columnar on an engine without citus_columnar', () => {
  it('says so at start, naming the setting, and keeps heap storage', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const harness = await startHarness({
      streams: [{ name: 'ticks', shards: 1 }],
      definitions,
      logger,
      configure: (config) => ({ ...config, scan: { ...DEFAULT_SCAN_CONFIG, ...config.scan, closedPartitionStorage: 'columnar' } }),
    });
    try {
      const available = await harness.server.engine.query(`SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'citus_columnar'`);
      if (Number(available.rows[0]?.['n']) > 0) return;
      expect(
        lines.some((line) => String(line['msg']).includes('kinesql.closed-partition-storage = columnar') && String(line['msg']).includes('stay heap')),
      ).toBe(true);
      await harness.put('ticks', [{ n: 1, word: 'a' }]);
      const client = await harness.connect();
      try {
        expect((await client.query('select count(*)::int as n from ticks')).rows[0]?.n).toBe(1);
      } finally {
        await client.end();
      }
    } finally {
      await harness.close();
    }
  }, 60_000);
});
