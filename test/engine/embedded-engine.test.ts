import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedEngine, type EmbeddedEngine, type EngineEndpoint } from '../../src/engine/embedded-engine.js';

const logger = pino({ level: process.env['KINESQL_TEST_LOG'] ?? 'silent' });
const TIMEOUT = 60_000;

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function withClient<T>(endpoint: EngineEndpoint, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(endpoint);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

describe('the embedded PostgreSQL engine', { timeout: TIMEOUT }, () => {
  const engines: EmbeddedEngine[] = [];
  const dirs: string[] = [];

  afterEach(async () => {
    await Promise.all(engines.splice(0).map((engine) => engine.stop()));
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  }, TIMEOUT);

  it('serves PostgreSQL 18 as kinesql_admin on a private unix socket only, and cleans up on stop', async () => {
    const engine = await startEmbeddedEngine({ maxConnections: 20, logger });
    engines.push(engine);
    const { endpoint } = engine;
    expect(endpoint.database).toBe('kinesql');

    const row = await withClient(endpoint, async (client) => {
      const result = await client.query<{ pg18: boolean; me: boolean; db: string; listen: string; max: string; fsync: string }>(
        `select current_setting('server_version_num')::int >= 180000 as pg18, current_user = 'kinesql_admin' as me,
                current_database() as db, current_setting('listen_addresses') as listen, current_setting('max_connections') as max,
                current_setting('fsync') as fsync`,
      );
      return result.rows[0];
    });
    // A temporary data directory is never fsynced: a crash recovers without syncing the whole directory first.
    expect(row).toEqual({ pg18: true, me: true, db: 'kinesql', listen: '', max: '20', fsync: 'off' });
    const shown = await withClient(endpoint, (client) => client.query<{ listen_addresses: string }>('show listen_addresses'));
    expect(shown.rows[0]?.listen_addresses).toBe('');

    expect((await stat(endpoint.host)).mode & 0o777).toBe(0o700);
    expect((await stat(engine.dataDir)).mode & 0o777).toBe(0o700);
    expect(await exists(join(endpoint.host, '.s.PGSQL.5432'))).toBe(true);

    await engine.stop();
    await engine.stop();
    expect(await exists(engine.dataDir)).toBe(false);
    expect(await exists(endpoint.host)).toBe(false);
  });

  it('keeps a data directory, with its rows, across a stop and a second start', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'kinesql-kept-'));
    dirs.push(dataDir);

    const first = await startEmbeddedEngine({ dataDir, maxConnections: 10, logger });
    engines.push(first);
    expect(first.dataDir).toBe(dataDir);
    await withClient(first.endpoint, async (client) => {
      await client.query('create table kept (note text)');
      await client.query(`insert into kept values ('still here')`);
    });
    await first.stop();
    expect(await exists(join(dataDir, 'PG_VERSION'))).toBe(true);
    expect(await exists(first.endpoint.host)).toBe(false);

    const second = await startEmbeddedEngine({ dataDir, maxConnections: 10, logger });
    engines.push(second);
    expect(second.endpoint.password).toBe(first.endpoint.password);
    const notes = await withClient(second.endpoint, (client) => client.query<{ note: string }>('select note from kept'));
    expect(notes.rows).toEqual([{ note: 'still here' }]);
    // A kept one must survive the machine's crashes too: its writes reach the disk.
    const fsync = await withClient(second.endpoint, (client) => client.query<{ fsync: string }>('show fsync'));
    expect(fsync.rows).toEqual([{ fsync: 'on' }]);
  });

  it('starts the server again after it is killed, and tells its listeners', async () => {
    const engine = await startEmbeddedEngine({ maxConnections: 10, logger });
    engines.push(engine);
    const restarted = new Promise<void>((resolve) => engine.onRestart(resolve));

    const pid = Number.parseInt((await readFile(join(engine.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
    expect(Number.isInteger(pid)).toBe(true);
    process.kill(pid, 'SIGKILL');
    await restarted;

    const newPid = Number.parseInt((await readFile(join(engine.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
    expect(newPid).not.toBe(pid);
    const one = await withClient(engine.endpoint, (client) =>
      client.query<{ one: number; fsync: string }>(`select 1 as one, current_setting('fsync') as fsync`),
    );
    expect(one.rows).toEqual([{ one: 1, fsync: 'off' }]);

    await engine.stop();
    expect(await exists(engine.dataDir)).toBe(false);
  });
});
