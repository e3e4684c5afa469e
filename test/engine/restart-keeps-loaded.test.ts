import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKinesql, type RunningKinesql } from '../../src/kinesql.js';
import { startHarness, testLogger, type Harness } from '../support/harness.js';

const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const ticks = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ n: from + i }));

async function query(server: RunningKinesql, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ host: server.host, port: server.port, user: 'tester', database: 'kinesql' });
  await client.connect();
  try {
    const result: pg.QueryResult | pg.QueryResult[] = await client.query(sql);
    // A string of several statements answers with one result each; the last one is the SELECT.
    return (Array.isArray(result) ? result.at(-1)! : result).rows;
  } finally {
    await client.end();
  }
}

describe('a kept data directory', () => {
  let harness: Harness;
  let dataDir: string;
  let restarted: RunningKinesql | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kinesql-kept-'));
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 3 }],
      definitions: { 'ticks.json': definition },
      configure: (config) => ({ ...config, dataDir }),
    });
  });

  afterAll(async () => {
    await restarted?.close();
    await harness?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps loaded rows, shard positions and checkpoints: a restarted kinesql reads only what arrived while it was down', async () => {
    await harness.put('ticks', ticks(0, 300));
    expect(await query(harness.server, 'select count(*)::int as n, sum(n)::int as total from ticks')).toEqual([{ n: 300, total: 44850 }]);
    await query(harness.server, `set kinesis.checkpoint_enabled = true; set kinesis.iteration_number = 0; select count(*) from ticks`);
    await harness.server.close();

    await harness.put('ticks', ticks(300, 20));
    restarted = await startKinesql(harness.config, testLogger);
    expect(await query(restarted, 'select count(*)::int as n, count(distinct n)::int as distinct_n, sum(n)::int as total from ticks')).toEqual([
      { n: 320, distinct_n: 320, total: 51040 },
    ]);
    // What this process read from Kinesis: the 20 new records, not the 300 loaded before the restart.
    expect(await query(restarted, 'select sum(records_read)::int as read from kinesql.shards')).toEqual([{ read: 20 }]);
    // The checkpoint of iteration 0 survived too: iteration 1 sees exactly the records put since.
    expect(
      await query(restarted, `set kinesis.checkpoint_enabled = true; set kinesis.iteration_number = 1; select count(*)::int as n, min(n) as first from ticks`),
    ).toEqual([{ n: 20, first: 300 }]);
  });

  it('hides the table of a definition that went away while kinesql was down, and serves it again when it comes back', async () => {
    await restarted!.close();
    const file = join(harness.tablesDir, 'ticks.json');
    const text = await readFile(file, 'utf8');
    await rm(file);
    restarted = await startKinesql(harness.config, testLogger);
    await expect(query(restarted, 'select count(*) from ticks')).rejects.toMatchObject({ code: '42501' });
    await restarted.close();
    await writeFile(file, text);
    restarted = await startKinesql(harness.config, testLogger);
    expect(await query(restarted, 'select count(*)::int as n from ticks')).toEqual([{ n: 320 }]);
    expect(await query(restarted, 'select coalesce(sum(records_read), 0)::int as read from kinesql.shards')).toEqual([{ read: 0 }]);
  });
});
