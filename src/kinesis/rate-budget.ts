import { sleep } from './retry.js';

/** Kinesis read limits per shard. */
export const CALLS_PER_SECOND = 5;
export const BYTES_PER_SECOND = 2 * 1024 * 1024;

interface ShardBudget {
  /** Start times of the calls in the last second, oldest first. */
  recentCalls: number[];
  /** When the bytes already read are paid off at BYTES_PER_SECOND. */
  bytesPaidAt: number;
  /** Callers waiting for this shard, so that they take turns in arrival order. */
  queue: Promise<void>;
}

/**
 * The per-shard read budget of the whole process: at most 5 GetRecords calls in any second and 2 MB/s,
 * whoever asks (statements, background catch-ups, several tables over one stream). One instance is
 * shared by every reader (`processRateBudget`); tests make their own. A server with the follower on
 * makes one at `kinesis.read-budget-share` of the calls, so statements and follower together stay
 * within the share. A rate below one call a second means one call per 1/rate seconds.
 */
export class ShardRateBudget {
  private readonly shards = new Map<string, ShardBudget>();
  /** At most callsPerWindow calls start within any windowMs. */
  private readonly callsPerWindow: number;
  private readonly windowMs: number;

  constructor(
    callsPerSecond = CALLS_PER_SECOND,
    private readonly bytesPerSecond = BYTES_PER_SECOND,
    /** Extra pause between calls of one shard (the seed's kinesis.sleep-time). */
    private readonly minIntervalMs = 0,
  ) {
    if (!(callsPerSecond > 0)) throw new RangeError(`a read budget needs a positive call rate, not ${callsPerSecond}`);
    this.callsPerWindow = Math.max(1, Math.floor(callsPerSecond));
    this.windowMs = (1000 * this.callsPerWindow) / callsPerSecond;
  }

  /** Calls per second this budget allows each shard. */
  get callsPerSecond(): number {
    return (this.callsPerWindow * 1000) / this.windowMs;
  }

  /** Waits until the shard may be called again and books the call. */
  acquire(stream: string, shardId: string): Promise<void> {
    const budget = this.budgetOf(stream, shardId);
    const turn = budget.queue.then(async () => {
      for (;;) {
        const now = Date.now();
        while (budget.recentCalls.length > 0 && budget.recentCalls[0]! <= now - this.windowMs) budget.recentCalls.shift();
        const last = budget.recentCalls.at(-1);
        const byCount = budget.recentCalls.length >= this.callsPerWindow ? budget.recentCalls[0]! + this.windowMs : now;
        const byInterval = last === undefined ? now : last + this.minIntervalMs;
        const readyAt = Math.max(byCount, byInterval, budget.bytesPaidAt);
        if (readyAt <= now) {
          budget.recentCalls.push(now);
          return;
        }
        await sleep(readyAt - now);
      }
    });
    budget.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Books the bytes a call returned; the shard's next call waits until they are paid off. */
  spend(stream: string, shardId: string, bytes: number): void {
    const budget = this.budgetOf(stream, shardId);
    budget.bytesPaidAt = Math.max(budget.bytesPaidAt, Date.now()) + (bytes / this.bytesPerSecond) * 1000;
  }

  private budgetOf(stream: string, shardId: string): ShardBudget {
    const key = `${stream}\u0000${shardId}`;
    let budget = this.shards.get(key);
    if (!budget) {
      budget = { recentCalls: [], bytesPaidAt: 0, queue: Promise.resolve() };
      this.shards.set(key, budget);
    }
    return budget;
  }
}

/** The budget every reader of this process shares unless given another. */
export const processRateBudget = new ShardRateBudget();
