import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKinesisClient } from '../../src/kinesis/client.js';
import { ensureStream, type KinesisStandIn, startKinesisStandIn } from '../../src/demo/kinesis-standin.js';
import { freePort } from '../support/child-server.js';

const STREAM = 'big-first-load';
const RECORDS = 150_000;
const PUT_BATCH = 500;

/** `kinesql serve` over dataDir in a process of its own, with the follower on; resolves once it answers. */
async function serve(endpoint: string, tablesDir: string, dataDir: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
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
      tablesDir,
      '--kinesis-endpoint',
      endpoint,
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
    ],
    { env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kinesql exited with ${child.exitCode}`);
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql' });
    client.on('error', () => undefined);
    const ready = await client.connect().then(
      () => true,
      () => false,
    );
    await client.end().catch(() => undefined);
    if (ready) return { child, port };
    await new Promise((done) => setTimeout(done, 200));
  }
}

async function query<T extends pg.QueryResultRow>(port: number, sql: string): Promise<T[]> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql' });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('SIGTERM during a large first load', { timeout: 300_000 }, () => {
  let standIn: KinesisStandIn;
  let work: string;

  beforeAll(async () => {
    standIn = await startKinesisStandIn();
    const kinesis = createKinesisClient({ region: 'us-east-1', kinesisEndpoint: standIn.endpoint, accessKeyId: 'test', secretAccessKey: 'test' });
    await ensureStream(kinesis, STREAM, 4);
    for (let offset = 0; offset < RECORDS; offset += PUT_BATCH) {
      const entries = Array.from({ length: PUT_BATCH }, (_, i) => ({
        Data: Buffer.from(JSON.stringify({ n: offset + i, note: 'x'.repeat(100) })),
        PartitionKey: `key-${(offset + i) % 97}`,
      }));
      await kinesis.send(new PutRecordsCommand({ StreamName: STREAM, Records: entries }));
    }
    kinesis.destroy();
    work = await mkdtemp(join(tmpdir(), 'kinesql-shutdown-'));
    // As root the engine runs as postgres, which must enter the data directory made inside.
    await chmod(work, 0o755);
    await writeFile(
      join(work, 'big.json'),
      JSON.stringify({ tableName: 'big', streamName: STREAM, message: { dataFormat: 'json', fields: [{ name: 'n', type: 'BIGINT', mapping: 'n' }] } }),
    );
  }, 300_000);

  afterAll(async () => {
    await standIn?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('stops within seconds, and a restart on the same data directory holds every record exactly once', async () => {
    const dataDir = join(work, 'data');
    const first = await serve(standIn.endpoint, work, dataDir);
    // Let the follower's first load get under way.
    let loading = 0;
    while (loading === 0) {
      await new Promise((done) => setTimeout(done, 250));
      const rows = await query<{ records: string }>(first.port, "select coalesce(sum(records), 0) as records from kinesql.shards where table_name = 'big'");
      loading = Number(rows[0]?.records ?? 0);
    }
    const began = Date.now();
    first.child.kill('SIGTERM');
    const [code] = (await once(first.child, 'exit')) as [number | null];
    const tookMs = Date.now() - began;
    console.info(`SIGTERM with ${loading} of ${RECORDS} records loaded: exited in ${tookMs} ms`);
    expect(code).toBe(0);

    const second = await serve(standIn.endpoint, work, dataDir);
    try {
      const [counts] = await query<{ rows: string; distinct_records: string; distinct_n: string }>(
        second.port,
        'select count(*) as rows, count(distinct (_shard_id, _shard_sequence_id)) as distinct_records, count(distinct n) as distinct_n from big',
      );
      expect(counts).toEqual({ rows: String(RECORDS), distinct_records: String(RECORDS), distinct_n: String(RECORDS) });
    } finally {
      second.child.kill('SIGTERM');
      await once(second.child, 'exit');
    }
  });
});
