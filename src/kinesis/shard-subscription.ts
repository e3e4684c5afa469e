import { SubscribeToShardCommand, type KinesisClient, type StartingPosition, type SubscribeToShardEvent } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import type { StreamConsumers } from './efo-consumer.js';
import type { ShardPosition, StreamRecord } from './records.js';
import { isRetryable, isThrottle, KinesisTimeoutError, sleep, type RetryPolicy } from './retry.js';
import { compareSequenceNumbers } from './sequence-number.js';
import type { ShardReadRequest, ShardReadResult } from './shard-reader.js';
import type { ShardReaderStats } from './shard-reader-stats.js';

export interface ShardSubscriptionOptions {
  consumers: StreamConsumers;
  /** The client SubscribeToShard goes through (HTTP/2). */
  client: KinesisClient;
  /** Backoff of failed subscriptions (base, max) and how long a read waits for an event (deadlineMs). */
  retry: RetryPolicy;
  /** A subscription is ended and renewed from its continuation after this long (Kinesis ends it at 5 minutes). */
  renewAfterMs: number;
  /** The subscription stops taking events while this many records wait to be loaded. */
  maxBufferedRecords: number;
  /** New records arrived, an event found the tip, or the shard ended: the follower loads them. */
  onActivity: () => void;
  logger: Logger;
}

/** Kinesis allows one subscription per consumer and shard, and refuses a new one within 5 s of the last. */
const IN_USE_MIN_DELAY_MS = 1_000;

function startingPosition(position: ShardPosition): StartingPosition {
  switch (position.type) {
    case 'TRIM_HORIZON':
      return { Type: 'TRIM_HORIZON' };
    case 'AT_TIMESTAMP':
      return { Type: 'AT_TIMESTAMP', Timestamp: new Date(Math.min(position.timestamp.getTime(), Date.now())) };
    default:
      return { Type: position.type, SequenceNumber: position.sequenceNumber };
  }
}

function sameStart(a: ShardPosition, b: ShardPosition): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'AT_TIMESTAMP' && b.type === 'AT_TIMESTAMP') return a.timestamp.getTime() === b.timestamp.getTime();
  if ('sequenceNumber' in a && 'sequenceNumber' in b) return a.sequenceNumber === b.sequenceNumber;
  return true;
}

/**
 * One shard read by enhanced fan-out: a SubscribeToShard that runs in the background from where the
 * reader's records end, renewed from its continuation sequence number before Kinesis ends it and after
 * any cut, backing off when Kinesis refuses it (ResourceInUse, LimitExceeded). Its records wait in a
 * buffer until a read (the follower's, or a statement's) hands them to the loader, the same way as
 * polled batches. A read is at the tip as of its start once an event with MillisBehindLatest 0 made
 * after that start has been handed over.
 */
export class ShardSubscription {
  private start: ShardPosition | undefined;
  /** Where a renewed subscription goes on: the last continuation sequence number received. */
  private continuation: string | undefined;
  private buffer: StreamRecord[] = [];
  /** The last record handed to the reader, and records up to this one that arrive again are dropped. */
  private handedThrough: string | undefined;
  /** The newest at-tip event: the moment it vouches for (see receive), and how many buffered records came before it. */
  private tip: { at: number; pending: number } | undefined;
  /** When the subscription's previous event arrived, or its SubscribeToShard call was sent. */
  private previousEventAt = 0;
  private ended = false;
  private failure: Error | undefined;
  private generation = 0;
  private controller: AbortController | undefined;
  private running = false;
  private stopped = false;
  private wake: (() => void)[] = [];
  /** When the listing last said the shard is closed (kinesis-mock: its subscriptions never end). */
  private closedSeenAt: number | undefined;
  /** Reads under way, and whether the subscription ends when they are done (release). */
  private reads = 0;
  private released = false;
  /** When a read last used this subscription (a table that stopped reading gives the shard up). */
  lastReadAt = Date.now();

  constructor(
    readonly streamName: string,
    readonly shardId: string,
    private readonly options: ShardSubscriptionOptions,
    public stats: ShardReaderStats,
  ) {}

  async read(request: ShardReadRequest, batchSize: number): Promise<ShardReadResult> {
    this.reads += 1;
    try {
      return await this.readBuffered(request, batchSize);
    } finally {
      this.reads -= 1;
      if (this.released && this.reads === 0) this.stop();
    }
  }

  /** Ends the subscription once the reads under way are done (its shard is read by another server now). */
  release(): void {
    this.released = true;
    if (this.reads === 0) this.stop();
  }

  private async readBuffered(request: ShardReadRequest, batchSize: number): Promise<ShardReadResult> {
    this.lastReadAt = Date.now();
    this.positionAt(request.from);
    if (this.failure) {
      // A failed subscription is tried again by the next read.
      this.failure = undefined;
      this.ensureRunning();
    }
    const maxBatches = request.maxBatches ?? 0;
    let calls = 0;
    let records = 0;
    const waitMs = this.options.retry.deadlineMs ?? 60_000;
    for (;;) {
      if (this.failure) throw this.failure;
      let pastStart = false;
      while (this.buffer.length > 0) {
        const batch = this.buffer.splice(0, batchSize);
        if (this.tip) this.tip.pending -= batch.length;
        this.handedThrough = batch[batch.length - 1]!.sequenceNumber;
        this.resume();
        calls += 1;
        records += batch.length;
        await request.onBatch(batch, this.stats.millisBehindLatest);
        if (batch.some((record) => record.arrivalTimestamp >= request.stopAt)) pastStart = true;
        if (pastStart || (maxBatches > 0 && calls >= maxBatches)) break;
      }
      if (this.ended && this.buffer.length === 0) return { closed: true, complete: true, calls, records };
      const tip = this.tip;
      const since = (request.tipSince ?? request.stopAt).getTime();
      if (tip && tip.pending <= 0 && tip.at >= since && (await this.openAfter(since))) {
        return { closed: false, complete: true, calls, records, tipAt: new Date(tip.at) };
      }
      if (pastStart) return { closed: false, complete: true, calls, records };
      if (maxBatches > 0 && calls >= maxBatches) return { closed: false, complete: false, calls, records };
      if (request.waitForTip === false) return { closed: false, complete: false, calls, records };
      if (!(await this.nextChange(waitMs))) {
        throw new KinesisTimeoutError(`SubscribeToShard ${this.streamName}/${this.shardId} (no event)`, waitMs);
      }
    }
  }

  /** Whether it ended for good (stop): kinesql is closing, or it was released and its last read is done. */
  get stoppedForGood(): boolean {
    return this.stopped;
  }

  /** Ends the subscription for good. */
  stop(): void {
    this.stopped = true;
    this.controller?.abort();
    this.fail(new Error('the subscription was stopped (kinesql is shutting down)'));
  }

  /** Makes the subscription deliver the records after `from`, restarting it when it cannot. */
  private positionAt(from: ShardPosition): void {
    if (this.canContinueAt(from)) this.ensureRunning();
    else this.restart(from);
  }

  private canContinueAt(from: ShardPosition): boolean {
    const handed = this.handedThrough;
    if (from.type === 'AFTER_SEQUENCE_NUMBER' && handed !== undefined) {
      const order = compareSequenceNumbers(from.sequenceNumber, handed);
      if (order > 0) {
        // Another kinesql server on the engine loaded further: skip what it has.
        this.handedThrough = from.sequenceNumber;
        this.buffer = this.buffer.filter((record) => compareSequenceNumbers(record.sequenceNumber, from.sequenceNumber) > 0);
      }
      return order >= 0;
    }
    return handed === undefined && this.start !== undefined && sameStart(this.start, from) && !this.ended;
  }

  private restart(from: ShardPosition): void {
    this.generation += 1;
    this.controller?.abort();
    this.start = from;
    this.continuation = undefined;
    this.buffer = [];
    this.handedThrough = from.type === 'AFTER_SEQUENCE_NUMBER' ? from.sequenceNumber : undefined;
    this.tip = undefined;
    this.ended = false;
    this.failure = undefined;
    this.closedSeenAt = undefined;
    this.running = false;
    this.ensureRunning();
  }

  private ensureRunning(): void {
    if (this.running || this.stopped || this.ended || this.failure) return;
    this.running = true;
    const generation = this.generation;
    void this.run(generation).finally(() => {
      if (generation === this.generation) this.running = false;
    });
  }

  private current(generation: number): boolean {
    return generation === this.generation && !this.stopped && !this.ended;
  }

  private async run(generation: number): Promise<void> {
    let failures = 0;
    while (this.current(generation)) {
      const controller = new AbortController();
      this.controller = controller;
      const renewal = setTimeout(() => controller.abort(), this.options.renewAfterMs);
      try {
        const consumerArn = await this.options.consumers.consumerArn(this.streamName);
        if (!this.current(generation)) return;
        const from: ShardPosition = this.continuation ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: this.continuation } : this.start!;
        this.stats.subscribeCalls += 1;
        this.previousEventAt = Date.now();
        const answer = await this.options.client.send(
          new SubscribeToShardCommand({ ConsumerARN: consumerArn, ShardId: this.shardId, StartingPosition: startingPosition(from) }),
          { abortSignal: controller.signal },
        );
        for await (const message of answer.EventStream ?? []) {
          if (!this.current(generation)) return;
          if (message.SubscribeToShardEvent) {
            failures = 0;
            this.receive(message.SubscribeToShardEvent);
          } else {
            const [name, detail] = Object.entries(message).find(([, value]) => value !== undefined) ?? ['UnknownEvent', {}];
            throw Object.assign(new Error((detail as { message?: string }).message ?? name), { name });
          }
          await this.whileBufferFull(generation);
        }
        // Kinesis ended the subscription (after 5 minutes) or it was renewed: go on from the continuation.
      } catch (error) {
        if (!this.current(generation)) return;
        if (controller.signal.aborted) continue;
        const name = (error as Error).name;
        if (name === 'ResourceNotFoundException') this.options.consumers.forget(this.streamName);
        const inUse = name === 'ResourceInUseException';
        if (!inUse && !isRetryable(error) && name !== 'ResourceNotFoundException') {
          this.fail(error as Error);
          return;
        }
        failures += 1;
        if (isThrottle(error)) this.stats.throttles += 1;
        else this.stats.retries += 1;
        this.stats.lastError = `${name}: ${(error as Error).message}`;
        const { baseDelayMs, maxDelayMs } = this.options.retry;
        const delay = Math.max(inUse ? IN_USE_MIN_DELAY_MS : 0, Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(failures, 20)));
        this.options.logger.debug(
          { stream: this.streamName, shard: this.shardId, err: error, delayMs: Math.round(delay) },
          'subscription failed; subscribing again',
        );
        if (inUse && failures === 5) {
          this.options.logger.warn(
            { stream: this.streamName, shard: this.shardId, consumer: this.options.consumers.name },
            'another subscription holds this shard of the consumer (another kinesql server with the same kinesis.consumer-name?)',
          );
        }
        if (failures >= (this.options.retry.attempts > 0 ? this.options.retry.attempts : 5) && !inUse) this.fail(error as Error);
        await sleep(delay);
      } finally {
        clearTimeout(renewal);
      }
    }
  }

  /**
   * An event with MillisBehindLatest 0 says the shard was read to its tip when Kinesis made the event. That
   * moment is taken as the arrival of the subscription's previous event (or the subscribe call), not this
   * one's: kinesis-mock hands each event over only once it has made the next, a second after making it.
   */
  private receive(event: SubscribeToShardEvent): void {
    const receivedAt = Date.now();
    const madeAfter = this.previousEventAt;
    this.previousEventAt = receivedAt;
    this.stats.subscriptionEvents += 1;
    this.stats.millisBehindLatest = event.MillisBehindLatest;
    if (event.MillisBehindLatest !== undefined) this.stats.readUpTo = receivedAt - event.MillisBehindLatest;
    const handed = this.handedThrough;
    let bytes = 0;
    for (const record of event.Records ?? []) {
      const sequenceNumber = record.SequenceNumber!;
      if (handed !== undefined && compareSequenceNumbers(sequenceNumber, handed) <= 0) continue;
      const last = this.buffer.at(-1);
      if (last && compareSequenceNumbers(sequenceNumber, last.sequenceNumber) <= 0) continue;
      bytes += record.Data?.byteLength ?? 0;
      this.buffer.push({
        sequenceNumber,
        partitionKey: record.PartitionKey ?? '',
        data: record.Data ?? new Uint8Array(0),
        arrivalTimestamp: record.ApproximateArrivalTimestamp ?? new Date(0),
      });
    }
    const added = event.Records?.length ?? 0;
    this.stats.records += added;
    this.stats.bytes += bytes;
    if (event.ContinuationSequenceNumber) this.continuation = event.ContinuationSequenceNumber;
    if (event.MillisBehindLatest === 0) {
      this.tip = { at: madeAfter, pending: this.buffer.length };
      this.stats.lastTipAt = madeAfter;
    }
    const childShards = (event.ChildShards?.length ?? 0) > 0;
    const closedAndDrained = this.closedSeenAt !== undefined && event.MillisBehindLatest === 0 && added === 0 && madeAfter >= this.closedSeenAt;
    if (childShards || closedAndDrained) this.end();
    // An event at the tip wakes the follower too: its read records the tip for the servers waiting on this one.
    if (added > 0 || event.MillisBehindLatest === 0) this.options.onActivity();
    this.notify();
  }

  /**
   * Whether the shard is still open as of a listing made after `since`; when it is closed, the subscription
   * ends at the next at-tip event made after that listing (kinesis-mock never ends a closed shard's
   * subscription, nor names its children).
   */
  private async openAfter(since: number): Promise<boolean> {
    if (this.closedSeenAt !== undefined) return false;
    const closedAt = await this.options.consumers.closedSince(this.streamName, this.shardId, since);
    if (closedAt === undefined) return true;
    this.closedSeenAt = closedAt;
    return false;
  }

  private end(): void {
    this.ended = true;
    this.controller?.abort();
    this.options.onActivity();
  }

  private fail(error: Error): void {
    this.failure = error;
    this.stats.lastError = `${error.name}: ${error.message}`;
    this.notify();
  }

  private notify(): void {
    const waiting = this.wake;
    this.wake = [];
    for (const resume of waiting) resume();
  }

  private resumeBuffer: (() => void) | undefined;

  private resume(): void {
    if (this.buffer.length < this.options.maxBufferedRecords) {
      this.resumeBuffer?.();
      this.resumeBuffer = undefined;
    }
  }

  private async whileBufferFull(generation: number): Promise<void> {
    while (this.buffer.length >= this.options.maxBufferedRecords && this.current(generation)) {
      await new Promise<void>((resolve) => {
        this.resumeBuffer = resolve;
        this.controller?.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }

  /** Waits for the next event, closure or failure; false when none came within timeoutMs. */
  private nextChange(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = this.wake.filter((entry) => entry !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.wake.push(done);
    });
  }
}
