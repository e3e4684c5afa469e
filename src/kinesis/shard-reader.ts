import {
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import type { RecordBatch, ShardPosition, StreamRecord } from './records.js';
import { sleep, withRetries, type RetryPolicy } from './retry.js';

export interface ShardReaderOptions {
  batchSize: number;
  /** GetRecords calls per read, 0 = until the tip. */
  maxBatches: number;
  retry: RetryPolicy;
  logBatches: boolean;
  logger: Logger;
}

export interface ShardReadResult {
  /** The shard has no more records and never will (closed by a reshard and read to its end). */
  closed: boolean;
  calls: number;
  records: number;
}

/** Kinesis allows 5 GetRecords calls per second per shard. */
const MIN_CALL_INTERVAL_MS = 200;
/** Iterators expire after 5 minutes; one older than this is not reused. */
const ITERATOR_REUSE_MS = 4 * 60 * 1000;

function positionKey(position: ShardPosition): string {
  switch (position.type) {
    case 'TRIM_HORIZON':
      return 'TRIM_HORIZON';
    case 'AT_TIMESTAMP':
      return `AT_TIMESTAMP:${position.timestamp.getTime()}`;
    default:
      return `${position.type}:${position.sequenceNumber}`;
  }
}

/**
 * Reads one shard. A reader lives as long as the table: it keeps the iterator where the last read
 * stopped (so a catch-up costs no GetShardIterator) and spaces its GetRecords calls to the shard's limit.
 */
export class ShardReader {
  private cachedIterator: { key: string; iterator: string; obtainedAt: number } | undefined;
  private lastCallAt = 0;

  constructor(
    private readonly client: KinesisClient,
    readonly streamName: string,
    readonly shardId: string,
    private readonly options: ShardReaderOptions,
  ) {}

  /**
   * Reads from `from` until the shard's tip (an empty answer with nothing behind it), until a record that
   * arrived at or after `stopAt`, or until maxBatches calls; every answer with records goes to onBatch
   * before the next one is asked for.
   */
  async read(from: ShardPosition, stopAt: Date, onBatch: (batch: RecordBatch) => Promise<void>): Promise<ShardReadResult> {
    let position = from;
    let iterator = await this.iteratorFor(position);
    let calls = 0;
    let records = 0;
    for (;;) {
      await this.paceCalls();
      let answer;
      try {
        answer = await withRetries(this.options.retry, `GetRecords ${this.streamName}/${this.shardId}`, () =>
          this.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: this.options.batchSize })),
        );
      } catch (error) {
        if (error instanceof ExpiredIteratorException || (error as Error).name === 'ExpiredIteratorException') {
          this.cachedIterator = undefined;
          iterator = await this.iteratorFor(position);
          continue;
        }
        throw error;
      }
      calls += 1;
      const batch: StreamRecord[] = (answer.Records ?? []).map((record) => ({
        sequenceNumber: record.SequenceNumber!,
        partitionKey: record.PartitionKey ?? '',
        data: record.Data ?? new Uint8Array(0),
        arrivalTimestamp: record.ApproximateArrivalTimestamp ?? new Date(0),
      }));
      if (this.options.logBatches) {
        this.options.logger.info(
          { stream: this.streamName, shard: this.shardId, records: batch.length, millisBehindLatest: answer.MillisBehindLatest },
          'GetRecords batch',
        );
      }
      if (batch.length > 0) {
        await onBatch({ shardId: this.shardId, records: batch, millisBehindLatest: answer.MillisBehindLatest });
        records += batch.length;
        position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: batch[batch.length - 1]!.sequenceNumber };
      }
      if (!answer.NextShardIterator) {
        this.cachedIterator = undefined;
        return { closed: true, calls, records };
      }
      iterator = answer.NextShardIterator;
      this.cachedIterator = { key: positionKey(position), iterator, obtainedAt: Date.now() };
      const atTip = batch.length === 0 && (answer.MillisBehindLatest ?? 0) === 0;
      const pastStart = batch.some((record) => record.arrivalTimestamp >= stopAt);
      const outOfBatches = this.options.maxBatches > 0 && calls >= this.options.maxBatches;
      if (atTip || pastStart || outOfBatches) return { closed: false, calls, records };
    }
  }

  private async iteratorFor(position: ShardPosition): Promise<string> {
    const key = positionKey(position);
    const cached = this.cachedIterator;
    if (cached && cached.key === key && Date.now() - cached.obtainedAt < ITERATOR_REUSE_MS) return cached.iterator;
    const answer = await withRetries(this.options.retry, `GetShardIterator ${this.streamName}/${this.shardId}`, () =>
      this.client.send(
        new GetShardIteratorCommand({
          StreamName: this.streamName,
          ShardId: this.shardId,
          ShardIteratorType: position.type,
          ...(position.type === 'AT_TIMESTAMP' ? { Timestamp: position.timestamp } : {}),
          ...(position.type === 'AFTER_SEQUENCE_NUMBER' || position.type === 'AT_SEQUENCE_NUMBER'
            ? { StartingSequenceNumber: position.sequenceNumber }
            : {}),
        }),
      ),
    );
    if (!answer.ShardIterator) throw new Error(`Kinesis returned no iterator for ${this.streamName}/${this.shardId}`);
    return answer.ShardIterator;
  }

  private async paceCalls(): Promise<void> {
    const wait = this.lastCallAt + MIN_CALL_INTERVAL_MS - Date.now();
    if (wait > 0) await sleep(wait);
    this.lastCallAt = Date.now();
  }
}
