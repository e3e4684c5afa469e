import { once } from 'node:events';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { createKinesisClient } from '../../src/kinesis/client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildServer, engineUrlOf, freePort, startChildServer } from '../support/child-server.js';
import { startHarness, type Harness } from '../support/harness.js';
import { KEY_COUNTER_GAPS_SQL, KEYED_ORDERS_DEFINITION, keyedRecords } from '../support/keyed-orders.js';

/**
 * Three kinesql servers on one engine: this test's own (which runs the embedded engine) and two child
 * processes. A writer puts records while 30 clients, spread over the three, count them; one child is killed
 * with SIGKILL part-way and started again.
 */
const KEYS = 10;
const CLIENTS = 30;
const WRITE_ROUNDS = 60;
const RECORDS_PER_ROUND = 20;
const KILL_AT_ROUND = 20;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('three kinesql servers on one engine, one killed with SIGKILL mid-way', () => {
  let harness: Harness;
  let engineUrl: string;
  const children: ChildServer[] = [];

  const startChild = (port: number): Promise<ChildServer> =>
    startChildServer({ port, tablesDir: harness.tablesDir, kinesisEndpoint: harness.config.aws.kinesisEndpoint!, engineUrl, readyTable: 'orders' });

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'orders', shards: 4 }], definitions: { 'orders.json': KEYED_ORDERS_DEFINITION } });
    engineUrl = engineUrlOf(harness.server.engine.endpoint);
    for (let i = 0; i < 2; i++) children.push(await startChild(await freePort()));
  }, 120_000);

  afterAll(async () => {
    for (const child of children) await child.stop();
    await harness?.close();
  });

  it('keeps every record exactly once, per-key order, and counts that never go back', async () => {
    const ports = [harness.server.port, children[0]!.port, children[1]!.port];
    const victim = 1;
    let put = 0;
    let writing = true;
    let killedAt = Number.POSITIVE_INFINITY;
    let back = false;
    /** Every finished statement's count, with when it started and ended (ms since the test began). */
    const answers: { start: number; end: number; count: number; port: number }[] = [];
    const begun = performance.now();
    const failures: string[] = [];

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
          killedAt = performance.now() - begun;
          killed.process.kill('SIGKILL');
          await once(killed.process, 'exit');
          // Started again on the same port, while the others go on serving.
          void startChild(killed.port).then(
            (restarted) => {
              children[victim - 1] = restarted;
              back = true;
            },
            (error: unknown) => failures.push(`restart: ${String(error)}`),
          );
        }
        await sleep(50);
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

    // Each statement counts at least what every statement that finished before it started counted.
    const byEnd = [...answers].sort((a, b) => a.end - b.end);
    let finishedMax = 0;
    let next = 0;
    const violations: string[] = [];
    for (const answer of [...answers].sort((a, b) => a.start - b.start)) {
      while (next < byEnd.length && byEnd[next]!.end < answer.start) finishedMax = Math.max(finishedMax, byEnd[next++]!.count);
      if (answer.count < finishedMax) violations.push(`${answer.count} < ${finishedMax} at ${answer.start.toFixed(0)} ms`);
    }
    expect(violations).toEqual([]);
    expect(answers.length).toBeGreaterThan(CLIENTS);
    // The killed server's clients were served again once it was back.
    expect(answers.some((answer) => answer.port === ports[victim] && answer.start > killedAt)).toBe(true);

    for (const port of ports) {
      const check = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql' });
      await check.connect();
      try {
        const totals = await check.query(
          'select count(*)::int as n, count(distinct (_shard_id, _shard_sequence_id))::int as records, count(distinct (k, seq))::int as messages from orders',
        );
        expect(totals.rows[0]).toEqual({ n: put, records: put, messages: put });
        const outOfOrder = await check.query(KEY_COUNTER_GAPS_SQL);
        expect(outOfOrder.rows).toEqual([]);
      } finally {
        await check.end();
      }
    }
  }, 300_000);
});
