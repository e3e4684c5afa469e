/**
 * Removes a distributed (Citus) stream table's expired partitions. Citus refuses `DETACH PARTITION …
 * CONCURRENTLY` and `… FINALIZE` on a distributed table (XX000), so the path of partition-detach.ts is closed
 * there. Instead one short transaction takes the table and its partitions to itself without ever waiting in the
 * lock queue (ddl-locks.ts: NOWAIT, asked again every 20 ms for a moment) and drops each expired partition,
 * which drops its shards on every worker in the same transaction. While statements or loads keep the table held
 * (a session idle in a transaction that read it), the attempt gives up and the next eviction tries again; no
 * reader waits behind an attempt, only, for the moment the drop itself takes, behind a drop that got the table.
 */
import type { Engine } from '../engine/engine.js';
import { qualifiedName, type TableName } from '../pg/quoting.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import { lockTablesWithoutQueueing } from './ddl-locks.js';
import { detachLockKey, type DetachOutcome } from './partition-detach.js';
import { listPartitions, lockPartitions } from './time-partitions.js';

/** Waits for kinesql's own locks (another server adding a partition) are short: a moment only. */
const BRIEF_LOCK_TIMEOUT_MS = 1_000;

/** Drops parent's partitions that end at or before `before` (their rows already given up by evictBefore). */
export async function dropExpiredDistributedPartitions(engine: Engine, parent: TableName, before: Date | undefined): Promise<DetachOutcome> {
  if (!before) return { dropped: [], unfinished: false };
  try {
    return await engine.transaction(
      async (tx) => {
        const { rows } = await tx.query('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS mine', [detachLockKey(parent)]);
        if (rows[0]?.['mine'] !== true) return { dropped: [], unfinished: true };
        await lockPartitions(tx, parent);
        const expired = (await listPartitions(tx, parent)).filter((partition) => partition.to <= before);
        if (expired.length === 0) return { dropped: [], unfinished: false };
        await lockTablesWithoutQueueing(tx, [parent]);
        const dropped: string[] = [];
        for (const partition of expired) {
          const name = qualifiedName(partition.table);
          await tx.query(`DROP TABLE ${name}`);
          dropped.push(name);
        }
        return { dropped, unfinished: false };
      },
      { lockTimeoutMs: BRIEF_LOCK_TIMEOUT_MS },
    );
  } catch (error) {
    if ((error as { code?: string }).code === SQLSTATE.lockNotAvailable) return { dropped: [], unfinished: true };
    throw error;
  }
}
