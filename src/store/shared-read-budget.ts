/**
 * The GetRecords budget of every kinesql server on one engine together: a token bucket per stream shard kept
 * in the engine (refilled at share × 5 calls per second up to a small burst), taken one call at a time by
 * whichever server reads. The engine's clock times the refill, so servers' clocks do not matter.
 */
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import { STATE_SCHEMA } from '../engine/roles.js';
import type { SharedCallBudget } from '../kinesis/rate-budget.js';

const BUDGET = `${STATE_SCHEMA}.shard_read_budget`;

export async function createSharedBudgetTable(engine: Engine): Promise<void> {
  await engine.exec(
    `CREATE TABLE IF NOT EXISTS ${BUDGET} (stream text NOT NULL, shard_id text NOT NULL, tokens float8 NOT NULL,
       refilled_at timestamptz NOT NULL, PRIMARY KEY (stream, shard_id))`,
  );
}

function keyOf(stream: string, shardId: string): string {
  return `${stream}\u0000${shardId}`;
}

export class EngineReadBudget implements SharedCallBudget {
  /** Per shard, whether its bucket was full at the last look. */
  private fullAtLastLook = new Map<string, boolean>();

  constructor(
    private readonly engine: Engine,
    readonly callsPerSecond: number,
    readonly burst: number,
    private readonly logger: Logger,
  ) {}

  async take(stream: string, shardId: string): Promise<number> {
    // The bucket as of now, in one statement under the row's lock: a call is booked only when a token is
    // there. It does not wait for the disk (nor flush the loads' asynchronous commits before it): an engine
    // crash gives back at most the tokens booked in its last moments.
    const { rows } = await this.engine.transaction(
      (tx) =>
        tx.query(
          `WITH clock AS (SELECT clock_timestamp() AS now)
       INSERT INTO ${BUDGET} AS b (stream, shard_id, tokens, refilled_at) SELECT $1, $2, $4::float8 - 1, now FROM clock
       ON CONFLICT (stream, shard_id) DO UPDATE
         SET tokens = least($4::float8, b.tokens + extract(epoch FROM (SELECT now FROM clock) - b.refilled_at) * $3::float8) - 1,
             refilled_at = (SELECT now FROM clock)
         WHERE least($4::float8, b.tokens + extract(epoch FROM (SELECT now FROM clock) - b.refilled_at) * $3::float8) >= 1
       RETURNING tokens`,
          [stream, shardId, this.callsPerSecond, this.burst],
        ),
      { asynchronousCommit: true },
    );
    if (rows.length > 0) {
      this.fullAtLastLook.set(keyOf(stream, shardId), false);
      return 0;
    }
    const { rows: now } = await this.engine.query(
      `SELECT least($4::float8, tokens + extract(epoch FROM clock_timestamp() - refilled_at) * $3::float8) AS tokens
         FROM ${BUDGET} WHERE stream = $1 AND shard_id = $2`,
      [stream, shardId, this.callsPerSecond, this.burst],
    );
    const tokens = now[0] ? Number(now[0]['tokens']) : this.burst;
    return tokens >= 1 ? 1 : ((1 - tokens) * 1000) / this.callsPerSecond;
  }

  full(stream: string, shardId: string): boolean {
    return this.fullAtLastLook.get(keyOf(stream, shardId)) ?? true;
  }

  async look(): Promise<void> {
    try {
      const { rows } = await this.engine.query(
        `SELECT stream, shard_id, least($2::float8, tokens + extract(epoch FROM clock_timestamp() - refilled_at) * $1::float8) >= $2::float8 AS full
           FROM ${BUDGET}`,
        [this.callsPerSecond, this.burst],
      );
      const looked = new Map<string, boolean>();
      for (const row of rows) looked.set(keyOf(String(row['stream']), String(row['shard_id'])), row['full'] === true);
      this.fullAtLastLook = looked;
    } catch (error) {
      // Nothing counts as spare while the engine cannot be asked: the follower waits.
      this.logger.debug({ err: error }, 'could not look at the shared read budget');
      for (const key of this.fullAtLastLook.keys()) this.fullAtLastLook.set(key, false);
    }
  }
}
