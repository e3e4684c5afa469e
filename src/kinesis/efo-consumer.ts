import {
  DeregisterStreamConsumerCommand,
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  RegisterStreamConsumerCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { streamParameter } from './client.js';
import { sleep, withRetries, type RetryPolicy } from './retry.js';
import { listShards } from './shard-listing.js';

export interface StreamConsumersOptions {
  /** kinesis.consumer-name: the consumer registered on every stream kinesql subscribes to. */
  name: string;
  retry: RetryPolicy;
  logger: Logger;
  /** A consumer still CREATING after this long (ms) fails the read that waits for it. */
  activeTimeoutMs?: number;
}

interface Registration {
  streamArn: string;
  consumerArn: string;
}

const POLL_STATUS_MS = 250;

/**
 * The enhanced fan-out consumer of each stream: registered once (or found, when a consumer of that name
 * exists already) and waited for until ACTIVE; deregistered at exit only when asked to.
 */
export class StreamConsumers {
  private readonly registrations = new Map<string, Promise<Registration>>();
  private readonly settled = new Map<string, Registration>();
  private readonly closedListings = new Map<string, { at: number; closed: Promise<Set<string>> }>();

  constructor(
    private readonly client: KinesisClient,
    private readonly options: StreamConsumersOptions,
  ) {}

  get name(): string {
    return this.options.name;
  }

  /** The ARN of this stream's consumer, registering it on first use. */
  async consumerArn(stream: string): Promise<string> {
    let registration = this.registrations.get(stream);
    if (!registration) {
      registration = this.register(stream);
      this.registrations.set(stream, registration);
      // A failed registration is tried again by the next read, not remembered.
      registration.then(
        (settled) => this.settled.set(stream, settled),
        () => this.registrations.delete(stream),
      );
    }
    return (await registration).consumerArn;
  }

  /** Forgets a stream's consumer (it was deleted behind kinesql's back): the next subscription registers it again. */
  forget(stream: string): void {
    this.registrations.delete(stream);
    this.settled.delete(stream);
  }

  /**
   * When a listing made at or after `notBefore` showed the shard closed, or undefined while it is open.
   * Real Kinesis ends a closed shard's subscription with its child shards; kinesis-mock never does, so a
   * read at the tip asks a listing made after the statement's start (one serves every shard of the stream).
   */
  async closedSince(stream: string, shardId: string, notBefore: number): Promise<number | undefined> {
    let listing = this.closedListings.get(stream);
    if (!listing || listing.at < notBefore) {
      const at = Date.now();
      const closed = listShards(this.client, stream, this.options.retry).then(
        (shards) => new Set(shards.filter((shard) => shard.endingSequenceNumber !== undefined).map((shard) => shard.shardId)),
      );
      listing = { at, closed };
      this.closedListings.set(stream, listing);
      closed.catch(() => {
        if (this.closedListings.get(stream) === listing) this.closedListings.delete(stream);
      });
    }
    return (await listing.closed).has(shardId) ? listing.at : undefined;
  }

  private async register(stream: string): Promise<Registration> {
    const { name, retry, logger } = this.options;
    const streamArn = stream.startsWith('arn:')
      ? stream
      : (
          await withRetries(retry, `DescribeStreamSummary ${stream}`, (abortSignal) =>
            this.client.send(new DescribeStreamSummaryCommand(streamParameter(stream)), { abortSignal }),
          )
        ).StreamDescriptionSummary!.StreamARN!;
    let consumerArn: string;
    try {
      const answer = await withRetries(retry, `RegisterStreamConsumer ${stream}`, (abortSignal) =>
        this.client.send(new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: name }), { abortSignal }),
      );
      consumerArn = answer.Consumer!.ConsumerARN!;
      logger.info({ stream, consumer: name }, 'registered the enhanced fan-out consumer');
    } catch (error) {
      // Registered before (by an earlier run, or another server): reuse it.
      if ((error as Error).name !== 'ResourceInUseException') throw error;
      consumerArn = (await this.describe(streamArn, name)).arn;
      logger.info({ stream, consumer: name }, 'reusing the enhanced fan-out consumer');
    }
    const deadline = Date.now() + (this.options.activeTimeoutMs ?? 120_000);
    for (;;) {
      const { status, arn } = await this.describe(streamArn, name);
      if (status === 'ACTIVE') return { streamArn, consumerArn: arn ?? consumerArn };
      if (Date.now() > deadline)
        throw new Error(`the consumer ${name} of stream ${stream} is still ${status} after ${this.options.activeTimeoutMs ?? 120_000} ms`);
      await sleep(POLL_STATUS_MS);
    }
  }

  private async describe(streamArn: string, name: string): Promise<{ status: string; arn: string }> {
    const answer = await withRetries(this.options.retry, `DescribeStreamConsumer ${name}`, (abortSignal) =>
      this.client.send(new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: name }), { abortSignal }),
    );
    return { status: answer.ConsumerDescription?.ConsumerStatus ?? 'UNKNOWN', arn: answer.ConsumerDescription!.ConsumerARN! };
  }

  /** Deregisters every consumer this process registered or reused (kinesis.consumer-deregister-on-exit). */
  async deregisterAll(): Promise<void> {
    for (const [stream, registration] of this.settled) {
      try {
        await this.client.send(new DeregisterStreamConsumerCommand({ StreamARN: registration.streamArn, ConsumerName: this.options.name }));
        this.options.logger.info({ stream, consumer: this.options.name }, 'deregistered the enhanced fan-out consumer');
      } catch (error) {
        this.options.logger.warn({ err: error, stream, consumer: this.options.name }, 'could not deregister the enhanced fan-out consumer');
      }
    }
    this.settled.clear();
    this.registrations.clear();
  }
}
