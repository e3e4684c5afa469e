import { sleep } from './retry.js';

/** Kinesis read limits per shard. */
export const CALLS_PER_SECOND = 5;
export const BYTES_PER_SECOND = 2 * 1024 * 1024;
/**
 * Calls a shard's budget lets start at once after a quiet spell, when its rate is a share of Kinesis's: a
 * statement then finds a call free instead of waiting for the next one the rate allows. At the whole rate
 * the burst is the rate itself (Kinesis's own 5 calls in any second).
 */
export const READ_BURST = 2;

/**
 * A budget of calls per shard that several kinesql servers share (kept in their engine): the rate every
 * server's calls together keep to. A server's own bucket then only spaces its calls within Kinesis's limits.
 */
export interface SharedCallBudget {
  /** Books one call of the shard when the shared bucket has one now (0); otherwise the ms until it will have. */
  take(stream: string, shardId: string): Promise<number>;
  /** Whether the shard's shared bucket was full when last looked at (see look). */
  full(stream: string, shardId: string): boolean;
  /** Looks at every shared bucket once (a background reader asks `spare` right after). */
  look(): Promise<void>;
}

/** The burst of a bucket refilled at callsPerSecond: READ_BURST, or the rate itself up to Kinesis's 5. */
export function burstFor(callsPerSecond: number): number {
  return Math.max(READ_BURST, Math.floor(Math.min(callsPerSecond, CALLS_PER_SECOND)));
}

interface ShardBudget {
  /** Calls the shard may start now, as of refilledAt (a token bucket: it refills at the budget's rate up to its burst). */
  tokens: number;
  refilledAt: number;
  /** Start times of the calls in the last second, oldest first (never more than Kinesis's 5). */
  recentCalls: number[];
  /** When the bytes already read are paid off at BYTES_PER_SECOND. */
  bytesPaidAt: number;
  /** Callers waiting for this shard, so that they take turns in arrival order. */
  queue: Promise<void>;
  waiting: number;
}

/**
 * The per-shard read budget of the whole process: a token bucket per shard (refilled at callsPerSecond, up
 * to a small burst), never more than Kinesis's 5 calls in any second, and 2 MB/s, whoever asks (statements,
 * background catch-ups, several tables over one stream). Over any T seconds a shard gets at most
 * callsPerSecond × T + burst calls. One instance is shared by every reader (`processRateBudget`); tests
 * make their own. A server with the follower on makes one at `kinesis.read-budget-share` of the calls,
 * so statements and follower together stay within the share; the follower takes a call only when the
 * bucket is full (`spare`), so a statement finds one free.
 */
export class ShardRateBudget {
  private readonly shards = new Map<string, ShardBudget>();
  readonly burst: number;

  constructor(
    readonly callsPerSecond = CALLS_PER_SECOND,
    private readonly bytesPerSecond = BYTES_PER_SECOND,
    /** Extra pause between calls of one shard (the Trino connector's kinesis.sleep-time). */
    private readonly minIntervalMs = 0,
    burst?: number,
    /** Servers on one engine: the rate and burst are kept there, for all of them together. */
    private readonly shared?: SharedCallBudget,
  ) {
    if (!(callsPerSecond > 0)) throw new RangeError(`a read budget needs a positive call rate, not ${callsPerSecond}`);
    this.burst = Math.max(1, burst ?? burstFor(callsPerSecond));
  }

  /** Waits until the shard may be called again and books the call. */
  acquire(stream: string, shardId: string): Promise<void> {
    const budget = this.budgetOf(stream, shardId);
    budget.waiting += 1;
    const turn = budget.queue.then(async () => {
      for (;;) {
        const now = Date.now();
        this.refill(budget, now);
        while (budget.recentCalls.length > 0 && budget.recentCalls[0]! <= now - 1000) budget.recentCalls.shift();
        const byTokens = budget.tokens >= 1 ? now : now + ((1 - budget.tokens) * 1000) / this.callsPerSecond;
        const byKinesis = budget.recentCalls.length >= CALLS_PER_SECOND ? budget.recentCalls[0]! + 1000 : now;
        const last = budget.recentCalls.at(-1);
        const byInterval = last === undefined ? now : last + this.minIntervalMs;
        const readyAt = Math.max(this.shared ? now : byTokens, byKinesis, byInterval, budget.bytesPaidAt);
        if (readyAt <= now) {
          const sharedWaitMs = this.shared ? await this.shared.take(stream, shardId) : 0;
          if (sharedWaitMs <= 0) {
            budget.tokens -= 1;
            budget.recentCalls.push(Date.now());
            return;
          }
          await sleep(Math.max(1, Math.ceil(sharedWaitMs)));
          continue;
        }
        await sleep(Math.max(1, Math.ceil(readyAt - now)));
      }
    });
    const settled = turn.finally(() => (budget.waiting -= 1));
    budget.queue = settled.catch(() => undefined);
    return settled;
  }

  /**
   * Whether the shard's bucket is full and nobody waits for it: a background read taken now still leaves
   * the burst's other calls to statements.
   */
  spare(stream: string, shardId: string): boolean {
    const budget = this.budgetOf(stream, shardId);
    const now = Date.now();
    this.refill(budget, now);
    const full = this.shared ? this.shared.full(stream, shardId) : budget.tokens >= this.burst;
    return budget.waiting === 0 && full && budget.bytesPaidAt <= now;
  }

  /** Looks at the shared buckets, when there are any, so that `spare` answers for every server on the engine. */
  async lookAtShared(): Promise<void> {
    await this.shared?.look();
  }

  /** Books the bytes a call returned; the shard's next call waits until they are paid off. */
  spend(stream: string, shardId: string, bytes: number): void {
    const budget = this.budgetOf(stream, shardId);
    budget.bytesPaidAt = Math.max(budget.bytesPaidAt, Date.now()) + (bytes / this.bytesPerSecond) * 1000;
  }

  private refill(budget: ShardBudget, now: number): void {
    if (now <= budget.refilledAt) return;
    budget.tokens = Math.min(this.burst, budget.tokens + ((now - budget.refilledAt) * this.callsPerSecond) / 1000);
    budget.refilledAt = now;
  }

  private budgetOf(stream: string, shardId: string): ShardBudget {
    const key = `${stream}\u0000${shardId}`;
    let budget = this.shards.get(key);
    if (!budget) {
      budget = { tokens: this.burst, refilledAt: Date.now(), recentCalls: [], bytesPaidAt: 0, queue: Promise.resolve(), waiting: 0 };
      this.shards.set(key, budget);
    }
    return budget;
  }
}

/** The budget every reader of this process shares unless given another. */
export const processRateBudget = new ShardRateBudget();
