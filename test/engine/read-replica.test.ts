import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startKinesql, type RunningKinesql } from '../../src/kinesql.js';
import { externalPostgresBinaries, startExternalPostgres, type ExternalPostgres } from '../support/external-postgres.js';
import { startHarness, testLogger, type Harness } from '../support/harness.js';
import { startStandby, type StandbyPostgres } from '../support/standby-postgres.js';

const installed = externalPostgresBinaries() !== undefined;
const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const ticks = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ n: from + i }));
const COUNT = 'select count(*)::int as n from ticks';
/** Long enough for any replay on a busy test machine, short enough for the test that runs into it. */
const READ_MAX_WAIT_MS = 3_000;

async function connect(server: RunningKinesql, user = 'tester'): Promise<pg.Client> {
  const client = new pg.Client({ host: server.host, port: server.port, user, database: 'kinesql' });
  // A backend that ends (the standby shutting down) must not take the test process down.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function query(server: RunningKinesql, sql: string): Promise<Record<string, unknown>[]> {
  const client = await connect(server);
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

async function failure(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected an error');
}

// CI installs Debian's PostgreSQL 15 (.ci/run); a developer machine without it skips.
describe.skipIf(!installed && !process.env['CI'])('client sessions on a hot standby (kinesql.engine-read-url)', () => {
  let primary: ExternalPostgres;
  let standby: StandbyPostgres;
  let harness: Harness;
  /** The same configuration without the standby: its sessions run on the primary. */
  let onPrimary: RunningKinesql;
  let onStandby: RunningKinesql;
  let total = 0;

  async function putTicks(count: number): Promise<void> {
    await harness.put('ticks', ticks(total, count));
    total += count;
  }

  beforeAll(async () => {
    primary = await startExternalPostgres();
    standby = await startStandby(primary);
    harness = await startHarness({
      streams: [
        { name: 'ticks', shards: 3 },
        { name: 'tocks', shards: 1 },
      ],
      definitions: { 'ticks.json': definition },
      configure: (config) => ({
        ...config,
        server: { ...config.server, httpPort: 0 },
        engine: { ...config.engine, url: primary.url, readUrl: standby.url, readMaxWaitMs: READ_MAX_WAIT_MS },
      }),
    });
    onStandby = harness.server;
    const { readUrl: _standby, ...primaryOnly } = harness.config.engine;
    const { httpPort: _http, ...noHttp } = harness.config.server;
    onPrimary = await startKinesql({ ...harness.config, server: noHttp, engine: primaryOnly }, testLogger);
  });

  afterAll(async () => {
    await onPrimary?.close();
    await harness?.close();
    await standby?.stop();
    await primary?.stop();
  });

  it('runs sessions on the standby, where they still cannot write', async () => {
    expect(await query(onStandby, 'select pg_is_in_recovery() as standby')).toEqual([{ standby: true }]);
    expect(await query(onPrimary, 'select pg_is_in_recovery() as standby')).toEqual([{ standby: false }]);
    const client = await connect(onStandby);
    try {
      expect((await failure(client.query('insert into ticks (n) values (1)'))).code).toBe('25006');
      expect((await failure(client.query('create table mine (n int)'))).code).toBe('25006');
    } finally {
      await client.end();
    }
  });

  it('shows every statement through the standby what the same statement through the primary sees, right after records are put', async () => {
    const viaStandby = await connect(onStandby);
    const viaPrimary = await connect(onPrimary);
    try {
      for (let round = 0; round < 8; round++) {
        await putTicks(25);
        // Either server may be the one that catches up: the other then only waits for what it loaded.
        const order = round % 2 === 0 ? [viaStandby, viaPrimary] : [viaPrimary, viaStandby];
        for (const client of order) expect((await client.query(COUNT)).rows).toEqual([{ n: total }]);
      }
      await putTicks(40);
      const [standbyRows, primaryRows] = await Promise.all([
        viaStandby.query('select n from ticks order by n'),
        viaPrimary.query('select n from ticks order by n'),
      ]);
      expect(standbyRows.rows.map((row) => row.n)).toEqual(ticks(0, total).map((tick) => tick.n));
      expect(primaryRows.rows).toEqual(standbyRows.rows);
    } finally {
      await viaStandby.end();
      await viaPrimary.end();
    }
  });

  it('reports a wait for replay longer than 100 ms in a NOTICE, and then shows everything', async () => {
    const client = await connect(onStandby);
    const notices: string[] = [];
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    try {
      await standby.pauseReplay();
      await putTicks(30);
      const counted = client.query(COUNT);
      counted.catch(() => undefined);
      await vi.waitFor(() => expect(notices.some((message) => message.startsWith('waiting for the read replica to replay the catch-up'))).toBe(true), {
        timeout: READ_MAX_WAIT_MS,
        interval: 20,
      });
      await standby.resumeReplay();
      expect((await counted).rows).toEqual([{ n: total }]);
      // /metrics counts the wait among statements' replay waits, one of them over 100 ms.
      const metrics = await (await fetch(`http://127.0.0.1:${onStandby.httpPort}/metrics`)).text();
      const waits = Number(/^kinesql_replica_replay_wait_seconds_count (\d+)/m.exec(metrics)?.[1]);
      const quick = Number(/^kinesql_replica_replay_wait_seconds_bucket\{le="0\.1"\} (\d+)/m.exec(metrics)?.[1]);
      expect(waits).toBeGreaterThan(quick);
    } finally {
      await standby.resumeReplay();
      await client.end();
    }
  });

  it('fails a statement whose replay takes longer than statement_timeout or kinesql.engine-read-max-wait, with 57014', async () => {
    const client = await connect(onStandby);
    try {
      await standby.pauseReplay();
      await putTicks(5);
      await client.query(`set statement_timeout = '300ms'`);
      const timedOut = await failure(client.query(COUNT));
      expect(timedOut).toMatchObject({ code: '57014', message: 'canceling statement due to statement timeout' });
      await client.query('set statement_timeout = 0');
      const tooFarBehind = await failure(client.query(COUNT));
      expect(tooFarBehind.code).toBe('57014');
      expect(tooFarBehind.message).toContain('kinesql.engine-read-max-wait');
      await standby.resumeReplay();
      expect((await client.query(COUNT)).rows).toEqual([{ n: total }]);
    } finally {
      await standby.resumeReplay();
      await client.end();
    }
  });

  it('logs a new client in on the standby only once its role, created on the primary, has been replayed there', async () => {
    await standby.pauseReplay();
    try {
      const login = connect(onStandby, 'newcomer');
      login.catch(() => undefined);
      await vi.waitFor(() => expect(onStandby.replica?.waiting).toBe(1), { timeout: READ_MAX_WAIT_MS / 2, interval: 20 });
      await standby.resumeReplay();
      const client = await login;
      try {
        expect((await client.query('select current_user as who')).rows).toEqual([{ who: 'newcomer' }]);
      } finally {
        await client.end();
      }
    } finally {
      await standby.resumeReplay();
    }
  });

  it('uses a table created for a new definition only once its DDL has been replayed on the standby', async () => {
    await harness.put('tocks', [{ n: 1 }, { n: 2 }]);
    await standby.pauseReplay();
    try {
      const tocks = { ...definition, tableName: 'tocks', streamName: 'tocks' };
      await writeFile(join(harness.tablesDir, 'tocks.json'), JSON.stringify(tocks));
      await vi.waitFor(async () => expect(await query(onPrimary, 'select count(*)::int as n from tocks')).toEqual([{ n: 2 }]), {
        timeout: 20_000,
        interval: 200,
      });
      await vi.waitFor(() => expect(onStandby.store.list().map((table) => table.definition.tableName)).toContain('tocks'), { timeout: 20_000, interval: 100 });
      const counted = query(onStandby, 'select count(*)::int as n from tocks');
      counted.catch(() => undefined);
      await vi.waitFor(() => expect(onStandby.replica?.waiting).toBe(1), { timeout: READ_MAX_WAIT_MS / 2, interval: 20 });
      await standby.resumeReplay();
      expect(await counted).toEqual([{ n: 2 }]);
    } finally {
      await standby.resumeReplay();
    }
  });

  it('answers with an SQLSTATE while the standby is down, stays up, and serves again once it is back', async () => {
    const open = await connect(onStandby);
    const readyz = () => fetch(`http://127.0.0.1:${onStandby.httpPort}/readyz`);
    expect((await readyz()).status).toBe(200);
    await standby.shutDown();
    try {
      const notReady = await readyz();
      expect(notReady.status).toBe(503);
      expect(await notReady.text()).toContain('read replica');
      expect((await failure(open.query(COUNT))).message).toBeTruthy();
      // 57P03 as PostgreSQL says while it cannot take connections, with no address of the standby in it.
      const refused = await failure(connect(onStandby));
      expect(refused).toMatchObject({ code: '57P03', message: 'the read replica is unavailable: kinesql is reconnecting to it' });
      const refusedNewcomer = await failure(connect(onStandby, 'another_newcomer'));
      expect(refusedNewcomer.code).toBe('57P03');
    } finally {
      await standby.startUp();
    }
    await putTicks(10);
    expect(await query(onStandby, COUNT)).toEqual([{ n: total }]);
    expect(await query(onPrimary, COUNT)).toEqual([{ n: total }]);
  });
});
