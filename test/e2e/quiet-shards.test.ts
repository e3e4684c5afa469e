import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import { startHarness, type Harness } from '../support/harness.js';

describe('shards with no records in the window', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'quiet', shards: 4 }],
      definitions: {
        'quiet.json': { tableName: 'quiet', streamName: 'quiet', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } },
      },
      // A shard read that does not answer fails fast here, so a hang would show as an error, not a slow test.
      configure: (config) => ({ ...config, scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0, callTimeoutMs: 2_000, unresponsiveTimeoutMs: 4_000 } }),
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('answer at once: an empty stream, then one busy shard, with and without a time bound', async () => {
    const client = await harness.connect();
    try {
      expect((await client.query('select count(*)::int as n from quiet')).rows[0].n).toBe(0);
      await harness.put(
        'quiet',
        Array.from({ length: 5 }, (_, n) => ({ data: JSON.stringify({ n }), partitionKey: 'one-key' })),
      );
      expect((await client.query('select count(*)::int as n, count(distinct _shard_id)::int as shards from quiet')).rows[0]).toEqual({ n: 5, shards: 1 });
      const recent = await client.query(`select count(*)::int as n from quiet where _message_timestamp > now() - interval '1 minute'`);
      expect(recent.rows[0].n).toBe(5);
      const future = await client.query(`select count(*)::int as n from quiet where _message_timestamp > now() + interval '1 minute'`);
      expect(future.rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
  });
});
