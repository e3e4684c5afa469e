/** A record as read from a shard, independent of the SDK's types. */
export interface StreamRecord {
  sequenceNumber: string;
  partitionKey: string;
  data: Uint8Array;
  arrivalTimestamp: Date;
}

/** One GetRecords answer. */
export interface RecordBatch {
  shardId: string;
  records: StreamRecord[];
  millisBehindLatest: number | undefined;
}

export interface ShardDescription {
  shardId: string;
  parentShardId?: string;
  adjacentParentShardId?: string;
  startingHashKey: bigint;
  endingHashKey: bigint;
  startingSequenceNumber: string;
  /** Set once the shard is closed (after a split or merge). */
  endingSequenceNumber?: string;
}

/** Where a shard read starts. */
export type ShardPosition =
  | { type: 'TRIM_HORIZON' }
  | { type: 'AT_TIMESTAMP'; timestamp: Date }
  | { type: 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string }
  | { type: 'AT_SEQUENCE_NUMBER'; sequenceNumber: string };
