import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { StreamConsumers } from './efo-consumer.js';
import type { RetryPolicy } from './retry.js';
import { ShardSubscription } from './shard-subscription.js';
import type { ShardReaderStats } from './shard-reader-stats.js';

export interface EnhancedFanOutOptions {
  /** kinesis.consumer-name. */
  consumerName: string;
  /** kinesis.consumer-deregister-on-exit. */
  deregisterOnExit: boolean;
  retry: RetryPolicy;
  logger: Logger;
  /** Subscriptions are renewed after this long (ms); Kinesis ends each at 5 minutes. */
  renewAfterMs?: number;
  maxBufferedRecords?: number;
}

const RENEW_AFTER_MS = 4.5 * 60 * 1000;
/** A table that has not read its shard for this long gives the subscription up to another table. */
const IDLE_OWNER_MS = 10_000;

/**
 * kinesis.consumer-mode = efo: the stream consumers and one subscription per stream shard. A subscription
 * serves one reader (one table) at a time, since Kinesis allows one per consumer and shard; another table
 * over the same stream polls that shard with GetRecords, within the read budget, until the first gives
 * the shard up.
 */
export class EnhancedFanOut {
  readonly consumers: StreamConsumers;
  private readonly subscriptions = new Map<string, { subscription: ShardSubscription; owner: object }>();
  /** Subscriptions released while a read still used them: they end with that read, or at close. */
  private readonly released = new Set<ShardSubscription>();
  private readonly listeners = new Set<(stream: string) => void>();
  private readonly warned = new Set<string>();

  constructor(
    client: KinesisClient,
    /** The HTTP/2 client SubscribeToShard goes through (kinesis/client createSubscriptionClient). */
    private readonly subscribeClient: KinesisClient,
    private readonly options: EnhancedFanOutOptions,
  ) {
    this.consumers = new StreamConsumers(client, { name: options.consumerName, retry: options.retry, logger: options.logger });
  }

  /** Called with the stream's name whenever a subscription received records or its shard ended. */
  onActivity(listener: (stream: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The subscription `owner` reads the shard through, or undefined when another table holds it. */
  subscriptionFor(owner: object, stream: string, shardId: string, stats: ShardReaderStats): ShardSubscription | undefined {
    const key = `${stream}\u0000${shardId}`;
    const held = this.subscriptions.get(key);
    if (held && held.owner !== owner && Date.now() - held.subscription.lastReadAt < IDLE_OWNER_MS) {
      if (!this.warned.has(key)) {
        this.warned.add(key);
        this.options.logger.warn({ stream, shard: shardId }, 'several tables read this stream: one is served by the subscription, the others poll');
      }
      return undefined;
    }
    if (held) {
      held.owner = owner;
      held.subscription.stats = stats;
      return held.subscription;
    }
    const subscription = new ShardSubscription(
      stream,
      shardId,
      {
        consumers: this.consumers,
        client: this.subscribeClient,
        retry: this.options.retry,
        renewAfterMs: this.options.renewAfterMs ?? RENEW_AFTER_MS,
        maxBufferedRecords: this.options.maxBufferedRecords ?? 20_000,
        onActivity: () => {
          for (const listener of this.listeners) listener(stream);
        },
        logger: this.options.logger,
      },
      stats,
    );
    this.subscriptions.set(key, { subscription, owner });
    return subscription;
  }

  /** Ends the shard's subscription when `owner` holds it, as soon as the reads under way through it are done. */
  release(owner: object, stream: string, shardId: string): void {
    const key = `${stream}\u0000${shardId}`;
    const held = this.subscriptions.get(key);
    if (held?.owner !== owner) return;
    this.subscriptions.delete(key);
    held.subscription.release();
    for (const released of this.released) if (released.stoppedForGood) this.released.delete(released);
    if (!held.subscription.stoppedForGood) this.released.add(held.subscription);
  }

  /** Ends every subscription; deregisters the consumers when configured to. */
  async close(): Promise<void> {
    for (const { subscription } of this.subscriptions.values()) subscription.stop();
    for (const subscription of this.released) subscription.stop();
    this.released.clear();
    this.subscriptions.clear();
    this.subscribeClient.destroy();
    if (this.options.deregisterOnExit) await this.consumers.deregisterAll();
  }
}
