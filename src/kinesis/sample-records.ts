/**
 * A sample of a stream's records for `kinesql infer`: the oldest records Kinesis holds (TRIM_HORIZON) or the
 * newest (the last minutes, AT_TIMESTAMP), spread over the open shards.
 */
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient, type ShardIteratorType } from '@aws-sdk/client-kinesis';
import { streamParameter } from './client.js';
import { listShards } from './shard-listing.js';
import { type RetryPolicy, withRetries } from './retry.js';

export interface SampleOptions {
  /** Most records to return. */
  limit: number;
  /** Read from this long ago (AT_TIMESTAMP) instead of the oldest record held. */
  sinceMs?: number;
  retry: RetryPolicy;
}

export interface SampledRecord {
  data: Uint8Array;
  partitionKey: string;
  shardId: string;
}

const MAX_EMPTY_CALLS = 3;

export async function sampleRecords(client: KinesisClient, streamName: string, options: SampleOptions): Promise<SampledRecord[]> {
  const shards = (await listShards(client, streamName, options.retry)).filter((shard) => shard.endingSequenceNumber === undefined);
  const perShard = Math.max(1, Math.ceil(options.limit / Math.max(1, shards.length)));
  const sampled: SampledRecord[] = [];
  for (const shard of shards) {
    const iteratorType: ShardIteratorType = options.sinceMs === undefined ? 'TRIM_HORIZON' : 'AT_TIMESTAMP';
    const start = await withRetries(options.retry, `GetShardIterator ${streamName}/${shard.shardId}`, (abortSignal) =>
      client.send(
        new GetShardIteratorCommand({
          ...streamParameter(streamName),
          ShardId: shard.shardId,
          ShardIteratorType: iteratorType,
          ...(options.sinceMs !== undefined ? { Timestamp: new Date(Date.now() - options.sinceMs) } : {}),
        }),
        { abortSignal },
      ),
    );
    let iterator = start.ShardIterator;
    let taken = 0;
    let empty = 0;
    while (iterator !== undefined && taken < perShard && empty < MAX_EMPTY_CALLS) {
      const current = iterator;
      const answer = await withRetries(options.retry, `GetRecords ${streamName}/${shard.shardId}`, (abortSignal) =>
        client.send(new GetRecordsCommand({ ShardIterator: current, Limit: Math.min(10_000, perShard - taken) }), { abortSignal }),
      );
      const records = answer.Records ?? [];
      for (const record of records) sampled.push({ data: record.Data ?? new Uint8Array(), partitionKey: record.PartitionKey ?? '', shardId: shard.shardId });
      taken += records.length;
      empty = records.length === 0 ? empty + 1 : 0;
      // At the tip: nothing more to sample in this shard.
      if (records.length === 0 && answer.MillisBehindLatest === 0) break;
      iterator = answer.NextShardIterator;
    }
  }
  return sampled.slice(0, options.limit);
}
