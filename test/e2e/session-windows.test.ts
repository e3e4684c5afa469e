import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const ticks = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ n: from + i }));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('what a session sees: its own window, checkpoint iterations, the engine role', () => {
  let harness: Harness;
  let between: Date;

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'ticks', shards: 2 }], definitions: { 'ticks.json': definition } });
    await harness.put('ticks', ticks(0, 10));
    await sleep(1_100);
    between = new Date();
    await sleep(1_100);
    await harness.put('ticks', ticks(10, 5));
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('two sessions with different windows see different counts at the same time', async () => {
    const narrow = await harness.connect();
    const wide = await harness.connect();
    try {
      await narrow.query(`SET kinesis.iter_start_timestamp = '${between.toISOString()}'`);
      const count = async (client: typeof narrow) => (await client.query('select count(*)::int as n, min(n) as first from ticks')).rows[0];
      const [a, b] = await Promise.all([count(narrow), count(wide)]);
      expect(a).toEqual({ n: 5, first: 10 });
      expect(b).toEqual({ n: 15, first: 0 });
      // Offsets in seconds (the seed's other spelling) narrow the window too; RESET gives the table's window back.
      await wide.query(`SET kinesis.starting_offset_seconds = 3600`);
      expect(await count(wide)).toEqual({ n: 15, first: 0 });
      await narrow.query('RESET kinesis.iter_start_timestamp');
      expect(await count(narrow)).toEqual({ n: 15, first: 0 });
    } finally {
      await narrow.end();
      await wide.end();
    }
  });

  it("follows the seed's checkpoint iterations", async () => {
    const client = await harness.connect();
    try {
      await client.query(`SET kinesis.checkpoint_enabled = true; SET kinesis.checkpoint_logical_name = 'nightly'`);
      const iteration = async (n: number) => {
        await client.query(`SET kinesis.iteration_number = ${n}`);
        return (await client.query('select count(*)::int as n from ticks')).rows[0].n as number;
      };
      expect(await iteration(0)).toBe(15);
      await harness.put('ticks', ticks(100, 4));
      expect(await iteration(1)).toBe(4);
      // Running an iteration again gives its answer again.
      expect(await iteration(1)).toBe(4);
      await harness.put('ticks', ticks(200, 3));
      expect(await iteration(2)).toBe(3);
      // Another logical name keeps checkpoints of its own.
      await client.query(`SET kinesis.checkpoint_logical_name = 'adhoc'`);
      expect(await iteration(1)).toBe(22);
      await client.query('SET kinesis.checkpoint_enabled = false');
      expect((await client.query('select count(*)::int as n from ticks')).rows[0].n).toBe(22);
    } finally {
      await client.end();
    }
  });

  it('runs client statements as an unprivileged, read-only engine role, behind the read-only gate', async () => {
    const client = await harness.connect();
    try {
      expect((await client.query('select current_user as u, current_setting($1) as ro', ['transaction_read_only'])).rows).toEqual([
        { u: 'kinesql_reader', ro: 'on' },
      ]);
    } finally {
      await client.end();
    }
    // What the engine itself does if a write ever got past the gate: refused by the role and the read-only transaction.
    const engine = harness.server.engine;
    const release = await engine.acquire();
    try {
      await engine.enterReader({});
      const attempt = (sql: string) => engine.query(sql).then(() => 'ran', (error: { code?: string }) => error.code);
      expect(await attempt('insert into ticks (n) values (1)')).toBe('25006');
      expect(await attempt('delete from ticks')).toBe('25006');
      expect(await attempt('create table escape (x int)')).toBe('25006');
      // Even in a transaction that asks to write, the role may not.
      await engine.exec('BEGIN READ WRITE');
      expect(await attempt('insert into ticks (n) values (1)')).toBe('42501');
      await engine.exec('ROLLBACK');
      expect(await attempt(`select pg_read_file('/etc/hostname')`)).toBe('42501');
      // The engine's login user is its superuser, so SET ROLE / SESSION AUTHORIZATION could leave the role:
      // those the read-only gate refuses in every form (the corpus in test/data covers them).
      expect(await attempt('select * from ticks')).toBe('ran');
    } finally {
      release();
    }
    // kinesql's own work runs as the owner again afterwards: new records still load.
    await harness.put('ticks', ticks(300, 1));
    const after = await harness.connect();
    try {
      expect((await after.query('select count(*)::int as n from ticks where n = 300')).rows[0].n).toBe(1);
    } finally {
      await after.end();
    }
  });
});
