import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkExactness } from '../support/exactness.js';
import { engineAdmin, whenServedAgain } from '../support/engine-faults.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * The engine crashes while a statement fills a shard's older range (records before what is loaded, which a
 * wider window reaches): the fill fails with its statement, and it cannot remove what it had committed
 * while the engine is away. The next statement must show every record once, not the committed part twice.
 */
const OLDER = 600;
const NEWER = 10;
const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const ticks = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ n: from + i }));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the engine crashes while an older range is filled', () => {
  let harness: Harness;
  let between: Date;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 1 }],
      definitions: { 'ticks.json': definition },
      // Small GetRecords calls: the fill takes many batches, each committed on its own.
      configure: (config) => ({ ...config, read: { ...config.read, batchSize: 10 } }),
    });
    await harness.put('ticks', ticks(0, OLDER));
    await sleep(1_100);
    between = new Date();
    await sleep(1_100);
    await harness.put('ticks', ticks(OLDER, NEWER));
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('shows every record once after a backend is killed with SIGKILL mid-fill', async () => {
    const narrow = await harness.connect();
    try {
      await narrow.query(`SET kinesis.iter_start_timestamp = '${between.toISOString()}'`);
      expect((await narrow.query('select count(*)::int as n from ticks')).rows[0]?.n).toBe(NEWER);
    } finally {
      await narrow.end();
    }

    const wide = new pg.Client(harness.connection);
    wide.on('error', () => undefined);
    await wide.connect();
    const filling = wide.query('select count(*)::int as n from ticks').then(
      () => 'answered',
      (error: Error) => error.message,
    );
    const killer = await engineAdmin(harness);
    // Kill once part of the fill is committed and the rest is not.
    let loaded = 0;
    while (loaded < NEWER + 50) {
      loaded = Number((await killer.query('select count(*)::int as n from public.ticks')).rows[0]?.n);
      await sleep(20);
    }
    expect(loaded).toBeLessThan(NEWER + OLDER);
    const victim = Number((await killer.query('select pg_backend_pid() as pid')).rows[0]?.pid);
    process.kill(victim, 'SIGKILL');
    await killer.end().catch(() => undefined);
    expect(await filling).not.toBe('answered');
    await wide.end().catch(() => undefined);

    // Served again once the engine has recovered; the fill runs again and loads each record once.
    const { rows: answer } = await whenServedAgain(harness, 'select count(*)::int as n from ticks');
    const counted = Number(answer[0]?.['n']);
    expect(counted).toBe(OLDER + NEWER);
    const client = await harness.connect();
    try {
      // A filled table holds older records loaded later on purpose: lost and duplicated are what count here.
      const exactness = await checkExactness(harness.kinesis, 'ticks', client, 'ticks');
      expect(exactness).toMatchObject({ records: OLDER + NEWER, rows: OLDER + NEWER, lost: [], duplicated: [], unknown: [] });
      const { rows } = await client.query('select count(distinct n)::int as messages from ticks');
      expect(rows[0]?.messages).toBe(OLDER + NEWER);
    } finally {
      await client.end();
    }
  }, 120_000);
});
