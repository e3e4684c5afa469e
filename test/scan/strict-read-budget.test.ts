import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KinesqlConfig } from '../../src/config/config.js';
import { READ_BURST } from '../../src/kinesis/rate-budget.js';
import { startHarness, type Harness } from '../support/harness.js';
import { FaultProxy } from './fault-proxy.js';

const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const SHARE = 0.2;
const SHARDS = 2;
const CLIENTS = 8;
const WINDOW_MS = 10_000;

/**
 * The follower on at the default share (one GetRecords per shard and second for kinesql as a whole) and
 * strict sessions: each statement needs a read of every shard begun after it started, shared with the
 * statements waiting with it, and the stand-in sees no more calls per shard than the share allows.
 */
describe('strict statements and the read budget', () => {
  const proxy = new FaultProxy();
  let harness: Harness;
  let put = 0;

  beforeAll(async () => {
    await proxy.start();
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: SHARDS }],
      definitions: { 'ticks.json': definition },
      configure: (base: KinesqlConfig) => {
        proxy.target = base.aws.kinesisEndpoint!;
        return { ...base, aws: { ...base.aws, kinesisEndpoint: proxy.endpoint }, scan: { ...base.scan!, readBudgetShare: SHARE } };
      },
    });
  });

  afterAll(async () => {
    await harness?.close();
    await proxy.close();
  });

  const putOne = async (): Promise<void> => {
    await harness.put('ticks', [{ n: put }]);
    put += 1;
  };

  it('sees a record put just before the statement started, every time', async () => {
    const client = await harness.connect();
    try {
      for (let round = 0; round < 8; round++) {
        await putOne();
        expect((await client.query('select count(*)::int as n from ticks')).rows).toEqual([{ n: put }]);
      }
    } finally {
      await client.end();
    }
  });

  it('keeps any 10 s within share × 5 calls per shard (+ the burst) while many strict statements run, each seeing what was put before it', async () => {
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => harness.connect()));
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await putOne();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    proxy.reset();
    const started = Date.now();
    const answers: { putBefore: number; seen: number }[] = [];
    try {
      await Promise.all(
        clients.map(async (client) => {
          while (Date.now() - started < WINDOW_MS + 2_000) {
            const putBefore = put;
            const { rows } = await client.query('select count(*)::int as n from ticks');
            answers.push({ putBefore, seen: rows[0].n as number });
          }
        }),
      );
    } finally {
      writing = false;
      await writer;
      for (const client of clients) await client.end();
    }
    for (const answer of answers) expect(answer.seen).toBeGreaterThanOrEqual(answer.putBefore);
    // Several statements for each read: they shared the reads of the tips begun after they started.
    expect(answers.length).toBeGreaterThan(2 * proxy.count('GetRecords'));
    const shardIds = new Set(proxy.calls.flatMap((call) => (call.operation === 'GetRecords' && call.shardId ? [call.shardId] : [])));
    expect(shardIds.size).toBe(SHARDS);
    for (const shardId of shardIds) {
      const times = proxy.getRecordsOf(shardId).map((call) => call.at);
      expect(times.length).toBeGreaterThan(0);
      for (const from of times) {
        const inWindow = times.filter((at) => at >= from && at < from + WINDOW_MS).length;
        expect(inWindow, shardId).toBeLessThanOrEqual(SHARE * 5 * (WINDOW_MS / 1000) + READ_BURST);
      }
    }
  });
});
