import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import { startHarness, type Harness } from '../support/harness.js';

describe('a table that would outgrow its cap', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'big', shards: 2 }],
      definitions: {
        'big.json': { tableName: 'big', streamName: 'big', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } },
      },
      configure: (config) => ({
        ...config,
        read: { ...config.read, batchSize: 10 },
        scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0, maxRowsPerTable: 30 },
      }),
    });
    await harness.put(
      'big',
      Array.from({ length: 60 }, (_, n) => ({ n })),
    );
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('fails the statement with 54000 naming the cap, never holds more than the cap, and keeps serving', async () => {
    const client = await harness.connect();
    try {
      const error = await client.query('select count(*) from big').then(
        () => undefined,
        (e: { code: string; message: string }) => e,
      );
      expect(error?.code).toBe('54000');
      expect(error?.message).toContain('kinesql.max-rows-per-table');
      const engine = harness.server.engine;
      const held = await engine.query('select count(*)::int as n from big');
      expect(held.rows[0]?.['n']).toBeLessThanOrEqual(30);
      expect((await client.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await client.end();
    }
  });
});
