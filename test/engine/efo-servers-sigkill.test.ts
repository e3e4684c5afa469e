import { once } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKinesisClient } from '../../src/kinesis/client.js';
import { listShards } from '../../src/kinesis/shard-listing.js';
import { renewIntervalMs } from '../../src/store/shard-leases.js';
import { type ChildServer, engineUrlOf, freePort, startChildServer } from '../support/child-server.js';
import { startHarness, type Harness } from '../support/harness.js';
import { KEYED_ORDERS_DEFINITION, keyedRecords } from '../support/keyed-orders.js';
import { countsThatWentBack, expectEveryOrderOnce } from '../support/served-orders.js';
import { startKinesisMock, type KinesisMock } from '../scan/kinesis-mock.js';
import { SubscriptionCounter } from '../scan/subscription-counter.js';

/**
 * Three kinesql servers on one engine in enhanced fan-out mode, sharing one consumer: this test's own (which runs
 * the embedded engine) and two child processes, all reaching kinesis-mock through a relay that sees every
 * SubscribeToShard. Only a shard's lease holder subscribes to it; one child is killed with SIGKILL while a writer
 * puts records and strict clients on every server count them, and the others take its shards over.
 */
const KEYS = 8;
const SHARDS = 4;
const CLIENTS_PER_SERVER = 2;
const WRITE_ROUNDS = 30;
const RECORDS_PER_ROUND = 20;
const KILL_AT_ROUND = 10;
const ROUND_PAUSE_MS = 300;
const SHARE = 0.2;
const LEASE_MS = 3_000;
const CONSUMER = 'kinesql-servers';
/** How long the subscriptions are watched while nothing changes. */
const QUIET_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('three kinesql servers on one engine with enhanced fan-out, one killed with SIGKILL', () => {
  let mock: KinesisMock;
  let counter: SubscriptionCounter;
  let harness: Harness;
  let engineUrl: string;
  let propertiesFile: string;
  const children: ChildServer[] = [];
  let shardIds: string[] = [];

  const startChild = (port: number): Promise<ChildServer> =>
    startChildServer({ port, tablesDir: harness.tablesDir, kinesisEndpoint: counter.endpoint, engineUrl, readyTable: 'kinesql.shards', propertiesFile });

  /** Each shard's lease holder's pid, as the engine has it now (null: no live holder). */
  const leases = async (): Promise<{ shard: string; pid: number | null }[]> =>
    (
      await harness.server.engine.query(
        `select l.shard_id as shard, h.pid from kinesql_state.shard_leases l
           left join kinesql_state.lease_holders h on h.server_id = l.owner and l.expires_at > clock_timestamp()
          order by l.shard_id`,
      )
    ).rows as { shard: string; pid: number | null }[];

  /** The subscriptions the stand-in holds open now, per shard. */
  const openNow = (): Map<string, number> =>
    new Map(shardIds.map((shard) => [shard, counter.subscriptionsOf(shard).filter((call) => call.closedAt === undefined).length]));

  beforeAll(async () => {
    mock = await startKinesisMock();
    counter = await new SubscriptionCounter(Number(new URL(mock.endpoint).port)).start();
    harness = await startHarness({
      streams: [{ name: 'orders', shards: SHARDS }],
      definitions: { 'orders.json': KEYED_ORDERS_DEFINITION },
      configure: (base) => ({
        ...base,
        aws: { ...base.aws, kinesisEndpoint: counter.endpoint },
        scan: { ...base.scan!, consumerMode: 'efo', consumerName: CONSUMER, readBudgetShare: SHARE, leaseDurationMs: LEASE_MS },
      }),
    });
    shardIds = (await listShards(harness.kinesis, 'orders', { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 })).map((shard) => shard.shardId);
    engineUrl = engineUrlOf(harness.server.engine.endpoint);
    propertiesFile = join(harness.tablesDir, '..', `efo-servers-${process.pid}.properties`);
    await writeFile(
      propertiesFile,
      `kinesis.consumer-mode=efo\nkinesis.consumer-name=${CONSUMER}\nkinesis.read-budget-share=${SHARE}\nkinesql.lease-duration=${LEASE_MS}ms\n`,
    );
    for (let i = 0; i < 2; i++) children.push(await startChild(await freePort()));
  }, 180_000);

  afterAll(async () => {
    for (const child of children) await child.stop();
    await harness?.close();
    await counter?.close();
    await mock?.close();
    if (propertiesFile) await rm(propertiesFile, { force: true });
  });

  it('subscribes to each shard once: one subscription per shard open at a time, however many servers', async () => {
    expect(shardIds).toHaveLength(SHARDS);
    // Every shard subscribed, the leases settled among the three (the two children took theirs from the first).
    for (let attempt = 0; attempt < 150 && [...openNow().values()].some((open) => open === 0); attempt++) await sleep(200);
    await sleep(2 * LEASE_MS);
    const since = performance.now();
    await sleep(QUIET_MS);
    const perShard = shardIds.map((shard) => ({
      shard,
      mostAtOnce: counter.mostAtOnce(shard, since),
      // Since the first server started: the two children took their leases from it while it was subscribed.
      mostAtOnceFromStart: counter.mostAtOnce(shard),
      calls: counter.calls.filter((call) => call.shardId === shard && call.openedAt >= since).length,
      openNow: openNow().get(shard),
    }));
    console.log(JSON.stringify({ quietMs: QUIET_MS, perShard, allCallsSoFar: counter.calls.length }));
    for (const shard of perShard) {
      expect(shard.mostAtOnce, shard.shard).toBe(1);
      expect(shard.mostAtOnceFromStart, shard.shard).toBe(1);
      expect(shard.openNow, shard.shard).toBe(1);
      // A holder's subscription runs for minutes: none renewed, none refused and tried again in a quiet spell.
      expect(shard.calls, shard.shard).toBe(0);
    }
    // Each shard's subscription is its lease holder's, and every server holds its share of the 4 (2, 1, 1).
    const rows = await leases();
    const held = new Map<number, number>();
    for (const row of rows) if (row.pid !== null) held.set(row.pid, (held.get(row.pid) ?? 0) + 1);
    expect(new Set(held.keys())).toEqual(new Set([process.pid, ...children.map((child) => child.process.pid)]));
    expect([...held.values()].sort()).toEqual([1, 1, 2]);
  }, 90_000);

  it('serves every record put while a server is killed exactly once, its shards subscribed by the others', async () => {
    const ports = [harness.server.port, children[0]!.port, children[1]!.port];
    const victim = children[0]!;
    let victimShards: string[] = [];
    let killedAt = Number.POSITIVE_INFINITY;
    let put = 0;
    let writing = true;
    const began = performance.now();
    const failures: string[] = [];
    const answers: { start: number; end: number; count: number }[] = [];

    const writerClient = createKinesisClient(harness.config.aws);
    const writer = (async () => {
      const nextSeq = new Array<number>(KEYS).fill(0);
      for (let round = 0; round < WRITE_ROUNDS; round++) {
        const answer = await writerClient.send(new PutRecordsCommand({ StreamName: 'orders', Records: keyedRecords(round, RECORDS_PER_ROUND, nextSeq) }));
        if (answer.FailedRecordCount) throw new Error(`${answer.FailedRecordCount} records were not put`);
        put += RECORDS_PER_ROUND;
        if (round === KILL_AT_ROUND) {
          victimShards = (await leases()).filter((row) => row.pid === victim.process.pid).map((row) => row.shard);
          killedAt = performance.now();
          victim.process.kill('SIGKILL');
          await once(victim.process, 'exit');
        }
        await sleep(ROUND_PAUSE_MS);
      }
      writing = false;
    })().finally(() => writerClient.destroy());

    const client = async (port: number): Promise<void> => {
      let connection: pg.Client | undefined;
      while (writing && failures.length === 0) {
        if (port === victim.port && performance.now() >= killedAt) return;
        try {
          if (!connection) {
            connection = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql' });
            connection.on('error', () => undefined);
            await connection.connect();
          }
          const start = performance.now() - began;
          const { rows } = await connection.query('select count(*)::int as n from orders');
          answers.push({ start, end: performance.now() - began, count: Number(rows[0]?.n) });
        } catch (error) {
          // Only the killed server's clients may lose their connection.
          if (port !== victim.port) failures.push(`client on ${port}: ${String(error)}`);
          return;
        }
      }
      await connection?.end().catch(() => undefined);
    };

    await Promise.all([writer, ...ports.flatMap((port) => Array.from({ length: CLIENTS_PER_SERVER }, () => client(port)))]);
    expect(failures).toEqual([]);
    expect(victimShards.length).toBeGreaterThan(0);

    // The others took the killed server's shards over, within the lease duration, a renew interval and a follower round
    // (3 s of slack for timers late on a loaded machine), and subscribed to them: each shard had one subscription open at a time.
    const survivors = new Set([process.pid, children[1]!.process.pid]);
    let takenOverAfterMs: number | undefined;
    for (let attempt = 0; attempt < 100; attempt++) {
      const rows = await leases();
      const subscribed = victimShards.every((shard) => counter.subscriptionsOf(shard).some((call) => call.openedAt > killedAt && call.closedAt === undefined));
      if (rows.every((row) => row.pid !== null && survivors.has(row.pid)) && subscribed) {
        takenOverAfterMs =
          Math.max(...victimShards.map((shard) => counter.subscriptionsOf(shard).find((call) => call.openedAt > killedAt)!.openedAt)) - killedAt;
        break;
      }
      await sleep(200);
    }
    const perShard = shardIds.map((shard) => ({
      shard,
      mostAtOnce: counter.mostAtOnce(shard, began),
      subscribeCalls: counter.calls.filter((call) => call.shardId === shard && call.openedAt >= began).length,
    }));
    // Every SubscribeToShard of the run, in ms from the kill: when it was sent, and for how long its subscription ran.
    const subscribes = counter.calls
      .filter((call) => call.openedAt >= began)
      .map((call) => ({
        shard: call.shardId,
        status: call.status,
        sentMs: Math.round(call.openedAt - killedAt),
        ranMs: call.closedAt === undefined ? null : Math.round(call.closedAt - call.openedAt),
      }));
    // GetRecords calls of each survivor: its statements' own reads, when no event from a shard's holder came in time.
    const getRecordsCalls: number[] = [];
    for (const port of [harness.server.port, children[1]!.port]) {
      const status = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql' });
      await status.connect();
      const { rows } = await status.query(`select coalesce(sum(get_records_calls), 0)::int as calls from kinesql.shards where table_name = 'orders'`);
      getRecordsCalls.push(Number(rows[0]?.calls));
      await status.end();
    }
    console.log(JSON.stringify({ put, answers: answers.length, victimShards, takenOverAfterMs, perShard, subscribes, getRecordsCalls }));
    expect(takenOverAfterMs).toBeDefined();
    expect(takenOverAfterMs!).toBeLessThanOrEqual(LEASE_MS + renewIntervalMs(LEASE_MS) + 1_000 + 3_000);
    for (const shard of perShard) expect(shard.mostAtOnce, shard.shard).toBe(1);

    // Each statement counts at least what every statement that finished before it started counted.
    expect(countsThatWentBack(answers)).toEqual([]);

    // The killed server's shards were read on by the others: every record is served once by each survivor.
    for (const port of [harness.server.port, children[1]!.port]) await expectEveryOrderOnce(harness.kinesis, port, put);
  }, 180_000);
});
