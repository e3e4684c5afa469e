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
