import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCAN_CONFIG, type KinesqlConfig } from '../../src/config/config.js';
import { startHarness, type Harness } from '../support/harness.js';
import { FaultProxy, type Fault } from './fault-proxy.js';

const definition = (table: string, stream: string) => ({
  tableName: table,
  streamName: stream,
  message: { dataFormat: 'json', fields: [{ name: 'id', type: 'BIGINT', mapping: 'id' }] },
});

function throughProxy(proxy: FaultProxy, tune: (config: KinesqlConfig) => KinesqlConfig) {
  return (base: KinesqlConfig): KinesqlConfig => {
    proxy.target = base.aws.kinesisEndpoint!;
    return tune({ ...base, aws: { ...base.aws, kinesisEndpoint: proxy.endpoint } });
  };
}

/** Half of all GetRecords calls throttled, and 5xx, resets, expired iterators and slow answers between. */
function hostileKinesis(operation: string, call: number): Fault {
  if (operation === 'GetRecords') {
    if (call % 2 === 0) return 'throttle';
    if (call % 7 === 1) return 'server-error';
    if (call % 11 === 3) return 'reset';
    if (call % 13 === 5) return 'expired-iterator';
    if (call % 17 === 7) return 'slow';
    return undefined;
  }
  if (operation === 'GetShardIterator') return call % 3 === 1 ? 'throttle' : call % 5 === 2 ? 'server-error' : undefined;
  if (operation === 'ListShards') return call % 2 === 0 ? 'limit' : undefined;
  return undefined;
}

describe('reading through a hostile Kinesis endpoint', () => {
  const proxy = new FaultProxy();
  let harness: Harness;
  const total = 2_400;

  beforeAll(async () => {
    await proxy.start();
    proxy.slowMs = 1_200;
    harness = await startHarness({
      streams: [{ name: 'hostile', shards: 4 }],
      definitions: { 'hostile.json': definition('hostile', 'hostile') },
      configure: throughProxy(proxy, (config) => ({
        ...config,
        read: { ...config.read, batchSize: 100, fetchAttempts: 12, sleepTimeMs: 5 },
        scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0, callTimeoutMs: 800, unresponsiveTimeoutMs: 60_000, maxBackoffMs: 50 },
      })),
    });
    await harness.put(
      'hostile',
      Array.from({ length: total }, (_, i) => ({ id: i + 1 })),
    );
    proxy.decide = hostileKinesis;
  });

  afterAll(async () => {
    await harness?.close();
    await proxy.close();
  });

  it('still returns every record exactly once, for two clients at the same time', async () => {
    const [a, b] = [await harness.connect(), await harness.connect()];
    try {
      const sql = 'select count(*)::int as n, count(distinct _shard_sequence_id)::int as distinct_records, sum(id)::bigint as ids from hostile';
      const [first, second] = await Promise.all([a.query(sql), b.query(sql)]);
      const expected = { n: total, distinct_records: total, ids: String((total * (total + 1)) / 2) };
      expect(first.rows[0]).toEqual(expected);
      expect(second.rows[0]).toEqual(expected);
    } finally {
      await a.end();
      await b.end();
    }
    const faults = new Set(proxy.calls.map((call) => call.fault).filter(Boolean));
    expect(faults).toEqual(new Set(['throttle', 'server-error', 'reset', 'expired-iterator', 'slow', 'limit']));
    const shards = harness.server.store.list()[0]!.shardStatus();
    expect(shards.reduce((sum, shard) => sum + shard.reader.throttles, 0)).toBeGreaterThan(0);
    expect(shards.reduce((sum, shard) => sum + shard.reader.retries, 0)).toBeGreaterThan(0);
    expect(shards.reduce((sum, shard) => sum + shard.reader.expiredIterators, 0)).toBeGreaterThan(0);
  });

  it('reads only the new records on the next statement, through the same faults', async () => {
    await harness.put(
      'hostile',
      Array.from({ length: 100 }, (_, i) => ({ id: total + i + 1 })),
    );
    proxy.reset();
    const client = await harness.connect();
    try {
      const result = await client.query('select count(*)::int as n, count(distinct id)::int as ids from hostile');
      expect(result.rows[0]).toEqual({ n: total + 100, ids: total + 100 });
    } finally {
      await client.end();
    }
    expect(proxy.recordsRead()).toBe(100);
  });
});

describe('an endpoint that stops answering, and a stream that does not exist', () => {
  const proxy = new FaultProxy();
  let harness: Harness;

  beforeAll(async () => {
    await proxy.start();
    harness = await startHarness({
      streams: [{ name: 'silent', shards: 2 }],
      definitions: { 'silent.json': definition('silent', 'silent'), 'missing.json': definition('missing', 'no-such-stream') },
      configure: throughProxy(proxy, (config) => ({
        ...config,
        scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0, callTimeoutMs: 250, unresponsiveTimeoutMs: 1_500, maxBackoffMs: 50 },
      })),
    });
    // Records in every shard: kinesalite never answers AT_TIMESTAMP on a shard with nothing after it.
    await harness.put(
      'silent',
      Array.from({ length: 20 }, (_, i) => ({ id: i + 1 })),
    );
  });

  afterAll(async () => {
    await harness?.close();
    await proxy.close();
  });

  it('fails the statement with an error naming the stream instead of hanging', async () => {
    proxy.decide = (operation) => (operation === 'GetRecords' ? 'hang' : undefined);
    const client = await harness.connect();
    try {
      await expect(client.query('select count(*) from silent')).rejects.toMatchObject({
        message: expect.stringMatching(/Kinesis stream "silent".*did not answer/),
        code: 'HV00N',
      });
      // The session is still usable, and answers once the endpoint does.
      proxy.decide = () => undefined;
      expect((await client.query('select count(*)::int as n from silent')).rows).toEqual([{ n: 20 }]);
    } finally {
      await client.end();
    }
  });

  it('reports a missing stream by name', async () => {
    const client = await harness.connect();
    try {
      await expect(client.query('select count(*) from missing')).rejects.toMatchObject({
        message: expect.stringContaining('Kinesis stream "no-such-stream" does not exist'),
      });
    } finally {
      await client.end();
    }
  });
});

describe('a long read', () => {
  const proxy = new FaultProxy();
  let harness: Harness;

  beforeAll(async () => {
    await proxy.start();
    proxy.slowMs = 300;
    harness = await startHarness({
      streams: [{ name: 'slowly', shards: 2 }],
      definitions: { 'slowly.json': definition('slowly', 'slowly') },
      configure: throughProxy(proxy, (config) => ({
        ...config,
        read: { ...config.read, batchSize: 50 },
        scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0, progressIntervalMs: 100 },
      })),
    });
    await harness.put(
      'slowly',
      Array.from({ length: 400 }, (_, i) => ({ id: i + 1 })),
    );
    proxy.decide = (operation) => (operation === 'GetRecords' ? 'slow' : undefined);
  });

  afterAll(async () => {
    await harness?.close();
    await proxy.close();
  });

  it('sends NOTICE messages with its progress while the client waits', async () => {
    const client = await harness.connect();
    const notices: string[] = [];
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    try {
      expect((await client.query('select count(*)::int as n from slowly')).rows).toEqual([{ n: 400 }]);
    } finally {
      await client.end();
    }
    expect(notices.length).toBeGreaterThan(1);
    const pattern = /^loading public\.slowly: (\d+\.\d)% of the window \(24 h\) loaded, (?:about .+ left|less than a second left|time left not known yet)$/;
    for (const notice of notices) expect(notice).toMatch(pattern);
    const percents = notices.map((message) => Number(pattern.exec(message)![1]));
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(percents.at(-1)!).toBeLessThanOrEqual(100);
  });
});
