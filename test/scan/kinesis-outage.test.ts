import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCAN_CONFIG, type KinesqlConfig } from '../../src/config/config.js';
import { startHarness, type Harness } from '../support/harness.js';
import { FaultProxy } from './fault-proxy.js';

const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const ticks = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ n: from + i }));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Kinesis out of reach (every call to the stand-in's endpoint reset), the follower on: sessions with
 * kinesql.max_staleness keep their answers from what is loaded as long as the bound holds, told so by a
 * NOTICE; strict sessions get HV00N; once Kinesis answers again everything is read and served.
 */
describe('a Kinesis outage', () => {
  const proxy = new FaultProxy();
  let harness: Harness;

  beforeAll(async () => {
    await proxy.start();
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 2 }],
      definitions: { 'ticks.json': definition },
      configure: (base: KinesqlConfig) => {
        proxy.target = base.aws.kinesisEndpoint!;
        return {
          ...base,
          aws: { ...base.aws, kinesisEndpoint: proxy.endpoint },
          // Listings trusted for a second only: the outage outlasts it, as it outlasts the default 10 s.
          scan: {
            ...DEFAULT_SCAN_CONFIG,
            readBudgetShare: 0.5,
            shardListIntervalMs: 1_000,
            callTimeoutMs: 250,
            unresponsiveTimeoutMs: 1_500,
            maxBackoffMs: 50,
          },
        };
      },
    });
    await harness.put('ticks', ticks(0, 10));
  });

  afterAll(async () => {
    await harness?.close();
    await proxy.close();
  });

  const count = async (client: pg.Client): Promise<number> => (await client.query('select count(*)::int as n from ticks')).rows[0].n as number;

  it('keeps answering bounded-staleness sessions with a NOTICE, fails strict ones with HV00N, and serves all once Kinesis is back', async () => {
    const strict = await harness.connect();
    const dashboard = await harness.connect();
    const impatient = await harness.connect();
    const notices: string[] = [];
    dashboard.on('notice', (notice) => notices.push(notice.message ?? ''));
    const table = harness.server.store.list()[0]!;
    try {
      await dashboard.query(`SET kinesql.max_staleness = '1h'`);
      await impatient.query(`SET kinesql.max_staleness = '1s'`);
      expect(await count(strict)).toBe(10);
      expect(await count(dashboard)).toBe(10);
      expect(notices).toEqual([]);

      proxy.decide = () => 'reset';
      const outageStarted = Date.now();
      // The follower finds Kinesis gone; then the shard listing and the 1 s bound grow old.
      for (let attempt = 0; attempt < 100 && table.failingSince === undefined; attempt++) await sleep(100);
      expect(table.failingSince).toBeDefined();
      await sleep(Math.max(0, outageStarted + 2_500 - Date.now()));

      for (let round = 0; round < 3; round++) expect(await count(dashboard)).toBe(10);
      expect(notices).toHaveLength(3);
      expect(notices[0]).toMatch(
        /^Kinesis stream "ticks" cannot be read since \d{4}-\d\d-\d\dT[\d:.]+Z: table public\.ticks answers from the records loaded before/,
      );
      expect(new Date(/since (\S+):/.exec(notices[0]!)![1]!).getTime()).toBeGreaterThanOrEqual(outageStarted - 1_000);
      await expect(count(strict)).rejects.toMatchObject({ code: 'HV00N' });
      // A bound the outage has outlasted is not stretched.
      await expect(count(impatient)).rejects.toMatchObject({ code: 'HV00N' });

      proxy.decide = () => undefined;
      await harness.put('ticks', ticks(10, 5));
      expect(await count(strict)).toBe(15);
      expect(await count(impatient)).toBe(15);
      notices.length = 0;
      expect(await count(dashboard)).toBe(15);
      expect(notices).toEqual([]);
    } finally {
      proxy.decide = () => undefined;
      await strict.end();
      await dashboard.end();
      await impatient.end();
    }
  });
});
