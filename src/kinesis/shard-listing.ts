import { DescribeStreamSummaryCommand, ListShardsCommand, type KinesisClient, type Shard } from '@aws-sdk/client-kinesis';
import { streamParameter } from './client.js';
import type { ShardDescription } from './records.js';
import { withRetries, type RetryPolicy } from './retry.js';

/** Every shard of a stream, open and closed, following ListShards pagination (streams with hundreds of shards). */
export async function listShards(client: KinesisClient, streamName: string, retry: RetryPolicy, pageSize?: number): Promise<ShardDescription[]> {
  const shards: ShardDescription[] = [];
  let nextToken: string | undefined;
  do {
    const token = nextToken;
    const page = await withRetries(retry, `ListShards ${streamName}`, (abortSignal) =>
      client.send(new ListShardsCommand({ ...(token ? { NextToken: token } : streamParameter(streamName)), ...(pageSize ? { MaxResults: pageSize } : {}) }), {
        abortSignal,
      }),
    );
    for (const shard of page.Shards ?? []) shards.push(describeShard(shard));
    nextToken = page.NextToken;
  } while (nextToken);
  return shards;
}

/**
 * Which stream a name stands for now: a stream deleted and created again under the same name is another
 * stream (new shards, new sequence numbers), told apart by its creation time.
 */
export interface StreamIncarnation {
  arn: string;
  createdAt: Date;
}

export function sameIncarnation(a: StreamIncarnation, b: StreamIncarnation): boolean {
  return a.arn === b.arn && a.createdAt.getTime() === b.createdAt.getTime();
}

/** The stream's ARN and creation time (DescribeStreamSummary); ResourceNotFoundException when there is none. */
export async function describeIncarnation(client: KinesisClient, streamName: string, retry: RetryPolicy): Promise<StreamIncarnation> {
  const answer = await withRetries(retry, `DescribeStreamSummary ${streamName}`, (abortSignal) =>
    client.send(new DescribeStreamSummaryCommand(streamParameter(streamName)), { abortSignal }),
  );
  const summary = answer.StreamDescriptionSummary;
  return { arn: summary?.StreamARN ?? '', createdAt: summary?.StreamCreationTimestamp ?? new Date(0) };
}

function describeShard(shard: Shard): ShardDescription {
  return {
    shardId: shard.ShardId!,
    ...(shard.ParentShardId ? { parentShardId: shard.ParentShardId } : {}),
    ...(shard.AdjacentParentShardId ? { adjacentParentShardId: shard.AdjacentParentShardId } : {}),
    startingHashKey: BigInt(shard.HashKeyRange?.StartingHashKey ?? '0'),
    endingHashKey: BigInt(shard.HashKeyRange?.EndingHashKey ?? '0'),
    startingSequenceNumber: shard.SequenceNumberRange?.StartingSequenceNumber ?? '0',
    ...(shard.SequenceNumberRange?.EndingSequenceNumber ? { endingSequenceNumber: shard.SequenceNumberRange.EndingSequenceNumber } : {}),
  };
}

/**
 * Orders shards so that every parent comes before its children: reading in this order keeps each
 * partition key's records in order across a reshard.
 */
export function parentsFirst(shards: ShardDescription[]): ShardDescription[] {
  const byId = new Map(shards.map((shard) => [shard.shardId, shard]));
  const ordered: ShardDescription[] = [];
  const placed = new Set<string>();
  const place = (shard: ShardDescription): void => {
    if (placed.has(shard.shardId)) return;
    placed.add(shard.shardId);
    for (const parentId of [shard.parentShardId, shard.adjacentParentShardId]) {
      const parent = parentId ? byId.get(parentId) : undefined;
      if (parent) place(parent);
    }
    ordered.push(shard);
  };
  shards.forEach(place);
  return ordered;
}
