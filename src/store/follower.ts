import type { Logger } from 'pino';
import type { EnhancedFanOut } from '../kinesis/enhanced-fan-out.js';
import type { ShardRateBudget } from '../kinesis/rate-budget.js';
import type { ShardLeases } from './shard-leases.js';
import type { StreamStore } from './stream-store.js';
import type { StreamTable } from './stream-table.js';

/** GetRecords calls Kinesis allows per shard and second, shared by every consumer of the stream. */
const CALLS_PER_SHARD_SECOND = 5;
/** With enhanced fan-out, rounds only find new shards and start subscriptions: they cost no GetRecords. */
const FAN_OUT_ROUND_MS = 1_000;
/** Polling, the follower looks this many times per call interval whether a table's shards have a call to spare. */
const LOOKS_PER_INTERVAL = 4;
const MIN_LOOK_MS = 50;

export interface FollowerOptions {
  /**
   * kinesis.read-budget-share: without a budget, rounds are spaced so polling uses this share of the per-shard
   * calls; with one, the follower looks a few times per call interval whether the budget has a call to spare.
   */
  share: number;
  /** kinesis.consumer-mode = efo: a table is caught up as soon as its subscriptions deliver records. */
  subscriptions?: EnhancedFanOut;
  /**
   * The budget statements and follower share (polling): the follower reads a table only when each of its
   * shards has a call to spare, so a strict statement's read of the tip starts at once.
   */
  budget?: ShardRateBudget;
  /** Servers on one engine dividing the shards: this one follows only the shards whose leases it holds. */
  leases?: ShardLeases;
}

/**
 * Keeps every stream table read in the background while kinesql serves, so a statement usually finds its
 * shards read to their tips already (and, with kinesql.max_staleness, needs no read at all). Polling, each
 * catch-up costs at least one GetRecords call per shard, taken from the budget statements use too (at
 * `share` of Kinesis's calls); the follower yields to statements: it reads a table only when every shard
 * of it has a call to spare (its bucket is full), so statements reading the tips themselves leave it idle
 * and a statement always finds a call for its own read. With enhanced fan-out, records arriving by
 * subscription wake the follower, which loads them at once.
 */
export class Follower {
  private timer: NodeJS.Timeout | undefined;
  private readonly running = new Map<StreamTable, Promise<void>>();
  /** Tables woken while their catch-up ran: caught up again when it ends. */
  private readonly again = new Set<StreamTable>();
  private readonly failing = new Set<StreamTable>();
  private stopped = false;
  private readonly unsubscribe: (() => void)[] = [];
  readonly intervalMs: number;

  constructor(
    private readonly store: StreamStore,
    private readonly options: FollowerOptions,
    private readonly logger: Logger,
  ) {
    const callIntervalMs = Math.ceil(1000 / (CALLS_PER_SHARD_SECOND * (options.share > 0 ? options.share : 1)));
    this.intervalMs = options.subscriptions
      ? FAN_OUT_ROUND_MS
      : options.budget
        ? Math.max(MIN_LOOK_MS, Math.floor(callIntervalMs / LOOKS_PER_INTERVAL))
        : callIntervalMs;
  }

  start(): void {
    const { subscriptions, leases } = this.options;
    if (subscriptions) this.unsubscribe.push(subscriptions.onActivity((stream) => this.wake(stream)));
    // A lease gone to another server: its subscription ends now, before the new holder subscribes.
    if (subscriptions && leases) this.unsubscribe.push(leases.onRound(() => this.releaseSubscriptions()));
    this.schedule();
  }

  private releaseSubscriptions(): void {
    for (const table of this.store.list()) table.releaseSubscriptions();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.round().finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Starts a catch-up of every table that has none of the follower's running and a call to spare on each shard it follows. */
  private async round(): Promise<void> {
    const leases = this.options.leases;
    if (leases && this.store.list().some((table) => !this.running.has(table))) await this.options.budget?.lookAtShared();
    // Leases that ran out without a round (the engine out of reach) end their subscriptions too.
    if (leases && this.options.subscriptions) this.releaseSubscriptions();
    for (const table of this.store.list()) {
      const followed = this.followedShards(table);
      if (this.hasSpareCalls(table, followed && new Set(followed))) this.follow(table, followed);
    }
  }

  /** The shards of the table this server follows: all (undefined) without leases, else those whose leases it holds. */
  private followedShards(table: StreamTable): string[] | undefined {
    const leases = this.options.leases;
    if (!leases) return undefined;
    return table.shardStatus().length === 0 ? [] : leases.ownedShards(table);
  }

  private hasSpareCalls(table: StreamTable, followed: Set<string> | undefined): boolean {
    const budget = this.options.budget;
    if (!budget || this.options.subscriptions) return true;
    const stream = table.definition.streamName;
    return table
      .shardStatus()
      .filter((shard) => shard.state !== 'closed, read to its end' && (followed === undefined || followed.has(shard.shardId)))
      .every((shard) => budget.spare(stream, shard.shardId));
  }

  /** A subscription of the stream delivered records: load them now, not at the next round. */
  private wake(stream: string): void {
    for (const table of this.store.list()) {
      if (table.definition.streamName !== stream) continue;
      if (this.running.has(table)) this.again.add(table);
      else this.follow(table, this.followedShards(table));
    }
  }

  /** Catches the table up in the background: only `shardIds` when given (the shards whose leases this server holds). */
  private follow(table: StreamTable, shardIds: string[] | undefined): void {
    if (this.stopped || this.running.has(table)) return;
    // A table not listed yet is caught up with no shard: listed (no GetRecords), so that its shards get leases.
    if (shardIds?.length === 0 && table.shardStatus().length > 0) return;
    const bounds = shardIds === undefined ? {} : { boundsFor: () => ({ shardIds }) };
    const catchingUp = this.store
      .catchUp([table], { stopAt: new Date(), background: true, ...bounds })
      .then(
        () => {
          if (this.failing.delete(table)) this.logger.info({ stream: table.definition.streamName }, 'follower reads the stream again');
        },
        (error: unknown) => {
          if (this.stopped) return;
          // Logged once per failing spell; kinesql.streams and /readyz show the error meanwhile.
          if (!this.failing.has(table)) this.logger.warn({ err: error, stream: table.definition.streamName }, 'follower could not read the stream');
          this.failing.add(table);
        },
      )
      .finally(() => {
        this.running.delete(table);
        if (this.again.delete(table)) this.follow(table, this.followedShards(table));
      });
    this.running.set(table, catchingUp);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    await Promise.all(this.running.values());
  }
}
