import { connect } from 'node:net';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { RawClient } from '../support/raw-client.js';

const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const ticks = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ n: from + i }));

/** A CancelRequest for a node-postgres client's session, sent the way libpq and pgjdbc send it. */
async function cancel(harness: Harness, client: pg.Client): Promise<void> {
  const key = client as unknown as { processID: number; secretKey: number };
  const socket = connect(harness.server.port, harness.server.host);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(key.processID, 8);
  packet.writeInt32BE(key.secretKey, 12);
  await new Promise<void>((resolve) => socket.end(packet, () => resolve()));
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
}

/** Settles as 'done' or with the error code, so a test can look at a statement still in flight. */
function track<T>(promise: Promise<T>): { state: () => string; settled: Promise<string> } {
  let state = 'running';
  const settled = promise.then(
    () => (state = 'done'),
    (error: { code?: string }) => (state = error.code ?? 'error'),
  );
  return { state: () => state, settled };
}

describe('each session has an engine backend of its own', () => {
  let harness: Harness;
  const opened: pg.Client[] = [];
  const connect = async (): Promise<pg.Client> => {
    const client = await harness.connect();
    client.on('error', () => undefined);
    opened.push(client);
    return client;
  };

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'ticks', shards: 2 }], definitions: { 'ticks.json': definition } });
    await harness.put('ticks', ticks(0, 50));
  });

  afterAll(async () => {
    await Promise.all(opened.map((client) => client.end().catch(() => undefined)));
    await harness?.close();
  });

  it('a block left open, a long query, a cursor mid-read and an unread result hold up no other session', async () => {
    const idle = await connect();
    await idle.query('BEGIN');
    await idle.query('select count(*) from ticks');

    const long = await connect();
    const longQuery = track(long.query('select pg_sleep(60)'));

    const reading = await connect();
    const cursor = reading.query(new Cursor('select t.n, g from ticks t, generate_series(1, 1000) g'));
    expect(await cursor.read(10)).toHaveLength(10);

    // A client that asks for a large result and reads none of it.
    const stalled = await RawClient.startup(harness.server.port, { user: 'stalled' });
    stalled.socket.pause();
    stalled.write(serialize.query(`select repeat('x', 1000) as filler, g from generate_series(1, 2000000) g`));

    await harness.put('ticks', ticks(50, 7));
    const fifth = await connect();
    expect((await fifth.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    expect((await fifth.query('select count(*)::int as n from ticks')).rows).toEqual([{ n: 57 }]);
    // They all answered while the long query was still running.
    expect(longQuery.state()).toBe('running');
    // The open block and the cursor are as they were.
    expect((await cursor.read(5)).map((row: { n: number }) => typeof row.n)).toEqual(['number', 'number', 'number', 'number', 'number']);
    expect((await idle.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
    await idle.query('COMMIT');

    await cancel(harness, long);
    expect(await longQuery.settled).toBe('57014');
    await cursor.close();
    stalled.socket.destroy();
  });

  it("a cancel stops one session's statement and leaves another's statement and WITH HOLD cursor alone", async () => {
    const a = await connect();
    const b = await connect();
    await b.query('declare held cursor with hold for select n from ticks order by n');
    expect((await b.query('fetch 2 from held')).rows).toEqual([{ n: 0 }, { n: 1 }]);
    const bStatement = b.query('select pg_sleep(1), 42 as answer');
    const aStatement = track(a.query('select pg_sleep(30)'));
    // Cancelled once it runs in the engine, as a real cancel of the backend; a third session of the user sees it run.
    const watcher = await connect();
    await vi.waitFor(
      async () => {
        const running = await watcher.query(`select count(*)::int as n from pg_stat_activity where state = 'active' and query = 'select pg_sleep(30)'`);
        expect(running.rows).toEqual([{ n: 1 }]);
      },
      { timeout: 30_000, interval: 50 },
    );
    await cancel(harness, a);
    expect(await aStatement.settled).toBe('57014');
    expect((await bStatement).rows[0]).toMatchObject({ answer: 42 });
    expect((await b.query('fetch 2 from held')).rows).toEqual([{ n: 2 }, { n: 3 }]);
    // The cancelled session goes on.
    expect((await a.query('select count(*)::int as n from ticks where n < 10')).rows).toEqual([{ n: 10 }]);
  });

  it("sessions see and change none of each other's settings, prepared statements and cursors", async () => {
    const a = await connect();
    const b = await connect();
    await a.query(`set timezone = 'Asia/Tokyo'`);
    await a.query(`select set_config(U&'applic\\0061tion_name', 'changed by a', false)`);
    await a.query('prepare mine as select n from ticks where n = $1');
    await a.query('begin');
    await a.query('declare a_cursor cursor for select n from ticks');
    const shown = async (client: pg.Client) =>
      (
        await client.query(
          `select current_setting('timezone') as tz, current_setting('application_name') as app, pg_backend_pid() as pid,
                  (select count(*)::int from pg_prepared_statements) as prepared, (select count(*)::int from pg_cursors) as cursors`,
        )
      ).rows[0] as { tz: string; app: string; pid: number; prepared: number; cursors: number };
    const seenByA = await shown(a);
    const seenByB = await shown(b);
    expect(seenByA).toMatchObject({ tz: 'Asia/Tokyo', app: 'changed by a', prepared: 1, cursors: 1 });
    expect(seenByB.tz).not.toBe('Asia/Tokyo');
    expect(seenByB).toMatchObject({ prepared: 0, cursors: 0 });
    expect(seenByB.app).not.toBe('changed by a');
    expect(seenByA.pid).not.toBe(seenByB.pid);
    // What the client was told is the backend it runs on.
    expect(seenByA.pid).toBe((a as unknown as { processID: number }).processID);
    await expect(b.query('execute mine(1)')).rejects.toMatchObject({ code: '26000' });
    await a.query('commit');
  });

  it('keeps standard_conforming_strings on, so the gate and the engine read every literal alike', async () => {
    const client = await connect();
    await expect(client.query('set standard_conforming_strings = off')).rejects.toMatchObject({ code: '25006' });
    await expect(client.query(`select set_config('standard_conforming_strings', 'off', false)`)).rejects.toMatchObject({ code: '42501' });
    // With the setting off a backslash would end this literal early and CREATE TABLE would run as a second statement.
    await expect(client.query(`select 'a\\'; create table escape (x int); --'`)).rejects.toMatchObject({ code: '25006' });
    expect((await client.query('select current_user as u, current_setting($1) as scs', ['standard_conforming_strings'])).rows).toEqual([
      { u: 'tester', scs: 'on' },
    ]);
    const refused = new pg.Client({ ...harness.connection, options: '-c standard_conforming_strings=off' });
    await expect(refused.connect()).rejects.toMatchObject({ code: '25006' });
  });

  it('accepts going back to the login role, which leaves the session where it is, and refuses another role with 42501', async () => {
    const client = await connect();
    const who = async () => (await client.query('select current_user as cu, session_user as su')).rows[0];
    for (const sql of ['RESET ROLE', 'SET ROLE NONE', 'RESET SESSION AUTHORIZATION', 'SET SESSION AUTHORIZATION DEFAULT', 'SET ROLE TO DEFAULT']) {
      await client.query(sql);
      expect(await who(), sql).toEqual({ cu: 'tester', su: 'tester' });
    }
    // Inside a transaction block, and over the extended protocol, alike.
    await client.query('BEGIN');
    await client.query({ text: 'SET LOCAL ROLE NONE', values: [] });
    expect(await who()).toEqual({ cu: 'tester', su: 'tester' });
    await client.query('COMMIT');
    const engineAdmin = harness.server.engine.endpoint.user;
    for (const sql of [`SET ROLE ${engineAdmin}`, 'SET ROLE kinesql_reader', `SET SESSION AUTHORIZATION ${engineAdmin}`]) {
      await expect(client.query(sql), sql).rejects.toMatchObject({
        code: '42501',
        message: expect.stringMatching(/^permission denied to set (role|session authorization) "/),
      });
    }
    expect(await who()).toEqual({ cu: 'tester', su: 'tester' });
  });

  it('refuses a client name that is an engine role kinesql did not create', async () => {
    const admin = new pg.Client({ ...harness.connection, user: harness.server.engine.endpoint.user });
    await expect(admin.connect()).rejects.toMatchObject({ code: '28000' });
    const reader = new pg.Client({ ...harness.connection, user: 'kinesql_reader' });
    await expect(reader.connect()).rejects.toMatchObject({ code: '28000' });
  });
});

describe('kinesql.max-connections', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 1 }],
      definitions: { 'ticks.json': definition },
      configure: (config) => ({ ...config, engine: { ...config.engine, maxConnections: 2 } }),
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('answers one client more than the limit with 53300, as PostgreSQL does, and admits it once one leaves', async () => {
    const first = await harness.connect();
    const second = await harness.connect();
    const third = new pg.Client(harness.connection);
    await expect(third.connect()).rejects.toMatchObject({ code: '53300' });
    await first.end();
    // Admitted once kinesql has seen the first client leave.
    const fourth = await vi.waitFor(() => harness.connect(), { timeout: 30_000, interval: 50 });
    expect((await fourth.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await fourth.end();
    await second.end();
  });
});

describe('what a client learns about its server', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({ streams: [], definitions: {} });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('version(), inet_server_port(), inet_server_addr() and SHOW port describe kinesql, not the engine behind it', async () => {
    const client = await harness.connect();
    try {
      const { rows } = await client.query(
        `select version() as v, pg_catalog.version() as qualified, inet_server_port() as port, host(inet_server_addr()) as addr, 'version()' as literal`,
      );
      expect(rows[0].v).toMatch(/^PostgreSQL \d+.*, served by kinesql \d+\.\d+\.\d+/);
      expect(rows[0].qualified).toBe(rows[0].v);
      expect(rows[0].port).toBe(harness.server.port);
      expect(rows[0].addr).toBe('127.0.0.1');
      expect(rows[0].literal).toBe('version()');
      expect((await client.query('SHOW port')).rows).toEqual([{ port: String(harness.server.port) }]);
      await expect(client.query(`set kinesql.server_port = '1'`)).rejects.toMatchObject({ code: '25006' });
    } finally {
      await client.end();
    }
  });
});
