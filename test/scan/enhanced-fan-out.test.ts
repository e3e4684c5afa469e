import { SplitShardCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KinesqlConfig } from '../../src/config/config.js';
import { listShards } from '../../src/kinesis/shard-listing.js';
import { startHarness, type Harness } from '../support/harness.js';
import { startKinesisMock, type KinesisMock, waitActive } from './kinesis-mock.js';
import { TcpCutter } from './tcp-cutter.js';

const KEYS = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];
const keyed = (stream: string) => ({
  tableName: stream,
  streamName: stream,
  message: {
    dataFormat: 'json',
    fields: [
      { name: 'key', type: 'VARCHAR', mapping: 'key' },
      { name: 'n', type: 'INTEGER', mapping: 'n' },
    ],
  },
});
const definitions = { 'events.json': keyed('events'), 'split.json': keyed('split'), 'cut.json': keyed('cut') };
const streams = [
  { name: 'events', shards: 2 },
  { name: 'split', shards: 1 },
  { name: 'cut', shards: 2 },
];
const LIST = { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 };

/** Samples of the Prometheus text format, summed by metric name over the samples whose labels match. */
async function metric(harness: Harness, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${harness.server.httpPort}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1]!, pair[2]!]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) total += Number(match[3]);
  }
  return total;
}

describe('enhanced fan-out (kinesis.consumer-mode = efo) on kinesis-mock', () => {
  let mock: KinesisMock;
  let cutter: TcpCutter;
  let efo: Harness;
  let polling: Harness;
  const perKey = new Map<string, number>();

  const records = (count: number) =>
    Array.from({ length: count }, (_, i) => {
      const key = KEYS[i % KEYS.length]!;
      const n = (perKey.get(key) ?? 0) + 1;
      perKey.set(key, n);
      return { data: JSON.stringify({ key, n }), partitionKey: key };
    });

  const query = async <T>(harness: Harness, sql: string): Promise<T[]> => {
    const client = await harness.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  };
  const getRecordsCalls = async (table: string): Promise<number> =>
    (await query<{ calls: number }>(efo, `select coalesce(sum(get_records_calls), 0)::int as calls from kinesql.shards where table_name = '${table}'`))[0]!
      .calls;

  beforeAll(async () => {
    mock = await startKinesisMock();
    // Every call of the EFO server goes through a loopback TCP relay that the cut test severs.
    cutter = await new TcpCutter(Number(new URL(mock.endpoint).port)).start();
    const onMock =
      (endpoint: string, scan: Partial<KinesqlConfig['scan']>) =>
      (base: KinesqlConfig): KinesqlConfig => ({
        ...base,
        server: { ...base.server, httpPort: 0 },
        aws: { ...base.aws, kinesisEndpoint: endpoint },
        scan: { ...base.scan!, ...scan },
      });
    efo = await startHarness({
      streams,
      definitions,
      configure: onMock(cutter.endpoint, { consumerMode: 'efo', consumerName: 'kinesql-test' }),
    });
    // The same tables read by polling, on a server of their own: the answers must be the same.
    polling = await startHarness({ streams: [], definitions: { 'events.json': keyed('events') }, configure: onMock(mock.endpoint, {}) });
  }, 180_000);

  afterAll(async () => {
    await efo?.close();
    await polling?.close();
    await cutter?.close();
    await mock?.close();
  });

  it('loads records by subscription, with no GetRecords call, and answers as polling does', async () => {
    await efo.put('events', records(40));
    const sql = 'select key, n, _shard_id, _shard_sequence_id from events order by _shard_id, _shard_sequence_id::numeric';
    // Strict statements: each answer holds every record put before it.
    const first = await query<{ key: string; n: number }>(efo, sql);
    expect(first.length).toBe(40);
    await efo.put('events', records(25));
    const second = await query(efo, sql);
    expect(second.length).toBe(65);
    expect(await query(polling, sql)).toEqual(second);
    expect(await getRecordsCalls('events')).toBe(0);
    expect(await metric(efo, 'kinesql_shard_subscribe_to_shard_calls_total', { table: 'public.events' })).toBeGreaterThanOrEqual(2);
    expect(await metric(efo, 'kinesql_shard_subscription_events_total', { table: 'public.events' })).toBeGreaterThan(0);
    expect(await metric(efo, 'kinesql_shard_records_read_total', { table: 'public.events' })).toBeGreaterThanOrEqual(65);
    // Both shards were at their tips within the last statement: the lag gauges exist and are small next to a minute.
    expect(await metric(efo, 'kinesql_stream_follower_lag_milliseconds', { table: 'public.events' })).toBeLessThan(60_000);
    // Nobody queries: the follower loads new records as their events come.
    await efo.put('events', records(5));
    const loaded = async () =>
      (await query<{ n: number }>(efo, `select coalesce(sum(records), 0)::int as n from kinesql.streams where table_name = 'events'`))[0]!.n;
    await vi.waitFor(async () => expect(await loaded()).toBe(70), { timeout: 20_000, interval: 100 });
    expect(await getRecordsCalls('events')).toBe(0);
  }, 120_000);

  it('follows the children of a shard split during the subscription, parents first, each record once', async () => {
    const kinesis = efo.kinesis;
    await efo.put('split', records(30));
    expect(await query(efo, 'select count(*)::int as n from split')).toEqual([{ n: 30 }]);
    const [shard] = await listShards(kinesis, 'split', LIST);
    const middle = (shard!.startingHashKey + shard!.endingHashKey) / 2n;
    await kinesis.send(new SplitShardCommand({ StreamName: 'split', ShardToSplit: shard!.shardId, NewStartingHashKey: middle.toString() }));
    await waitActive(kinesis, 'split');
    await efo.put('split', records(30));
    const rows = await query<{ key: string; n: number; shard: string }>(
      efo,
      'select key, n, _shard_id as shard from split order by _shard_id, _shard_sequence_id::numeric',
    );
    expect(rows.length).toBe(60);
    expect(new Set(rows.map((row) => row.shard)).size).toBe(3);
    for (const key of KEYS) {
      const inShardOrder = rows.filter((row) => row.key === key);
      const ns = inShardOrder.map((row) => row.n);
      expect(new Set(ns).size).toBe(ns.length);
    }
    const states = await query<{ state: string }>(efo, `select state from kinesql.shards where table_name = 'split' order by shard_id`);
    expect(states.map((row) => row.state)).toContain('closed, read to its end');
    expect(await getRecordsCalls('split')).toBe(0);
  }, 120_000);

  it('goes on from the continuation after the connection is cut mid-stream: nothing lost, nothing twice', async () => {
    // Put straight to kinesis-mock (the polling server's client): only the EFO server's connections are cut.
    await polling.put('cut', records(20));
    expect(await query(efo, 'select count(*)::int as n from cut')).toEqual([{ n: 20 }]);
    const callsBefore = await metric(efo, 'kinesql_shard_subscribe_to_shard_calls_total', { table: 'public.cut' });
    // Records the open subscriptions have not delivered yet (kinesis-mock sends an event a second), then the cut.
    await polling.put('cut', records(30));
    cutter.cutAll();
    await polling.put('cut', records(10));
    const totals = await query<{ n: number; distinct_records: number }>(
      efo,
      'select count(*)::int as n, count(distinct (_shard_id, _shard_sequence_id))::int as distinct_records from cut',
    );
    expect(totals).toEqual([{ n: 60, distinct_records: 60 }]);
    expect(cutter.cuts).toBeGreaterThan(0);
    expect(await metric(efo, 'kinesql_shard_subscribe_to_shard_calls_total', { table: 'public.cut' })).toBeGreaterThan(callsBefore);
  }, 120_000);
});
