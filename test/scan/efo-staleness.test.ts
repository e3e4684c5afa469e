import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KinesqlConfig } from '../../src/config/config.js';
import { startHarness, type Harness } from '../support/harness.js';
import { startKinesisMock, type KinesisMock } from './kinesis-mock.js';

const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const ticks = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ n: from + i }));

/**
 * Enhanced fan-out on kinesis-mock, one shard: a strict statement needs an event at the tip made after it
 * started; a session with kinesql.max_staleness needs only one made after (its start − the bound), and
 * none while the last one is that recent: counted in subscription events per statement of one client.
 */
describe('kinesql.max_staleness with enhanced fan-out', () => {
  let mock: KinesisMock;
  let harness: Harness;

  beforeAll(async () => {
    mock = await startKinesisMock();
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 1 }],
      definitions: { 'ticks.json': definition },
      configure: (base: KinesqlConfig) => ({
        ...base,
        aws: { ...base.aws, kinesisEndpoint: mock.endpoint },
        scan: { ...base.scan!, consumerMode: 'efo', consumerName: 'kinesql-staleness-test' },
      }),
    });
    await harness.put('ticks', ticks(0, 10));
  }, 180_000);

  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });

  const count = async (client: pg.Client): Promise<number> => (await client.query('select count(*)::int as n from ticks')).rows[0].n as number;
  const events = (): number => harness.server.store.list()[0]!.shardStatus()[0]!.reader.subscriptionEvents;

  /** Statements one client gets through while the subscription delivers `span` more events. */
  const statementsOver = async (client: pg.Client, span: number): Promise<{ statements: number; events: number }> => {
    const first = events();
    let statements = 0;
    while (events() < first + span) {
      expect(await count(client)).toBeGreaterThanOrEqual(10);
      statements += 1;
    }
    return { statements, events: events() - first };
  };

  it('answers a bounded session from the pushed tip, strict ones one event at the tip made after their start each', async () => {
    const strict = await harness.connect();
    const dashboard = await harness.connect();
    const relaxed = await harness.connect();
    try {
      await dashboard.query(`SET kinesql.max_staleness = '1s'`);
      await relaxed.query(`SET kinesql.max_staleness = '3s'`);
      expect(await count(strict)).toBe(10);
      // kinesis-mock sends an event a second, holding the records that arrived before the previous one: a strict
      // statement waits for the second event after its start, a 1 s bound for the next one only.
      const exact = await statementsOver(strict, 8);
      expect(exact.statements).toBeLessThanOrEqual(exact.events / 2 + 1);
      const bounded = await statementsOver(dashboard, 8);
      expect(bounded.statements).toBeGreaterThanOrEqual(bounded.events - 2);
      // A bound longer than the events' lag: answers from what is loaded, many per event.
      const loose = await statementsOver(relaxed, 4);
      expect(loose.statements).toBeGreaterThan(3 * loose.events);

      // New records reach the bounded session too, within its bound.
      await harness.put('ticks', ticks(10, 5));
      await vi.waitFor(async () => expect(await count(dashboard)).toBe(15), { timeout: 20_000, interval: 100 });
      expect(harness.server.store.list()[0]!.shardStatus()[0]!.reader.calls).toBe(0);
    } finally {
      await strict.end();
      await dashboard.end();
      await relaxed.end();
    }
  }, 120_000);
});
