import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KinesqlConfig } from '../../src/config/config.js';
import { partitionKeyHash } from '../../src/store/scan-request.js';
import { startHarness, type Harness } from '../support/harness.js';
import { FaultProxy } from './fault-proxy.js';

const definition = (table: string, stream: string) => ({
  tableName: table,
  streamName: stream,
  message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] },
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('bounds in WHERE decide what is read from Kinesis', () => {
  const proxy = new FaultProxy();
  let harness: Harness;

  const count = async (sql: string): Promise<number> => {
    const client = await harness.connect();
    try {
      return Number((await client.query(sql)).rows[0].n);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    await proxy.start();
    harness = await startHarness({
      streams: [
        { name: 'recent', shards: 2 },
        { name: 'keyed', shards: 4 },
        { name: 'sequenced', shards: 1 },
      ],
      definitions: {
        'recent.json': definition('recent', 'recent'),
        'keyed.json': definition('keyed', 'keyed'),
        'sequenced.json': definition('sequenced', 'sequenced'),
      },
      configure: (base: KinesqlConfig) => {
        proxy.target = base.aws.kinesisEndpoint!;
        return { ...base, aws: { ...base.aws, kinesisEndpoint: proxy.endpoint } };
      },
    });
  });

  afterAll(async () => {
    await harness?.close();
    await proxy.close();
  });

  it('reads only the last minutes for a recent-time query, then only the older range for the whole window', async () => {
    await harness.put(
      'recent',
      Array.from({ length: 400 }, (_, i) => ({ n: i })),
    );
    await sleep(1_100);
    const boundary = new Date();
    await sleep(50);
    await harness.put(
      'recent',
      Array.from({ length: 60 }, (_, i) => ({ n: 1000 + i })),
    );

    proxy.reset();
    expect(await count(`select count(*) as n from recent where _message_timestamp >= '${boundary.toISOString()}'`)).toBe(60);
    expect(proxy.recordsRead()).toBe(60);

    proxy.reset();
    expect(await count('select count(*) as n from recent')).toBe(460);
    // GetRecords cannot stop at a sequence number: the last batch may carry already-loaded records,
    // which are dropped, never loaded twice.
    expect(proxy.recordsRead()).toBeGreaterThanOrEqual(400);
    expect(await count('select count(distinct _shard_sequence_id) as n from recent')).toBe(460);
    const recent = harness.server.store.list().find((t) => t.definition.tableName === 'recent')!;
    expect(recent.rowsLoaded).toBe(460);

    proxy.reset();
    expect(await count(`select count(*) as n from recent where _message_timestamp > now() - interval '1 hour'`)).toBe(460);
    expect(proxy.recordsRead()).toBe(0);
  });

  it('reads only the shard a partition key hashes to, and only the shards _shard_id names', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    await harness.put(
      'keyed',
      Array.from({ length: 240 }, (_, i) => ({ data: JSON.stringify({ n: i }), partitionKey: keys[i % keys.length]! })),
    );
    const shardOf = harness.server.store.list().find((t) => t.definition.tableName === 'keyed')!;
    proxy.reset();
    expect(await count(`select count(*) as n from keyed where _partition_key = 'user-3'`)).toBe(20);
    const asked = new Set(proxy.calls.filter((c) => c.operation === 'GetShardIterator').map((c) => c.shardId));
    expect(asked.size).toBe(1);
    const hash = partitionKeyHash('user-3');
    const status = shardOf.shardStatus();
    expect(status.length).toBe(4);
    const holder = status.find((s) => s.shardId === [...asked][0])!;
    expect(holder.rows).toBeGreaterThanOrEqual(20);
    expect(status.filter((s) => s.shardId !== holder.shardId).every((s) => s.rows === 0 && s.reader.calls === 0)).toBe(true);
    expect(hash).toBeGreaterThan(0n);

    proxy.reset();
    const other = status.find((s) => s.shardId !== holder.shardId)!.shardId;
    const inOther = await count(`select count(*) as n from keyed where _shard_id in ('${other}')`);
    expect(new Set(proxy.calls.filter((c) => c.operation === 'GetShardIterator').map((c) => c.shardId))).toEqual(new Set([other]));
    expect(proxy.recordsRead()).toBe(inOther);
    expect(inOther).toBeGreaterThan(0);
  });

  it('starts after the sequence number a _shard_sequence_id bound names', async () => {
    const put = await harness.kinesis.send(
      new PutRecordsCommand({
        StreamName: 'sequenced',
        Records: Array.from({ length: 30 }, (_, i) => ({ Data: Buffer.from(JSON.stringify({ n: i })), PartitionKey: `k${i}` })),
      }),
    );
    const tenth = put.Records![9]!.SequenceNumber!;
    proxy.reset();
    expect(await count(`select count(*) as n from sequenced where _shard_sequence_id > '${tenth}'`)).toBe(20);
    expect(proxy.recordsRead()).toBe(20);
    expect(proxy.calls.find((c) => c.operation === 'GetShardIterator')?.iteratorType).toBe('AFTER_SEQUENCE_NUMBER');
    // The whole table then loads only the ten records before the bound.
    proxy.reset();
    expect(await count('select count(*) as n from sequenced')).toBe(30);
    expect(await count('select count(distinct n) as n from sequenced')).toBe(30);
    expect(proxy.calls.find((c) => c.operation === 'GetShardIterator')?.iteratorType).toBe('AT_TIMESTAMP');
  });
});
