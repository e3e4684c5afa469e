import type { Engine } from '../engine/engine.js';
import { quoteLiteral } from '../pg/quoting.js';
import type { EngineTransaction } from '../engine/engine.js';
import { laterTime } from './loaded-range.js';
import type { ShardState } from './shard-loader.js';

/**
 * Deletes a table's rows older than windowStart, and moves each shard's loaded range and counts to what is
 * still held, its position saved in the same transaction. Returns whether anything was deleted.
 */
export async function evictBefore(
  engine: Engine,
  tableName: string,
  windowStart: Date,
  shards: ReadonlyMap<string, ShardState>,
  save: (tx: EngineTransaction, shard: ShardState) => Promise<void>,
): Promise<boolean> {
  const cutoff = quoteLiteral(windowStart.toISOString());
  return engine.transaction(async (tx) => {
    const evicted = await tx.query(
      `SELECT _shard_id AS shard, max(_shard_sequence_id::numeric)::text AS last FROM ${tableName} WHERE _message_timestamp < ${cutoff}::timestamptz GROUP BY 1`,
    );
    if (evicted.rows.length === 0) return false;
    await tx.query(`DELETE FROM ${tableName} WHERE _message_timestamp < ${cutoff}::timestamptz`);
    const remainingRows = await tx.query(
      `SELECT _shard_id AS shard, min(_shard_sequence_id::numeric)::text AS first, min(_message_timestamp) AS first_arrival,
              count(*)::int AS rows, (count(*) FILTER (WHERE NOT _message_valid))::int AS invalid, coalesce(sum(_message_length), 0)::float8 AS bytes
         FROM ${tableName} GROUP BY 1`,
    );
    const lastEvicted = new Map(evicted.rows.map((row) => [String(row['shard']), String(row['last'])]));
    const remaining = new Map(remainingRows.rows.map((row) => [String(row['shard']), row]));
    for (const [shardId, shard] of shards) {
      const range = shard.range;
      if (!range || !lastEvicted.has(shardId)) continue;
      const row = remaining.get(shardId);
      range.lower =
        range.lower.kind === 'sequence'
          ? { kind: 'sequence', sequenceNumber: lastEvicted.get(shardId)!, inclusive: false }
          : laterTime(windowStart, range.lower.kind === 'time' ? range.lower.at : undefined);
      if (row) {
        range.firstSequence = String(row['first']);
        range.firstArrival = new Date(row['first_arrival'] as string | Date);
      } else {
        delete range.firstSequence;
        delete range.firstArrival;
      }
      shard.rows = Number(row?.['rows'] ?? 0);
      shard.invalidRows = Number(row?.['invalid'] ?? 0);
      shard.messageBytes = Number(row?.['bytes'] ?? 0);
      await save(tx, shard);
    }
    return true;
  });
}
