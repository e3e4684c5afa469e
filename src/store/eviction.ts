import type { Engine, EngineTransaction } from '../engine/engine.js';
import { qualifiedName, quoteLiteral, type TableName } from '../pg/quoting.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import { laterTime } from './loaded-range.js';
import type { ShardState } from './shard-loader.js';
import { listPartitions, lockPartitions, type TimePartitions } from './time-partitions.js';

/**
 * Deleting rows (a table not partitioned) conflicts with no reader; what may hold it up is another kinesql
 * server's eviction of the same table. Eviction gives up after this long and tries again later.
 */
const EVICTION_LOCK_TIMEOUT_MS = 200;

/** What an eviction removes: everything before `held`, and per shard the last sequence number removed. */
interface Evicted {
  held: Date;
  lastEvicted: Map<string, string>;
  /** Removes it (in the eviction's transaction), or gives it up to be removed after the commit. */
  remove(): Promise<void>;
}

/**
 * Evicts a table's rows from before its window: moves each shard's loaded range and counts to what is still
 * held, its position saved in one transaction, together with the removal of the rows themselves (a table
 * not partitioned). Whole partitions that end at or before windowStart are given up instead: no statement
 * sees them (the row policy shows each its window), and they are detached and dropped after the commit
 * without waiting for the readers that hold the table (partition-detach.ts). Returns the start of what is
 * held when anything was evicted; undefined when nothing was (or the table was busy: see above).
 */
export async function evictBefore(
  engine: Engine,
  table: TableName,
  windowStart: Date,
  shards: ReadonlyMap<string, ShardState>,
  save: (tx: EngineTransaction, shard: ShardState) => Promise<void>,
  partitions: TimePartitions | undefined,
): Promise<Date | undefined> {
  const tableName = qualifiedName(table);
  return engine
    .transaction(
      async (tx) => {
        const evicted = partitions ? await dropPartitionsBefore(tx, table, windowStart, partitions) : await deleteRowsBefore(tx, table, windowStart);
        if (!evicted) return undefined;
        const { held, lastEvicted } = evicted;
        const remainingRows = await tx.query(
          `SELECT _shard_id AS shard, min(_shard_sequence_id::numeric)::text AS first, min(_message_timestamp) AS first_arrival,
                  count(*)::int AS rows, (count(*) FILTER (WHERE NOT _message_valid))::int AS invalid, coalesce(sum(_message_length), 0)::float8 AS bytes
             FROM ${tableName} WHERE _message_timestamp >= ${quoteLiteral(held.toISOString())}::timestamptz GROUP BY 1`,
        );
        await evicted.remove();
        const remaining = new Map(remainingRows.rows.map((row) => [String(row['shard']), row]));
        for (const [shardId, shard] of shards) {
          const range = shard.range;
          if (!range || !lastEvicted.has(shardId)) continue;
          const row = remaining.get(shardId);
          range.lower =
            range.lower.kind === 'sequence'
              ? { kind: 'sequence', sequenceNumber: lastEvicted.get(shardId)!, inclusive: false }
              : laterTime(held, range.lower.kind === 'time' ? range.lower.at : undefined);
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
        return held;
      },
      { lockTimeoutMs: EVICTION_LOCK_TIMEOUT_MS },
    )
    .catch((error: unknown) => {
      if ((error as { code?: string }).code === SQLSTATE.lockNotAvailable) return undefined;
      throw error;
    });
}

function lastSequencesBefore(tx: EngineTransaction, tableName: string, held: Date): Promise<Map<string, string>> {
  return tx
    .query(
      `SELECT _shard_id AS shard, max(_shard_sequence_id::numeric)::text AS last FROM ${tableName}
        WHERE _message_timestamp < ${quoteLiteral(held.toISOString())}::timestamptz GROUP BY 1`,
    )
    .then(({ rows }) => new Map(rows.map((row) => [String(row['shard']), String(row['last'])])));
}

async function dropPartitionsBefore(tx: EngineTransaction, table: TableName, windowStart: Date, partitions: TimePartitions): Promise<Evicted | undefined> {
  await lockPartitions(tx, table);
  const expired = (await listPartitions(tx, table)).filter((partition) => partition.to <= windowStart);
  if (expired.length === 0) return undefined;
  // Partitions are aligned to their width, so everything before the last expired one's end is in them.
  const held = new Date(Math.max(...expired.map((partition) => partition.to.getTime())));
  const lastEvicted = await lastSequencesBefore(tx, qualifiedName(table), held);
  const remove = async (): Promise<void> => {
    partitions.dropped(expired);
  };
  return { held, lastEvicted, remove };
}

async function deleteRowsBefore(tx: EngineTransaction, table: TableName, windowStart: Date): Promise<Evicted | undefined> {
  const tableName = qualifiedName(table);
  const lastEvicted = await lastSequencesBefore(tx, tableName, windowStart);
  if (lastEvicted.size === 0) return undefined;
  const remove = async (): Promise<void> => {
    await tx.query(`DELETE FROM ${tableName} WHERE _message_timestamp < ${quoteLiteral(windowStart.toISOString())}::timestamptz`);
  };
  return { held: windowStart, lastEvicted, remove };
}
