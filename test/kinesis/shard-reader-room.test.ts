import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStream } from '../../src/demo/kinesis-standin.js';
import { createKinesisClient } from '../../src/kinesis/client.js';
import { ShardRateBudget } from '../../src/kinesis/rate-budget.js';
import { listShards } from '../../src/kinesis/shard-listing.js';
import { ShardReader } from '../../src/kinesis/shard-reader.js';
import { startKinesisMock, type KinesisMock } from '../scan/kinesis-mock.js';
import { testLogger } from '../support/harness.js';

const retry = { attempts: 5, baseDelayMs: 50, maxDelayMs: 1_000, deadlineMs: 30_000 };

describe('a shard reader waiting for room before each GetRecords call', () => {
  let mock: KinesisMock;
  let client: KinesisClient;

  beforeAll(async () => {
    mock = await startKinesisMock();
    client = createKinesisClient({ region: 'us-east-1', kinesisEndpoint: mock.endpoint, accessKeyId: 'test', secretAccessKey: 'test' });
    await ensureStream(client, 'roomy', 1);
    const data = Array.from({ length: 30 }, (_, i) => ({ Data: Buffer.from(String(i)), PartitionKey: 'k' }));
    await client.send(new PutRecordsCommand({ StreamName: 'roomy', Records: data }));
  }, 120_000);

  afterAll(async () => {
    client?.destroy();
    await mock?.close();
  });

  it('fetches no batch while the caller has no room, and still hands every record over once, in order', async () => {
    const [shard] = await listShards(client, 'roomy', retry);
    const reader = new ShardReader(client, 'roomy', shard!.shardId, {
      batchSize: 10,
      maxBatches: 0,
      retry,
      budget: new ShardRateBudget(),
      logBatches: false,
      logger: testLogger,
    });
    const seen: string[] = [];
    const callsWhileLoading: number[] = [];
    // Room comes back only when the batch before has been loaded.
    let loaded: Promise<void> = Promise.resolve();
    const result = await reader.read({
      from: { type: 'TRIM_HORIZON' },
      stopAt: new Date(),
      beforeCall: () => loaded,
      onBatch: (records) => {
        const calls = reader.stats.calls;
        loaded = new Promise<void>((resolve) => setTimeout(resolve, 500)).then(() => {
          callsWhileLoading.push(reader.stats.calls - calls);
          for (const record of records) seen.push(Buffer.from(record.data).toString());
        });
        return loaded;
      },
    });
    expect(result.complete).toBe(true);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
    expect(callsWhileLoading).toEqual([0, 0, 0]);
  });
});
