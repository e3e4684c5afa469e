import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
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
      // Offsets in seconds (the Trino connector's other spelling) narrow the window too; RESET gives the table's window back.
      await wide.query(`SET kinesis.starting_offset_seconds = 3600`);
      expect(await count(wide)).toEqual({ n: 15, first: 0 });
      await narrow.query('RESET kinesis.iter_start_timestamp');
      expect(await count(narrow)).toEqual({ n: 15, first: 0 });
    } finally {
      await narrow.end();
      await wide.end();
    }
  });

  it('checks kinesis.* values when they are set, and a SET in the same query string plans that statement', async () => {
    const client = await harness.connect();
    try {
      for (const sql of [
        `SET kinesis.checkpoint_enabled = 'maybe'`,
        `SET kinesis.iter_offset_seconds = 'soon'`,
        `SET kinesis.iter_start_timestamp = 'yesterday-ish'`,
      ]) {
        await expect(client.query(sql)).rejects.toMatchObject({ code: '22023' });
        await expect(client.query({ text: sql, values: [] })).rejects.toMatchObject({ code: '22023' });
      }
      expect((await client.query(`select current_setting('kinesis.checkpoint_enabled') as v`)).rows).toEqual([{ v: '' }]);
      // The window the SET narrows applies to the select after it in the same string.
      const results = (await client.query(
        `SET kinesis.iter_start_timestamp = '${between.toISOString()}'; select count(*)::int as n from ticks`,
      )) as unknown as { rows: unknown[] }[];
      expect(results[1]!.rows).toEqual([{ n: 5 }]);
    } finally {
      await client.end();
    }
  });

  it("follows the Trino connector's checkpoint iterations", async () => {
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

  it('runs client statements as their own unprivileged, read-only engine role, behind the read-only gate', async () => {
    const client = await harness.connect();
    try {
      expect((await client.query('select current_user as u, session_user as s, current_setting($1) as ro', ['transaction_read_only'])).rows).toEqual([
        { u: 'tester', s: 'tester', ro: 'on' },
      ]);
    } finally {
      await client.end();
    }
    // What the engine itself does if a statement ever got past the gate: log in to the engine directly as the
    // client's role, as kinesql does, and try.
    const { engine, roles } = harness.server;
    const direct = new pg.Client({ ...engine.endpoint, password: await roles.passwordFor('tester'), user: 'tester' });
    await direct.connect();
    try {
      const attempt = (sql: string) =>
        direct.query(sql).then(
          () => 'ran',
          (error: { code?: string }) => error.code,
        );
      expect(await attempt('insert into ticks (n) values (1)')).toBe('25006');
      expect(await attempt('delete from ticks')).toBe('25006');
      expect(await attempt('create table escape (x int)')).toBe('25006');
      // Even in a transaction that asks to write, the role may not.
      await direct.query('BEGIN READ WRITE');
      expect(await attempt('insert into ticks (n) values (1)')).toBe('42501');
      await direct.query('ROLLBACK');
      await direct.query('BEGIN READ WRITE');
      expect(await attempt('create table escape (x int)')).toBe('42501');
      await direct.query('ROLLBACK');
      expect(await attempt(`select pg_read_file('/etc/hostname')`)).toBe('42501');
      // There is no superuser to go back to: the login itself is the unprivileged role.
      expect(await attempt(`set role ${engine.endpoint.user}`)).toBe('42501');
      expect(await attempt(`set session authorization ${engine.endpoint.user}`)).toBe('42501');
      await direct.query('RESET ROLE');
      expect((await direct.query('select current_user as u, (select rolsuper from pg_roles where rolname = current_user) as su')).rows).toEqual([
        { u: 'tester', su: false },
      ]);
      // kinesql's own state may be looked at like a catalog, but the secret's row is never shown.
      expect((await direct.query('select * from kinesql_state.secret')).rows).toEqual([]);
      expect(await attempt('select * from ticks')).toBe('ran');
    } finally {
      await direct.end();
    }
  });
});

describe('a session turning the window on where the operator keeps everything', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 2 }],
      definitions: { 'ticks.json': definition },
      configure: (base) => ({ ...base, read: { ...base.read, iterFromTimestamp: false, iterOffsetSeconds: 2 } }),
    });
    await harness.put('ticks', ticks(0, 10));
    await sleep(3_000);
    await harness.put('ticks', ticks(10, 5));
  });

  afterAll(async () => {
    await harness?.close();
  });

  it("gets the operator's kinesis.iter-offset-seconds, not a built-in day", async () => {
    const client = await harness.connect();
    try {
      const count = async () => (await client.query('select count(*)::int as n from ticks')).rows[0].n as number;
      expect(await count()).toBe(15);
      await client.query(`SET kinesis.iter_from_timestamp = 'true'`);
      expect(await count()).toBe(5);
    } finally {
      await client.end();
    }
  });
});
