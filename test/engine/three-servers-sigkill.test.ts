import { once } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { createKinesisClient } from '../../src/kinesis/client.js';
import { READ_BURST } from '../../src/kinesis/rate-budget.js';
import { renewIntervalMs } from '../../src/store/shard-leases.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildServer, engineUrlOf, freePort, startChildServer } from '../support/child-server.js';
import { startHarness, type Harness } from '../support/harness.js';
import { KEYED_ORDERS_DEFINITION, keyedRecords } from '../support/keyed-orders.js';
import { countsThatWentBack, expectEveryOrderOnce } from '../support/served-orders.js';
import { FaultProxy } from '../scan/fault-proxy.js';

/**
 * Three kinesql servers on one engine: this test's own (which runs the embedded engine) and two child
 * processes, all reading the Kinesis stand-in through a proxy that counts GetRecords calls per shard. They
 * divide the shards by leases in the engine and share one read budget. A writer puts records while 30
 * clients, spread over the three, count them with strict statements; one child is killed with SIGKILL
 * part-way and started again.
 */
const KEYS = 10;
const CLIENTS = 30;
const SHARDS = 4;
const WRITE_ROUNDS = 60;
const RECORDS_PER_ROUND = 20;
const KILL_AT_ROUND = 20;
/** Between writer rounds: the run lasts well over the 10 s the budget is counted over. */
const ROUND_PAUSE_MS = 250;
const SHARE = 0.2;
const LEASE_MS = 3_000;
const BUDGET_WINDOW_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('three kinesql servers on one engine, one killed with SIGKILL mid-way', () => {
  let harness: Harness;
  let engineUrl: string;
  let propertiesFile: string;
  const proxy = new FaultProxy();
  const children: ChildServer[] = [];

  const startChild = (port: number): Promise<ChildServer> =>
    startChildServer({ port, tablesDir: harness.tablesDir, kinesisEndpoint: proxy.endpoint, engineUrl, readyTable: 'orders', propertiesFile });

  /** Each shard's lease holder (server id) and the pid of its server, as the engine has them now. */
  const leases = async (): Promise<{ shard: string; owner: string | null; pid: number | null }[]> =>
    (
      await harness.server.engine.query(
        `select l.shard_id as shard, l.owner, h.pid from kinesql_state.shard_leases l
           left join kinesql_state.lease_holders h on h.server_id = l.owner and l.expires_at > clock_timestamp()
          order by l.shard_id`,
      )
    ).rows as { shard: string; owner: string | null; pid: number | null }[];

  beforeAll(async () => {
    await proxy.start();
    harness = await startHarness({
      streams: [{ name: 'orders', shards: SHARDS }],
      definitions: { 'orders.json': KEYED_ORDERS_DEFINITION },
      configure: (base) => {
        proxy.target = base.aws.kinesisEndpoint!;
        return { ...base, aws: { ...base.aws, kinesisEndpoint: proxy.endpoint }, scan: { ...base.scan!, readBudgetShare: SHARE, leaseDurationMs: LEASE_MS } };
      },
    });
    engineUrl = engineUrlOf(harness.server.engine.endpoint);
    propertiesFile = join(harness.tablesDir, '..', `three-servers-${process.pid}.properties`);
    await writeFile(propertiesFile, `kinesis.read-budget-share=${SHARE}\nkinesql.lease-duration=${LEASE_MS}ms\n`);
    for (let i = 0; i < 2; i++) children.push(await startChild(await freePort()));
  }, 120_000);

  afterAll(async () => {
    for (const child of children) await child.stop();
    await harness?.close();
    await proxy.close();
    if (propertiesFile) await rm(propertiesFile, { force: true });
  });

  /** Leases held per server pid, once every shard's lease is held by one of the three servers running now (or after 20 s). */
  const balancedLeases = async (): Promise<Map<number, number>> => {
    const pids = new Set([process.pid, ...children.map((child) => child.process.pid)]);
    let held = new Map<number, number>();
    for (let attempt = 0; attempt < 100; attempt++) {
      const rows = await leases();
      held = new Map();
      for (const row of rows) if (row.pid !== null) held.set(row.pid, (held.get(row.pid) ?? 0) + 1);
      if (rows.length === SHARDS && rows.every((row) => row.pid !== null && pids.has(row.pid)) && held.size === 3) break;
      await sleep(200);
    }
    return held;
  };

  it('divides the shards: every shard has a lease, every server holds its fair share of the 4', async () => {
    const held = await balancedLeases();
    expect(new Set(held.keys())).toEqual(new Set([process.pid, ...children.map((child) => child.process.pid)]));
    expect([...held.values()].sort()).toEqual([1, 1, 2]);
  }, 30_000);

  it('keeps every record exactly once, per-key order, and counts that never go back', async () => {
    const ports = [harness.server.port, children[0]!.port, children[1]!.port];
    const victim = 1;
    let put = 0;
    let writing = true;
    let killedAt = Number.POSITIVE_INFINITY;
    let back = false;
    let backAt = Number.POSITIVE_INFINITY;
    /** Shards whose lease the killed server held, and how long after the kill the others held them all. */
    let victimShards: string[] = [];
    let takenOverAfterMs: number | undefined;
    proxy.reset();
    /** Every finished statement's count, with when it started and ended (ms since the test began). */
    const answers: { start: number; end: number; count: number; port: number }[] = [];
    const begun = performance.now();
    const failures: string[] = [];

    /** Polls the lease table until no shard is held by the killed server's pid; ms since the kill. */
    const watchTakeover = async (victimPid: number): Promise<number> => {
      const killed = performance.now();
      for (;;) {
        const rows = await leases();
        const taken = victimShards.every((shard) => rows.some((row) => row.shard === shard && row.pid !== null && row.pid !== victimPid));
        if (taken) return performance.now() - killed;
        await sleep(50);
      }
    };

    // A client of its own: the harness's may hold a keep-alive socket the stand-in closed while the servers started.
    const writerClient = createKinesisClient(harness.config.aws);
    const writer = (async () => {
      const nextSeq = new Array<number>(KEYS).fill(0);
      for (let round = 0; round < WRITE_ROUNDS; round++) {
        const records = keyedRecords(round, RECORDS_PER_ROUND, nextSeq);
        const answer = await writerClient.send(new PutRecordsCommand({ StreamName: 'orders', Records: records }));
        if (answer.FailedRecordCount) throw new Error(`${answer.FailedRecordCount} records were not put`);
        put += RECORDS_PER_ROUND;
        if (round === KILL_AT_ROUND) {
          const killed = children[victim - 1]!;
          victimShards = (await leases()).filter((row) => row.pid === killed.process.pid).map((row) => row.shard);
          killedAt = performance.now() - begun;
          killed.process.kill('SIGKILL');
          await once(killed.process, 'exit');
          void watchTakeover(killed.process.pid!).then((ms) => (takenOverAfterMs = ms));
          // Started again on the same port, while the others go on serving.
          void startChild(killed.port).then(
            (restarted) => {
              children[victim - 1] = restarted;
              backAt = performance.now() - begun;
              back = true;
            },
            (error: unknown) => failures.push(`restart: ${String(error)}`),
          );
        }
        await sleep(ROUND_PAUSE_MS);
      }
      writing = false;
    })().finally(() => writerClient.destroy());

    const client = async (index: number): Promise<void> => {
      const port = ports[index % ports.length]!;
      let connection: pg.Client | undefined;
      // Until the writer is done and the killed server is back and has answered this client again.
      let servedSinceBack = false;
      while (writing || !back || !servedSinceBack) {
        if (failures.length > 0) break;
        try {
          if (!connection) {
            connection = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql' });
            connection.on('error', () => undefined);
            await connection.connect();
          }
          const start = performance.now() - begun;
          const { rows } = await connection.query('select count(*)::int as n from orders');
          answers.push({ start, end: performance.now() - begun, count: Number(rows[0]?.n), port });
          if (back) servedSinceBack = true;
        } catch (error) {
          // Only the killed server's clients may lose their connection; they connect again once it is back.
          if (port !== ports[victim]) failures.push(`client ${index} on ${port}: ${String(error)}`);
          await connection?.end().catch(() => undefined);
          connection = undefined;
          await sleep(200);
        }
      }
      await connection?.end().catch(() => undefined);
    };

    await Promise.all([writer, ...Array.from({ length: CLIENTS }, (_, i) => client(i))]);
    expect(failures).toEqual([]);

    // The killed server's shards had new lease holders within the lease duration and one renew interval of the kill
    // (and the polling of this test: 3 s of slack, as timers run late on a loaded machine — 5.2 s was seen at load 20).
    expect(victimShards.length).toBeGreaterThan(0);
    expect(takenOverAfterMs).toBeDefined();
    expect(takenOverAfterMs!).toBeLessThanOrEqual(LEASE_MS + renewIntervalMs(LEASE_MS) + 3_000);

    // The clients above may stop before the last put was read: one strict count on each server reads the rest, so that
    // the reads below are all of them (1,194 of 1,200 fetched at that point was seen once).
    for (const port of ports) {
      const last = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql' });
      await last.connect();
      try {
        expect((await last.query('select count(*)::int as n from orders')).rows[0]?.n).toBe(put);
      } finally {
        await last.end();
      }
    }

    // Over any 10 s, the three servers together made at most share × 5 GetRecords calls a second per shard (+ the burst).
    const shardIds = new Set(proxy.calls.flatMap((call) => (call.operation === 'GetRecords' && call.shardId ? [call.shardId] : [])));
    expect(shardIds.size).toBe(SHARDS);
    const perShard: Record<string, { calls: number; busiest10s: number; records: number }> = {};
    for (const shardId of shardIds) {
      const calls = proxy.getRecordsOf(shardId);
      const times = calls.map((call) => call.at);
      const busiest = Math.max(...times.map((from) => times.filter((at) => at >= from && at < from + BUDGET_WINDOW_MS).length));
      perShard[shardId] = { calls: calls.length, busiest10s: busiest, records: calls.reduce((sum, call) => sum + (call.records ?? 0), 0) };
      expect(busiest, shardId).toBeLessThanOrEqual(SHARE * 5 * (BUDGET_WINDOW_MS / 1000) + READ_BURST);
    }
    // The shards' records were fetched about once, by their lease holders, not once per server (3 × put): what is
    // fetched twice is what a server read while the owner it waited for was gone or late (1.02-1.36 × put here).
    const fetched = Object.values(perShard).reduce((sum, shard) => sum + shard.records, 0);
    const runMs = performance.now() - begun;
    // The killed server's clients were answered again soon after it was back (its restart is the fault's end).
    const firstAnswerBack = Math.min(...answers.filter((answer) => answer.port === ports[victim] && answer.start > killedAt).map((answer) => answer.end));
    const servedAgainAfterMs = Math.max(0, firstAnswerBack - backAt);
    console.log(
      JSON.stringify({
        runMs: Math.round(runMs),
        put,
        fetched,
        takenOverAfterMs: Math.round(takenOverAfterMs!),
        restartedAfterKillMs: Math.round(backAt - killedAt),
        servedAgainAfterKillMs: Math.round(firstAnswerBack - killedAt),
        answers: answers.length,
        perShard,
      }),
    );
    expect(servedAgainAfterMs).toBeLessThan(10_000);
    expect(fetched).toBeGreaterThanOrEqual(put);
    expect(fetched).toBeLessThan(2 * put);

    // The restarted server took its share back from the two that had taken over.
    const held = await balancedLeases();
    expect(held.get(children[victim - 1]!.process.pid!)).toBeGreaterThanOrEqual(1);
    expect([...held.values()].sort()).toEqual([1, 1, 2]);

    // Each statement counts at least what every statement that finished before it started counted.
    expect(countsThatWentBack(answers)).toEqual([]);
    expect(answers.length).toBeGreaterThan(CLIENTS);
    // The killed server's clients were served again once it was back.
    expect(answers.some((answer) => answer.port === ports[victim] && answer.start > killedAt)).toBe(true);

    for (const port of ports) await expectEveryOrderOnce(harness.kinesis, port, put);
  }, 300_000);
});
