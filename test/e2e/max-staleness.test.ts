import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type pg from 'pg';
import { startHarness, type Harness } from '../support/harness.js';

const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
/** Bounds waiting for the follower's background rounds (one every 400 ms); not a speed assertion. */
const PATIENCE = { timeout: 20_000, interval: 100 };
const ticks = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ n: from + i }));

describe('kinesql.max_staleness', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'ticks', shards: 2 }], definitions: { 'ticks.json': definition } });
    await harness.put('ticks', ticks(0, 10));
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('answers from what is loaded when it was read to the tips recently enough, and strict sessions stay exact', async () => {
    const strict = await harness.connect();
    const dashboard = await harness.connect();
    const count = async (client: pg.Client) => (await client.query('select count(*)::int as n from ticks')).rows[0].n as number;
    const calls = async () => (await strict.query('select sum(get_records_calls)::int as calls from kinesql.shards')).rows[0].calls as number;
    try {
      await dashboard.query(`SET kinesql.max_staleness = '1min'`);
      expect(await count(strict)).toBe(10);
      const afterStrict = await calls();
      // The strict statement just read every shard to its tip: the dashboard's answer needs no read of its own.
      expect(await count(dashboard)).toBe(10);
      expect(await calls()).toBe(afterStrict);
      await harness.put('ticks', ticks(10, 5));
      expect(await count(dashboard)).toBe(10);
      expect(await calls()).toBe(afterStrict);
      // A strict session always reads to the tips as of its statement's start.
      expect(await count(strict)).toBe(15);
      expect(await count(dashboard)).toBe(15);
      await dashboard.query('SET kinesql.max_staleness = 0');
      await harness.put('ticks', ticks(15, 1));
      expect(await count(dashboard)).toBe(16);
      await expect(dashboard.query(`SET kinesql.max_staleness = 'soon'`)).rejects.toMatchObject({ code: '22023' });
    } finally {
      await strict.end();
      await dashboard.end();
    }
  });
});

describe('the follower (kinesis.read-budget-share)', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 2 }],
      definitions: { 'ticks.json': definition },
      // Half of each shard's budget: a round every 400 ms.
      configure: (config) => ({ ...config, scan: { ...config.scan!, readBudgetShare: 0.5 } }),
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('reads new records in the background, so a session accepting a little staleness sees them without reading', async () => {
    await harness.put('ticks', ticks(0, 12));
    const client = await harness.connect();
    try {
      const loaded = async () => (await client.query(`select sum(records)::int as n from kinesql.streams where table_name = 'ticks'`)).rows[0].n as number;
      // Nobody has queried the table: the follower loads it.
      await vi.waitFor(async () => expect(await loaded()).toBe(12), PATIENCE);
      await client.query(`SET kinesql.max_staleness = '5s'`);
      const readsBefore = (await client.query('select sum(get_records_calls)::int as calls from kinesql.shards')).rows[0].calls as number;
      await harness.put('ticks', ticks(12, 3));
      await vi.waitFor(async () => expect(await loaded()).toBe(15), PATIENCE);
      // Which reads of the table come from a statement (the follower's are background reads).
      const [table] = harness.server.store.list();
      const reads = vi.spyOn(table!, 'catchUp');
      expect((await client.query('select count(*)::int as n from ticks')).rows).toEqual([{ n: 15 }]);
      // Every read was the follower's: the statement read nothing itself, while GetRecords calls went on in the background.
      expect(reads.mock.calls.filter(([request]) => !request.background)).toEqual([]);
      reads.mockRestore();
      const readsAfter = (await client.query('select sum(get_records_calls)::int as calls from kinesql.shards')).rows[0].calls as number;
      expect(readsAfter).toBeGreaterThan(readsBefore);
    } finally {
      await client.end();
    }
  });
});
