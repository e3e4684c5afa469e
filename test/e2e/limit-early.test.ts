import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

const RECORDS = 6_000;
const definition = { tableName: 'events', streamName: 'events', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };

/**
 * A first load that takes a while (small GetRecords batches within the per-shard budget): `LIMIT n` without
 * ORDER BY answers with n rows of the window while the rest is still loading; anything that needs every
 * row waits for all of it.
 */
describe('LIMIT n on a table still loading', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'events', shards: 2 }],
      definitions: { 'events.json': definition },
      configure: (config) => ({ ...config, read: { ...config.read, batchSize: 100 } }),
    });
    await harness.put(
      'events',
      Array.from({ length: RECORDS }, (_, n) => ({ n })),
    );
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('answers once n rows are loaded, before the load has finished; ORDER BY and count wait for every row', async () => {
    const client = await harness.connect();
    const loaded = async () =>
      (await client.query(`select coalesce(sum(records), 0)::int as n from kinesql.streams where table_name = 'events'`)).rows[0].n as number;
    try {
      const { rows } = await client.query('select n, _shard_id from events limit 3');
      expect(rows).toHaveLength(3);
      expect(await loaded()).toBeLessThan(RECORDS);
      expect((await client.query('select n from events order by n desc limit 1')).rows).toEqual([{ n: RECORDS - 1 }]);
      expect(await loaded()).toBe(RECORDS);
      expect((await client.query('select count(*)::int as n from events')).rows).toEqual([{ n: RECORDS }]);
    } finally {
      await client.end();
    }
  });
});

const FIRST_LOAD_RECORDS = 40_000;

/**
 * A first load at the normal batch size (10,000 records a GetRecords call): each shard's first calls ask for
 * a few hundred records and grow from there, so a `LIMIT 1` answers from the first small batch, while the
 * table holds less than one full call's worth of the stream, rather than after a first batch of 10,000.
 */
describe('LIMIT 1 on a table whose first load has just begun', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'events', shards: 2 }], definitions: { 'events.json': definition } });
    await harness.put(
      'events',
      Array.from({ length: FIRST_LOAD_RECORDS }, (_, n) => ({ n })),
    );
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('answers after the first small batches, with a small fraction of the window loaded', async () => {
    const client = await harness.connect();
    const status = await harness.connect();
    const loaded = async () =>
      (await status.query(`select coalesce(sum(records), 0)::int as n from kinesql.streams where table_name = 'events'`)).rows[0].n as number;
    try {
      const { rows } = await client.query('select n from events limit 1');
      const loadedThen = await loaded();
      expect(rows).toHaveLength(1);
      expect(rows[0].n).toBeGreaterThanOrEqual(0);
      expect(rows[0].n).toBeLessThan(FIRST_LOAD_RECORDS);
      expect(loadedThen).toBeGreaterThan(0);
      // Less than the 10,000 records one GetRecords call of a shard brings at the normal batch size.
      expect(loadedThen).toBeLessThan(10_000);
      expect((await client.query('select count(*)::int as n from events')).rows).toEqual([{ n: FIRST_LOAD_RECORDS }]);
    } finally {
      await client.end();
      await status.end();
    }
  }, 120_000);
});
