import { DescribeStreamConsumerCommand, DescribeStreamSummaryCommand, type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStream } from '../../src/demo/kinesis-standin.js';
import { createKinesisClient, createSubscriptionClient } from '../../src/kinesis/client.js';
import { StreamConsumers } from '../../src/kinesis/efo-consumer.js';
import { EnhancedFanOut } from '../../src/kinesis/enhanced-fan-out.js';
import { ShardRateBudget } from '../../src/kinesis/rate-budget.js';
import type { ShardPosition } from '../../src/kinesis/records.js';
import { listShards } from '../../src/kinesis/shard-listing.js';
import { ShardReader } from '../../src/kinesis/shard-reader.js';
import { startKinesisMock, type KinesisMock } from '../scan/kinesis-mock.js';
import { testLogger } from '../support/harness.js';

const retry = { attempts: 5, baseDelayMs: 50, maxDelayMs: 1_000, deadlineMs: 30_000 };

describe('enhanced fan-out subscriptions on kinesis-mock', () => {
  let mock: KinesisMock;
  let client: KinesisClient;
  const aws = () => ({ region: 'us-east-1', kinesisEndpoint: mock.endpoint, accessKeyId: 'test', secretAccessKey: 'test' });

  beforeAll(async () => {
    mock = await startKinesisMock();
    client = createKinesisClient(aws());
    await ensureStream(client, 'renewed', 1);
    await ensureStream(client, 'registered', 1);
  }, 120_000);

  afterAll(async () => {
    client?.destroy();
    await mock?.close();
  });

  it('renews a subscription from its continuation: every record once, in order, across renewals', async () => {
    const fanOut = new EnhancedFanOut(client, createSubscriptionClient(aws()), {
      consumerName: 'renewal-test',
      deregisterOnExit: false,
      retry,
      logger: testLogger,
      // kinesis-mock sends an event a second: a renewal every two or three events.
      renewAfterMs: 2_500,
    });
    const [shard] = await listShards(client, 'renewed', retry);
    const reader = new ShardReader(client, 'renewed', shard!.shardId, {
      batchSize: 1_000,
      maxBatches: 0,
      retry,
      budget: new ShardRateBudget(),
      logBatches: false,
      logger: testLogger,
      subscriptions: fanOut,
    });
    const seen: string[] = [];
    let sent = 0;
    let from: ShardPosition = { type: 'TRIM_HORIZON' };
    try {
      for (let round = 0; round < 4; round++) {
        const data = Array.from({ length: 5 }, () => ({ Data: Buffer.from(String(sent++)), PartitionKey: 'k' }));
        await client.send(new PutRecordsCommand({ StreamName: 'renewed', Records: data }));
        const result = await reader.read({
          from,
          stopAt: new Date(),
          onBatch: async (records) => {
            for (const record of records) seen.push(Buffer.from(record.data).toString());
            from = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: records.at(-1)!.sequenceNumber };
          },
        });
        expect(result.complete).toBe(true);
        // A strict read holds every record put before it started.
        expect(seen).toEqual(Array.from({ length: sent }, (_, i) => String(i)));
      }
      expect(reader.stats.calls).toBe(0);
      expect(reader.stats.subscribeCalls).toBeGreaterThanOrEqual(3);
      expect(reader.stats.subscriptionEvents).toBeGreaterThan(0);
    } finally {
      await fanOut.close();
    }
  }, 120_000);

  it('registers a consumer once, reuses it by name, and deregisters it on exit only when asked', async () => {
    const streamArn = (await client.send(new DescribeStreamSummaryCommand({ StreamName: 'registered' }))).StreamDescriptionSummary!.StreamARN!;
    const status = async () => {
      try {
        return (await client.send(new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: 'reused' }))).ConsumerDescription!.ConsumerStatus;
      } catch (error) {
        return (error as Error).name;
      }
    };
    const first = new StreamConsumers(client, { name: 'reused', retry, logger: testLogger });
    const arn = await first.consumerArn('registered');
    expect(await status()).toBe('ACTIVE');
    // Another run (or server) with the same name finds the consumer instead of failing.
    const second = new StreamConsumers(client, { name: 'reused', retry, logger: testLogger });
    expect(await second.consumerArn('registered')).toBe(arn);
    await second.deregisterAll();
    expect(['DELETING', 'ResourceNotFoundException']).toContain(await status());
  }, 60_000);
});
