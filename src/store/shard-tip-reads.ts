/**
 * When each shard of each table was last read to its tip, kept in the engine for every kinesql server on it:
 * a read that found the tip at T has loaded every record that arrived before T (its batches committed
 * before this row was written, so an engine crash that loses the batches loses the row too). A server that
 * does not follow a shard answers its strict statements from the follower's reads found here.
 */
import type { Engine } from '../engine/engine.js';
import { STATE_SCHEMA } from '../engine/roles.js';

const TIP_READS = `${STATE_SCHEMA}.shard_tip_reads`;

export async function createTipReadTable(engine: Engine): Promise<void> {
  await engine.exec(`CREATE TABLE IF NOT EXISTS ${TIP_READS} (table_key text NOT NULL, shard_id text NOT NULL,
       read_to_tip_for timestamptz NOT NULL, PRIMARY KEY (table_key, shard_id))`);
}

export class TipReads {
  constructor(private readonly engine: Engine) {}

  /** Records that the shard was read to its tip for statements started until `at` (never moving it back). */
  async publish(key: string, shardId: string, at: Date): Promise<void> {
    // Like the loads it follows, it does not wait for the disk: a crash that loses it loses them too.
    await this.engine.transaction(
      (tx) =>
        tx.query(
          `INSERT INTO ${TIP_READS} AS t VALUES ($1, $2, $3) ON CONFLICT (table_key, shard_id)
           DO UPDATE SET read_to_tip_for = greatest(t.read_to_tip_for, excluded.read_to_tip_for)`,
          [key, shardId, at.toISOString()],
        ),
      { asynchronousCommit: true },
    );
  }

  /** The latest tip read of each of the table's shards that has one. */
  async latest(key: string): Promise<Map<string, Date>> {
    const { rows } = await this.engine.query(`SELECT shard_id, read_to_tip_for FROM ${TIP_READS} WHERE table_key = $1`, [key]);
    return new Map(rows.map((row) => [String(row['shard_id']), new Date(row['read_to_tip_for'] as string | Date)]));
  }
}
