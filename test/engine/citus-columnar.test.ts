import { pino } from 'pino';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asSuperuser, citusMissing } from '../support/citus-cluster.js';
import type { StoredPartition } from '../support/columnar-engine.js';
import { checkConversionsUnderReader, startColumnarTicks } from '../support/columnar-conversions.js';
import type { Harness } from '../support/harness.js';

/** kinesql.eviction-interval: the bound within which every closed partition must be columnar. */
const EVICTION_INTERVAL_MS = 20_000;
const PUTS = 6;
const RECORDS_PER_PUT = 400;
const onCitus = process.env['KINESQL_TEST_ENGINE'] === 'citus';
const UNDEFINED_TABLE = '42P01';

/** One shard of a partition, as the worker holding it has it. */
interface WorkerShard {
  partition: string;
  node: number;
  storage: string;
  rows: number;
  bytes: number;
}

describe.skipIf(!onCitus || citusMissing() !== undefined)('closed partitions of a distributed stream table become columnar on the workers', () => {
  let harness: Harness;
  let admin: pg.Client;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const logger = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) });
    harness = await startColumnarTicks({ storage: 'columnar', evictionIntervalMs: EVICTION_INTERVAL_MS, logger });
    admin = new pg.Client({ connectionString: harness.citus!.coordinator.adminUrl });
    await admin.connect();
  }, 120_000);

  afterAll(async () => {
    await admin?.end();
    await harness?.close();
  });

  /**
   * Every shard of the named partitions, read on the worker that holds it: its access method, rows and size.
   * A shard a swap dropped meanwhile (its partition converted since it was listed) is left out.
   */
  const workerShards = async (partitions: readonly StoredPartition[]): Promise<WorkerShard[]> => {
    const { rows } = await admin.query(
      `SELECT s.logicalrelid::text AS partition, shard_name(s.logicalrelid, s.shardid) AS shard, n.nodeport AS node
         FROM pg_dist_shard s JOIN pg_dist_placement p ON p.shardid = s.shardid JOIN pg_dist_node n ON n.groupid = p.groupid
        WHERE s.logicalrelid::text = ANY($1::text[]) ORDER BY 1, 2`,
      [partitions.map((partition) => partition.name)],
    );
    const shards: WorkerShard[] = [];
    for (const worker of harness.citus!.workers) {
      await asSuperuser(worker, async (client) => {
        // Citus hides shards from pg_class for client applications.
        await client.query('SET citus.override_table_visibility = off');
        for (const row of rows.filter((candidate) => Number(candidate['node']) === worker.port)) {
          const shard = String(row['shard']);
          const found = await client
            .query(
              `SELECT a.amname AS storage, pg_total_relation_size(c.oid)::bigint AS bytes, (SELECT count(*) FROM ${shard})::int AS rows
                 FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = $1::regclass`,
              [shard],
            )
            .catch((error: unknown) => {
              if ((error as { code?: string }).code === UNDEFINED_TABLE) return undefined;
              throw error;
            });
          const stored = found?.rows[0];
          if (!stored) continue;
          shards.push({
            partition: String(row['partition']),
            node: worker.port,
            storage: String(stored['storage']),
            rows: Number(stored['rows']),
            bytes: Number(stored['bytes']),
          });
        }
      });
    }
    return shards;
  };

  const bytesOf = (shards: WorkerShard[], partition: string): number =>
    shards.filter((shard) => shard.partition === partition).reduce((sum, shard) => sum + shard.bytes, 0);

  it('converts every closed partition on every worker while a client keeps reading, every answer counting each record once', async () => {
    let shardsBefore: WorkerShard[] = [];
    const { closed, held, swaps, answersDuring } = await checkConversionsUnderReader(harness, admin, logLines, {
      puts: PUTS,
      perPut: RECORDS_PER_PUT,
      boundMs: EVICTION_INTERVAL_MS,
      beforeConversions: async (partitions) => {
        shardsBefore = await workerShards(partitions);
      },
    });

    // On the workers: every shard of each closed partition is columnar, the open partition's heap, and the shards hold the partition's rows.
    const shardsAfter = await workerShards(held);
    expect(new Set(shardsAfter.map((shard) => shard.node)).size).toBe(2);
    for (const partition of held) {
      const shards = shardsAfter.filter((shard) => shard.partition === partition.name);
      expect(shards.length, partition.name).toBeGreaterThanOrEqual(2);
      const storage = closed.some((old) => old.name === partition.name) ? 'columnar' : 'heap';
      expect(shards.map((shard) => `${shard.partition} ${shard.storage}`)).toEqual(shards.map(() => `${partition.name} ${storage}`));
      expect(shards.reduce((sum, shard) => sum + shard.rows, 0)).toBe(partition.rows);
    }

    const seenHeap = closed.filter((old) => shardsBefore.some((shard) => shard.partition === old.name && shard.storage === 'heap'));
    const heapBytes = seenHeap.reduce((sum, old) => sum + bytesOf(shardsBefore, old.name), 0);
    const columnarBytes = seenHeap.reduce((sum, old) => sum + bytesOf(shardsAfter, old.name), 0);
    console.log(
      `swaps (rows/ms/exclusive ms/attempts): ${swaps.map((swap) => `${swap['rows']}/${swap['ms']}/${swap['exclusiveMs']}/${swap['attempts']}`).join(', ')}; ` +
        `on the workers, the ${seenHeap.length} partitions seen heap: ${heapBytes} bytes heap, ${columnarBytes} columnar; reader answers during: ${answersDuring}`,
    );
  }, 150_000);
});
