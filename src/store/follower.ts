import type { Logger } from 'pino';
import type { StreamStore } from './stream-store.js';
import type { StreamTable } from './stream-table.js';

/** GetRecords calls Kinesis allows per shard and second, shared by every consumer of the stream. */
const CALLS_PER_SHARD_SECOND = 5;

/**
 * Keeps every stream table read in the background while kinesql serves, so a statement usually finds its
 * shards read to their tips already (and, with kinesql.max_staleness, needs no read at all). Each round
 * costs at least one GetRecords call per shard; rounds are spaced so the follower uses `share` of the
 * per-shard call budget at most, leaving the rest to statements and to the stream's other consumers.
 */
export class Follower {
  private timer: NodeJS.Timeout | undefined;
  private readonly running = new Map<StreamTable, Promise<void>>();
  private readonly failing = new Set<StreamTable>();
  private stopped = false;
  readonly intervalMs: number;

  constructor(
    private readonly store: StreamStore,
    share: number,
    private readonly logger: Logger,
  ) {
    this.intervalMs = Math.ceil(1000 / (CALLS_PER_SHARD_SECOND * share));
  }

  start(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.round();
      this.schedule();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Starts a catch-up of every table that has none of the follower's running. */
  private round(): void {
    for (const table of this.store.list()) {
      if (this.running.has(table)) continue;
      const catchingUp = this.store
        .catchUp([table], { stopAt: new Date() })
        .then(
          () => {
            if (this.failing.delete(table)) this.logger.info({ stream: table.definition.streamName }, 'follower reads the stream again');
          },
          (error: unknown) => {
            // Logged once per failing spell; kinesql.streams and /readyz show the error meanwhile.
            if (!this.failing.has(table)) this.logger.warn({ err: error, stream: table.definition.streamName }, 'follower could not read the stream');
            this.failing.add(table);
          },
        )
        .finally(() => this.running.delete(table));
      this.running.set(table, catchingUp);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.all(this.running.values());
  }
}
