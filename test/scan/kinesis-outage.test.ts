import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_SCAN_CONFIG, type KinesqlConfig } from '../../src/config/config.js';
import { createKinesisClient } from '../../src/kinesis/client.js';
import { checkExactness } from '../support/exactness.js';
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
      // Before the outage; the short call timeouts this test sets can run out on a loaded machine, so try again.
      await vi.waitFor(async () => expect(await count(strict)).toBe(10), { timeout: 20_000, interval: 200 });
      expect(await count(dashboard)).toBe(10);
      expect(notices).toEqual([]);

      proxy.decide = () => 'reset';
      const outageStarted = Date.now();
      // The follower finds Kinesis gone; then the shard listing and the 1 s bound grow old.
      await vi.waitFor(() => expect(table.failingSince).toBeDefined(), { timeout: 20_000, interval: 50 });
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

/**
 * The same with the defaults an operator runs (10 s shard listings, the default call timeouts) and an
 * outage of 30 s while records keep arriving: every record put before, during and after it is shown once
 * Kinesis is back.
 */
describe('a 30 s Kinesis outage with the default settings', () => {
  const proxy = new FaultProxy();
  let harness: Harness;
  let direct: KinesisClient;

  beforeAll(async () => {
    await proxy.start();
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 2 }],
      definitions: { 'ticks.json': definition },
      configure: (base: KinesqlConfig) => {
        proxy.target = base.aws.kinesisEndpoint!;
        return { ...base, aws: { ...base.aws, kinesisEndpoint: proxy.endpoint }, scan: { ...DEFAULT_SCAN_CONFIG } };
      },
    });
    direct = createKinesisClient({ ...harness.config.aws, kinesisEndpoint: proxy.target });
  });

  afterAll(async () => {
    direct?.destroy();
    await harness?.close();
    await proxy.close();
  });

  const put = (from: number, count: number) =>
    direct.send(
      new PutRecordsCommand({
        StreamName: 'ticks',
        Records: ticks(from, count).map((tick) => ({ Data: Buffer.from(JSON.stringify(tick)), PartitionKey: `k${tick.n}` })),
      }),
    );
  const count = async (client: pg.Client): Promise<number> => (await client.query('select count(*)::int as n from ticks')).rows[0].n as number;

  it('answers stale-tolerant sessions throughout, strict ones with HV00N, and shows every record once it is over', async () => {
    const strict = await harness.connect();
    const dashboard = await harness.connect();
    try {
      await dashboard.query(`SET kinesql.max_staleness = '1h'`);
      await put(0, 20);
      expect(await count(strict)).toBe(20);

      proxy.decide = () => 'reset';
      const outageStarted = Date.now();
      let putTotal = 20;
      const answers: number[] = [];
      let strictRefused = 0;
      for (let second = 0; Date.now() - outageStarted < 30_000; second += 1) {
        await put(putTotal, 5);
        putTotal += 5;
        if (second % 5 === 0) {
          answers.push(await count(dashboard));
          strictRefused += await count(strict).then(
            () => 0,
            (error: { code?: string }) => (error.code === 'HV00N' ? 1 : 0),
          );
        }
        await sleep(Math.max(0, outageStarted + (second + 1) * 1_000 - Date.now()));
      }
      proxy.decide = () => undefined;
      const over = Date.now();
      expect(answers.every((answer) => answer === 20)).toBe(true);
      expect(strictRefused).toBe(answers.length);

      // Once Kinesis answers again: every record, once, served within 10 s of the outage's end.
      let shown = 0;
      while (shown < putTotal && Date.now() - over < 10_000) {
        shown = await count(strict).catch(() => 0);
        if (shown < putTotal) await sleep(200);
      }
      const servedAfter = Date.now() - over;
      const { rows } = await strict.query('select count(*)::int as n, count(distinct n)::int as distinct_n from ticks');
      console.info(
        `30 s outage: ${answers.length} stale answers during it, ${strictRefused} strict refusals; ${rows[0].n} of ${putTotal} records after it, served ${servedAfter} ms after it ended`,
      );
      expect(rows[0]).toEqual({ n: putTotal, distinct_n: putTotal });
      expect(servedAfter).toBeLessThan(10_000);
      // The stream itself, read from TRIM_HORIZON, against what SQL shows: none lost, none twice, in order.
      const exact = await checkExactness(direct, 'ticks', strict, 'ticks');
      expect({ records: exact.records, lost: exact.lost, duplicated: exact.duplicated, unknown: exact.unknown }).toEqual({
        records: putTotal,
        lost: [],
        duplicated: [],
        unknown: [],
      });
      expect({ shards: exact.outOfOrderShards, keys: exact.outOfOrderKeys }).toEqual({ shards: [], keys: [] });
    } finally {
      proxy.decide = () => undefined;
      await strict.end();
      await dashboard.end();
    }
  }, 90_000);
});
