import { GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { streamParameter } from './client.js';
import type { GetRecordsAnswer } from './get-records-answer.js';
import { getRecords } from './get-records-call.js';
import type { ShardRateBudget } from './rate-budget.js';
import type { ShardPosition, StreamRecord } from './records.js';
import { isThrottle, withRetries, type RetryPolicy } from './retry.js';
import { compareSequenceNumbers } from './sequence-number.js';
import { type ShardReaderStats, unreadShardStats } from './shard-reader-stats.js';

export interface ShardReaderOptions {
  batchSize: number;
  /** GetRecords calls per read, 0 = until the tip. */
  maxBatches: number;
  retry: RetryPolicy;
  /** The per-shard call and byte budget, shared by every reader of the process. */
  budget: ShardRateBudget;
  logBatches: boolean;
  logger: Logger;
  /** kinesis.consumer-mode = efo: tail reads take what the shard's subscription delivered (fills still poll). */
  subscriptions?: ShardSubscriptions;
}

/** Where a reader finds its shard's enhanced fan-out subscription (kinesis/enhanced-fan-out). */
export interface ShardSubscriptions {
  /** The subscription `owner` reads through, or undefined when another reader holds it (then it polls). */
  subscriptionFor(
    owner: object,
    stream: string,
    shardId: string,
    stats: ShardReaderStats,
  ): { read(request: ShardReadRequest, batchSize: number): Promise<ShardReadResult> } | undefined;
  /** `owner` no longer reads the shard through its subscription: it ends once the reads under way are done. */
  release(owner: object, stream: string, shardId: string): void;
}

export interface ShardReadRequest {
  from: ShardPosition;
  /** The statement's start: a batch holding a record that arrived at or after it ends the read. */
  stopAt: Date;
  /** Records at or after this sequence number are already loaded: the read ends before them. */
  stopBeforeSequence?: string;
  /**
   * Receives each non-empty batch, in order, as soon as it arrives, and must apply the batches in that
   * order; the next GetRecords call runs while the returned promise is pending.
   */
  onBatch: (records: StreamRecord[], millisBehindLatest: number | undefined) => Promise<void>;
  /**
   * Waited for before each GetRecords call (polling only), with the number of records the call will ask for,
   * so that a batch is fetched once the caller has room to take it in, rather than fetched and then held, as
   * the SDK returned it, until there is room.
   */
  beforeCall?: (records: number) => Promise<void>;
  /** GetRecords calls before the read stops, 0 = no limit; the reader's maxBatches when absent. */
  maxBatches?: number;
  /** Records per GetRecords call; the reader's batchSize when absent. */
  batchSize?: number;
  /**
   * Records the read's first GetRecords call asks for, every later call asking for the batch size (see
   * firstLoadBatchSize); every call asks for the batch size when absent.
   */
  firstBatchSize?: number;
  /**
   * false: a subscription's read hands over what it has and returns, without waiting for an event at the tip
   * made after stopAt (the follower's reads; a poll reads to the tip anyway).
   */
  waitForTip?: boolean;
  /** A subscription's read is complete at an event at the tip made after this (kinesql.max_staleness); stopAt when absent. */
  tipSince?: Date;
  /** false: poll with GetRecords even in enhanced fan-out mode (another kinesql server holds the shard's lease). */
  subscribe?: boolean;
}

export interface ShardReadResult {
  /** The shard has no more records and never will (closed by a reshard and read to its end). */
  closed: boolean;
  /** The read reached the tip as of the statement's start (or the already-loaded records). */
  complete: boolean;
  calls: number;
  records: number;
  /** When the read was last known at the tip: every record that arrived before this is loaded. */
  tipAt?: Date;
}

const MAX_LOADS_IN_FLIGHT = 2;
/** Records the first GetRecords call of a shard's first load asks for: a first commit comes after a few hundred records, not 10,000. */
const FIRST_LOAD_BATCH = 500;

/**
 * The first call's size for a read of a shard nothing of which is loaded yet: small, so its first rows are in
 * the engine (and a `LIMIT n` can answer) while the bulk of the load is still ahead. The calls after it ask for
 * the whole batch size: a ramp (500, 2,000, 8,000) made a cold load of a large backlog one call per shard
 * longer than a plain loop, and the stand-in's work per record grew with the calls. Undefined when the read
 * is bounded to maxBatches calls (kinesis.max-batches): those calls ask for the whole batch size each.
 */
export function firstLoadBatchSize(batchSize: number, maxBatches: number): number | undefined {
  return maxBatches > 0 || batchSize <= FIRST_LOAD_BATCH ? undefined : FIRST_LOAD_BATCH;
}

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

function isExpiredIterator(error: unknown): boolean {
  return (error as Error).name === 'ExpiredIteratorException';
}

/**
 * Reads one shard. A reader lives as long as the table: it keeps the iterator where the last read
 * stopped (so a catch-up costs no GetShardIterator), takes every call from the process-wide shard
 * budget, and keeps the next GetRecords in flight while the previous batch is loaded.
 */
export class ShardReader {
  private cachedIterator: { key: string; iterator: string; obtainedAt: number } | undefined;
  readonly stats = unreadShardStats();
  private readonly retry: RetryPolicy;

  constructor(
    private readonly client: KinesisClient,
    readonly streamName: string,
    readonly shardId: string,
    private readonly options: ShardReaderOptions,
  ) {
    this.retry = {
      ...options.retry,
      onRetry: (error, attempt) => {
        if (isThrottle(error)) this.stats.throttles += 1;
        else this.stats.retries += 1;
        this.stats.lastError = `${(error as Error).name}: ${(error as Error).message}`;
        options.retry.onRetry?.(error, attempt);
      },
    };
  }

  async read(request: ShardReadRequest): Promise<ShardReadResult> {
    const subscription =
      request.stopBeforeSequence === undefined && request.subscribe !== false
        ? this.options.subscriptions?.subscriptionFor(this, this.streamName, this.shardId, this.stats)
        : undefined;
    if (subscription) {
      try {
        return await subscription.read(request, request.batchSize ?? this.options.batchSize);
      } catch (error) {
        this.stats.lastError = `${(error as Error).name}: ${(error as Error).message}`;
        throw error;
      }
    }
    return this.poll(request);
  }

  /** This reader no longer reads its shard by subscription (its lease went to another server): Kinesis may serve another subscriber. */
  releaseSubscription(): void {
    this.options.subscriptions?.release(this, this.streamName, this.shardId);
  }

  private async poll(request: ShardReadRequest): Promise<ShardReadResult> {
    let position = request.from;
    const batchSize = request.batchSize ?? this.options.batchSize;
    let limit = Math.min(request.firstBatchSize ?? batchSize, batchSize);
    let iterator = await this.iteratorFor(position);
    let calls = 0;
    let records = 0;
    // onBatch is called as soon as a batch arrives (the loader keeps its loads in order); at most
    // MAX_LOADS_IN_FLIGHT of them run while the next GetRecords is made.
    const loads: Promise<void>[] = [];
    let loadFailed: { error: unknown } | undefined;
    const deliver = async (batch: StreamRecord[], behind: number | undefined): Promise<void> => {
      const load = request.onBatch(batch, behind);
      load.catch((error: unknown) => (loadFailed ??= { error }));
      loads.push(load);
      if (loads.length >= MAX_LOADS_IN_FLIGHT) await loads.shift()!.catch(() => undefined);
    };
    const loading = (): Promise<unknown> => Promise.all(loads);
    try {
      for (;;) {
        if (loadFailed) throw loadFailed.error;
        let answer: GetRecordsAnswer;
        let sentAt: number;
        await request.beforeCall?.(limit);
        if (loadFailed) throw (loadFailed as { error: unknown }).error;
        try {
          ({ answer, sentAt } = await this.getRecords(iterator, limit));
        } catch (error) {
          if (!isExpiredIterator(error)) throw error;
          this.stats.expiredIterators += 1;
          this.cachedIterator = undefined;
          iterator = await this.iteratorFor(position);
          continue;
        }
        calls += 1;
        let batch: StreamRecord[] = answer.records;
        const fullBatch = batch.length >= limit;
        limit = batchSize;
        let reachedLoaded = false;
        if (request.stopBeforeSequence !== undefined) {
          const stop = request.stopBeforeSequence;
          const kept = batch.filter((record) => compareSequenceNumbers(record.sequenceNumber, stop) < 0);
          reachedLoaded = kept.length < batch.length;
          batch = kept;
        }
        const behind = answer.millisBehindLatest;
        this.stats.millisBehindLatest = behind;
        if (this.options.logBatches) {
          this.options.logger.info({ stream: this.streamName, shard: this.shardId, records: batch.length, millisBehindLatest: behind }, 'GetRecords batch');
        }
        if (batch.length > 0) {
          await deliver(batch, behind);
          records += batch.length;
          position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: batch[batch.length - 1]!.sequenceNumber };
        }
        const next = answer.nextShardIterator;
        if (next) iterator = next;
        // After a fill dropped records it had already loaded, the next iterator is past them, not at
        // `position`: caching it under that key would skip records on a later read from there.
        this.cachedIterator = next && !reachedLoaded ? { key: positionKey(position), iterator: next, obtainedAt: Date.now() } : undefined;
        // An empty answer is the tip only when Kinesis says nothing is behind it (it may skip ahead first).
        // A fill (stopBeforeSequence) must reach the loaded records; only a bare empty answer ends it early.
        const filling = request.stopBeforeSequence !== undefined;
        const atTip = (behind ?? 0) === 0 && (filling ? answer.records.length === 0 : !fullBatch);
        const pastStart = !filling && batch.some((record) => record.arrivalTimestamp >= request.stopAt);
        const done = reachedLoaded || !next || atTip || pastStart;
        const maxBatches = request.maxBatches ?? this.options.maxBatches;
        const outOfBatches = maxBatches > 0 && calls >= maxBatches;
        if (!filling && behind !== undefined) this.stats.readUpTo = sentAt - behind;
        if (atTip && !filling) this.stats.lastTipAt = sentAt;
        if (done || outOfBatches) {
          await loading();
          if (loadFailed) throw (loadFailed as { error: unknown }).error;
          // The call that found the tip was sent at sentAt: every record that arrived before then is loaded.
          const tipAt = atTip && !filling ? { tipAt: new Date(sentAt) } : {};
          return { closed: !next && !reachedLoaded, complete: done, calls, records, ...tipAt };
        }
      }
    } catch (error) {
      this.stats.lastError = `${(error as Error).name}: ${(error as Error).message}`;
      await loading().catch(() => undefined);
      throw loadFailed ? loadFailed.error : error;
    }
  }

  private async getRecords(iterator: string, limit: number): Promise<{ answer: GetRecordsAnswer; sentAt: number }> {
    await this.options.budget.acquire(this.streamName, this.shardId);
    let sentAt = Date.now();
    const answer = await withRetries(this.retry, `GetRecords ${this.streamName}/${this.shardId}`, async (abortSignal) => {
      sentAt = Date.now();
      try {
        return await getRecords(this.client, { ShardIterator: iterator, Limit: limit }, { abortSignal });
      } catch (error) {
        // A throttled call still used the shard's budget; space the retry like any other call.
        if (isThrottle(error)) await this.options.budget.acquire(this.streamName, this.shardId);
        throw error;
      }
    });
    let bytes = 0;
    for (const record of answer.records) bytes += record.data.byteLength;
    this.options.budget.spend(this.streamName, this.shardId, bytes);
    this.stats.calls += 1;
    this.stats.records += answer.records.length;
    this.stats.bytes += bytes;
    return { answer, sentAt };
  }

  private async iteratorFor(position: ShardPosition): Promise<string> {
    const key = positionKey(position);
    const cached = this.cachedIterator;
    if (cached && cached.key === key && Date.now() - cached.obtainedAt < ITERATOR_REUSE_MS) return cached.iterator;
    const answer = await withRetries(this.retry, `GetShardIterator ${this.streamName}/${this.shardId}`, (abortSignal) =>
      this.client.send(
        new GetShardIteratorCommand({
          ...streamParameter(this.streamName),
          ShardId: this.shardId,
          ShardIteratorType: position.type,
          // Kinesis refuses a timestamp after its own clock; a later one means "from now on" anyway.
          ...(position.type === 'AT_TIMESTAMP' ? { Timestamp: new Date(Math.min(position.timestamp.getTime(), Date.now())) } : {}),
          ...(position.type === 'AFTER_SEQUENCE_NUMBER' || position.type === 'AT_SEQUENCE_NUMBER' ? { StartingSequenceNumber: position.sequenceNumber } : {}),
        }),
        { abortSignal },
      ),
    );
    if (!answer.ShardIterator) throw new Error(`Kinesis returned no iterator for ${this.streamName}/${this.shardId}`);
    return answer.ShardIterator;
  }
}
