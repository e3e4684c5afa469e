import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStream, startKinesisStandIn, type KinesisStandIn } from '../../src/demo/kinesis-standin.js';
import { createKinesisClient } from '../../src/kinesis/client.js';
import { ShardRateBudget } from '../../src/kinesis/rate-budget.js';
import { listShards } from '../../src/kinesis/shard-listing.js';
import { firstLoadBatchSize, ShardReader } from '../../src/kinesis/shard-reader.js';
import { testLogger } from '../support/harness.js';

const retry = { attempts: 5, baseDelayMs: 50, maxDelayMs: 1_000, deadlineMs: 60_000 };
const RECORDS = 12_000;

describe('the first GetRecords calls of a first load', () => {
  let standIn: KinesisStandIn;
  let client: KinesisClient;

  beforeAll(async () => {
    standIn = await startKinesisStandIn();
    client = createKinesisClient({ region: 'us-east-1', kinesisEndpoint: standIn.endpoint, accessKeyId: 'test', secretAccessKey: 'test' });
    await ensureStream(client, 'ramp', 1);
    for (let offset = 0; offset < RECORDS; offset += 500) {
      const data = Array.from({ length: 500 }, (_, i) => ({ Data: Buffer.from(String(offset + i)), PartitionKey: 'k' }));
      await client.send(new PutRecordsCommand({ StreamName: 'ramp', Records: data }));
    }
  }, 120_000);

  afterAll(async () => {
    client?.destroy();
    await standIn?.close();
  });

  const reader = async (batchSize: number, maxBatches = 0): Promise<ShardReader> => {
    const [shard] = await listShards(client, 'ramp', retry);
    return new ShardReader(client, 'ramp', shard!.shardId, {
      batchSize,
      maxBatches,
      retry,
      budget: new ShardRateBudget(),
      logBatches: false,
      logger: testLogger,
    });
  };

  it('ask for a few hundred records, then the batch size each call (the caller told each size first), and still read every record once, to the tip', async () => {
    const firstBatchSize = firstLoadBatchSize(10_000, 0);
    expect(firstBatchSize).toBe(500);
    const batches: number[] = [];
    const asked: number[] = [];
    const seen: string[] = [];
    const result = await (await reader(10_000)).read({
      from: { type: 'TRIM_HORIZON' },
      stopAt: new Date(),
      firstBatchSize: firstBatchSize!,
      // Told before each call how many records it asks for (the room the caller takes for its answer).
      beforeCall: async (records) => void asked.push(records),
      onBatch: async (records) => {
        batches.push(records.length);
        for (const record of records) seen.push(Buffer.from(record.data).toString());
      },
    });
    expect(batches).toEqual([500, 10_000, 1_500]);
    expect(asked).toEqual([500, 10_000, 10_000]);
    expect(seen).toEqual(Array.from({ length: RECORDS }, (_, i) => String(i)));
    expect(result.complete).toBe(true);
  }, 60_000);

  it('are all of the batch size when a read is bounded to kinesis.max-batches calls, or the batch size is small already', async () => {
    expect(firstLoadBatchSize(10_000, 2)).toBeUndefined();
    expect(firstLoadBatchSize(500, 0)).toBeUndefined();
    const batches: number[] = [];
    const result = await (await reader(5_000, 2)).read({
      from: { type: 'TRIM_HORIZON' },
      stopAt: new Date(),
      onBatch: async (records) => void batches.push(records.length),
    });
    expect(batches).toEqual([5_000, 5_000]);
    expect(result.complete).toBe(false);
  }, 60_000);
});
