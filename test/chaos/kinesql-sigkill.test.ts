import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStream, type KinesisStandIn, startKinesisStandIn } from '../../src/demo/kinesis-standin.js';
import { createKinesisClient } from '../../src/kinesis/client.js';
import { freePort } from '../support/child-server.js';
import { checkExactness } from '../support/exactness.js';
import { KEY_COUNTER_GAPS_SQL, KEYED_ORDERS_DEFINITION, keyedRecords } from '../support/keyed-orders.js';

/**
 * kinesql itself killed with SIGKILL while records arrive and its follower loads them (an OOM kill, a node
 * lost): started again on the same data directory with no manual step, it must show every record of the
 * stream exactly once and in order per key, and answer again within 10 s of its start.
 */
const KEYS = 10;
const ROUNDS = 80;
const RECORDS_PER_ROUND = 20;
const ROUND_MS = 50;
const KILL_AT_ROUND = 30;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function answersCount(port: number): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql', connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select count(*) from orders');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('kinesql killed with SIGKILL under load', { timeout: 240_000 }, () => {
  let standIn: KinesisStandIn;
  let work: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    standIn = await startKinesisStandIn();
    work = await mkdtemp(join(tmpdir(), 'kinesql-sigkill-'));
    // As root the engine runs as postgres, which must enter the data directory made inside.
    await chmod(work, 0o755);
    await writeFile(join(work, 'orders.json'), JSON.stringify(KEYED_ORDERS_DEFINITION));
  });

  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
    await standIn?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function serve(port: number): Promise<ChildProcess> {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli.ts',
        'serve',
        '--port',
        String(port),
        '--tables',
        work,
        '--kinesis-endpoint',
        standIn.endpoint,
        '--data-dir',
        join(work, 'data'),
      ],
      {
        env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1', KINESQL_LOG_FORMAT: 'json' },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    children.push(child);
    return child;
  }

  it('restarts on its data directory and shows every record exactly once, in order per key', async () => {
    const kinesis = createKinesisClient({ region: 'us-east-1', kinesisEndpoint: standIn.endpoint, accessKeyId: 'test', secretAccessKey: 'test' });
    await ensureStream(kinesis, 'orders', 3);
    const port = await freePort();
    let child = await serve(port);
    while (!(await answersCount(port))) await sleep(200);

    const nextSeq = Array.from({ length: KEYS }, () => 0);
    let restartedAt = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      await kinesis.send(new PutRecordsCommand({ StreamName: 'orders', Records: keyedRecords(round, RECORDS_PER_ROUND, nextSeq) }));
      if (round === KILL_AT_ROUND) {
        child.kill('SIGKILL');
        await once(child, 'exit');
        restartedAt = Date.now();
        child = await serve(port);
      }
      await sleep(ROUND_MS);
    }
    while (!(await answersCount(port))) await sleep(200);
    const servedAfterMs = Date.now() - restartedAt;

    const client = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql' });
    await client.connect();
    try {
      const result = await checkExactness(kinesis, 'orders', client, 'orders');
      const gaps = await client.query(KEY_COUNTER_GAPS_SQL);
      console.info(
        `kinesql SIGKILL: ${result.records} records in the stream, ${result.rows} rows shown, lost ${result.lost.length}, duplicated ${result.duplicated.length}; answered again ${servedAfterMs} ms after its restart`,
      );
      expect(result.records).toBe(ROUNDS * RECORDS_PER_ROUND);
      expect(result).toMatchObject({ rows: result.records, lost: [], duplicated: [], unknown: [], outOfOrderShards: [], outOfOrderKeys: [] });
      expect(gaps.rows).toEqual([]);
      expect(servedAfterMs).toBeLessThan(60_000);
    } finally {
      await client.end();
      kinesis.destroy();
    }
  });
});
