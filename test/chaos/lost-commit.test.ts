import pg from 'pg';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import { createKinesisClient } from '../../src/kinesis/client.js';
import { checkExactness } from '../support/exactness.js';
import { startHarness, type Harness } from '../support/harness.js';
import { KEY_COUNTER_GAPS_SQL, KEYED_ORDERS_DEFINITION, keyedRecords } from '../support/keyed-orders.js';

/**
 * The embedded engine loses commits kinesql saw succeed: batches commit without waiting for the disk, the
 * WAL writer stalls (SIGSTOP, as in an I/O stall) so none of them reaches it, and then one backend is killed
 * with SIGKILL, which makes the postmaster reset every process and recover from the WAL on disk. Records
 * keep arriving and the follower keeps loading them throughout; afterwards SQL must show every record of the
 * stream exactly once, in order.
 */
const KEYS = 12;
const RECORDS_PER_ROUND = 25;
const ROUND_MS = 50;
const STALL_MS = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the engine loses acknowledged commits in a crash', () => {
  let harness: Harness;
  let admin: () => Promise<pg.Client>;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'orders', shards: 3 }],
      definitions: { 'orders.json': KEYED_ORDERS_DEFINITION },
      // The follower loads what arrives every few hundred milliseconds, as in production.
      configure: (config) => ({ ...config, scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0.5 } }),
    });
    const endpoint = harness.server.engine.endpoint;
    admin = async () => {
      const client = new pg.Client({ host: endpoint.host, port: endpoint.port, user: endpoint.user, password: endpoint.password, database: endpoint.database });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    };
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
  });

  /** Each shard's stored position, as the engine holds it now. */
  const storedPositions = async (): Promise<Map<string, bigint>> => {
    const client = await admin();
    try {
      const { rows } = await client.query('select shard_id, last_sequence from kinesql_state.shard_positions where last_sequence is not null');
      return new Map(rows.map((row: { shard_id: string; last_sequence: string }) => [row.shard_id, BigInt(row.last_sequence)]));
    } finally {
      await client.end();
    }
  };

  it('shows every record exactly once and in order after a WAL writer stall and a backend killed with SIGKILL', async () => {
    const writerClient = createKinesisClient(harness.config.aws);
    let writing = true;
    let put = 0;
    const writer = (async () => {
      const nextSeq = new Array<number>(KEYS).fill(0);
      for (let round = 0; writing; round++) {
        const records = keyedRecords(round, RECORDS_PER_ROUND, nextSeq);
        const answer = await writerClient.send(new PutRecordsCommand({ StreamName: 'orders', Records: records }));
        if (answer.FailedRecordCount) throw new Error(`${answer.FailedRecordCount} records were not put`);
        put += records.length;
        await sleep(ROUND_MS);
      }
    })().finally(() => writerClient.destroy());

    try {
      await sleep(2_000);
      const killer = await admin();
      const { rows } = await killer.query(`select pid from pg_stat_activity where backend_type = 'walwriter'`);
      const walWriter = Number(rows[0]?.pid);
      expect(walWriter).toBeGreaterThan(0);
      const victim = Number((await killer.query('select pg_backend_pid() as pid')).rows[0]?.pid);

      process.kill(walWriter, 'SIGSTOP');
      let before = new Map<string, bigint>();
      let acknowledged = new Map<string, bigint>();
      let inserted = '';
      try {
        before = await storedPositions();
        await sleep(STALL_MS);
        acknowledged = await storedPositions();
        inserted = String((await killer.query('select pg_current_wal_insert_lsn()::text as lsn')).rows[0]?.lsn);
        process.kill(victim, 'SIGKILL');
      } finally {
        // The postmaster has told it to quit; it does so once it runs again, without writing the WAL out.
        process.kill(walWriter, 'SIGCONT');
      }
      await killer.end().catch(() => undefined);
      const faultEnded = performance.now();

      // Served again: a strict count through kinesql answers once the engine has recovered.
      let servedAfterMs: number | undefined;
      while (servedAfterMs === undefined) {
        const client = new pg.Client(harness.connection);
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.query('select count(*) from orders');
          servedAfterMs = performance.now() - faultEnded;
        } catch {
          await sleep(100);
        } finally {
          await client.end().catch(() => undefined);
        }
      }

      // The fault did what it is for: batches committed during the stall, and the engine's crash recovery
      // ended (its end-of-recovery checkpoint) before the WAL they were written to.
      expect([...acknowledged].some(([shard, last]) => last !== before.get(shard))).toBe(true);
      const check = await admin();
      try {
        const { rows: recovery } = await check.query('select checkpoint_lsn < $1::pg_lsn as lost from pg_control_checkpoint()', [inserted]);
        expect(recovery[0]?.lost).toBe(true);
      } finally {
        await check.end();
      }

      await sleep(2_000);
      writing = false;
      await writer;

      const client = await harness.connect();
      try {
        // A strict statement reads every shard to its tip as of its start: everything put is in.
        const { rows: counted } = await client.query('select count(*)::int as n from orders');
        expect(counted[0]?.n).toBe(put);
        const exactness = await checkExactness(harness.kinesis, 'orders', client, 'orders');
        expect(exactness).toMatchObject({ records: put, rows: put, lost: [], duplicated: [], unknown: [], outOfOrderShards: [], outOfOrderKeys: [] });
        // The writer's own per-key counter has no gap and no repeat in the stream's order.
        const gaps = await client.query(KEY_COUNTER_GAPS_SQL);
        expect(gaps.rows).toEqual([]);
      } finally {
        await client.end();
      }
      expect(servedAfterMs).toBeLessThan(10_000);
      process.stdout.write(`lost-commit fault: ${put} records exact, served again ${Math.round(servedAfterMs)} ms after the fault\n`);
    } finally {
      writing = false;
      await writer.catch(() => undefined);
    }
  }, 180_000);
});
