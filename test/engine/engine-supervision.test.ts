import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { makePrivate, serverUser } from '../../src/engine/embedded-files.js';
import { binariesAt, binariesReachableBy, packagedBinaries } from '../../src/engine/postgres-binaries.js';
import { runInitdb, startServer } from '../../src/engine/postgres-process.js';
import { isRunning } from '../../src/engine/process-liveness.js';
import { freePort } from '../support/child-server.js';

const logger = pino({ level: process.env['KINESQL_TEST_LOG'] ?? 'silent' });
const isRoot = process.getuid?.() === 0;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function until(what: string, ms: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

async function answers(port: number): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql', connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query('select 1 as one')).rows[0]?.one === 1;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

interface Served {
  child: ChildProcess;
  port: number;
  output: () => string;
}

/** `kinesql serve` with no tables, in a process of its own; resolves once it answers a query. */
async function serve(tablesDir: string, dataDir?: string): Promise<Served> {
  const port = await freePort();
  const args = ['--import', 'tsx', 'src/cli.ts', 'serve', '--port', String(port), '--tables', tablesDir, '--kinesis-endpoint', 'http://127.0.0.1:9'];
  if (dataDir !== undefined) args.push('--data-dir', dataDir);
  const child = spawn(process.execPath, args, {
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await until('kinesql answers', 90_000, async () => {
    if (child.exitCode !== null) throw new Error(`kinesql exited with ${child.exitCode}: ${output}`);
    return answers(port);
  });
  return { child, port, output: () => output };
}

/** The engine's data directory and server pid, from the 'engine started' log line and its postmaster.pid. */
async function engineOf(served: Served): Promise<{ dataDir: string; pid: number }> {
  const line = served
    .output()
    .split('\n')
    .find((text) => text.includes('"engine started"'));
  if (line === undefined) throw new Error(`no 'engine started' line in: ${served.output()}`);
  const { dataDir } = JSON.parse(line) as { dataDir: string };
  const pid = Number.parseInt((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
  return { dataDir, pid };
}

describe('the embedded engine never outlives kinesql', { timeout: 180_000 }, () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  async function tablesDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'kinesql-no-tables-'));
    dirs.push(dir);
    // As root the engine runs as postgres, which must be able to enter a data directory made inside.
    await chmod(dir, 0o755);
    return dir;
  }

  it('stops its server and removes its temporary data when kinesql is killed with SIGKILL', async () => {
    const served = await serve(await tablesDir());
    children.push(served.child);
    const engine = await engineOf(served);
    expect(isRunning(engine.pid)).toBe(true);

    served.child.kill('SIGKILL');
    await until('the orphaned engine stops', 15_000, () => !isRunning(engine.pid));
    await until('its temporary data directory is removed', 15_000, async () => !(await exists(engine.dataDir)));
  });

  it('starts again on the same data directory right after a SIGKILL, with no manual step', async () => {
    const dataDir = join(await tablesDir(), 'data');
    const tables = await tablesDir();
    const first = await serve(tables, dataDir);
    children.push(first.child);
    const { pid } = await engineOf(first);
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');

    const second = await serve(tables, dataDir);
    children.push(second.child);
    expect(isRunning(pid)).toBe(false);
    expect(await answers(second.port)).toBe(true);
  });

  it('refuses a data directory another kinesql is serving, saying which', async () => {
    const dataDir = join(await tablesDir(), 'data');
    const tables = await tablesDir();
    const first = await serve(tables, dataDir);
    children.push(first.child);

    const port = await freePort();
    const second = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--port', String(port), '--tables', tables, '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(second);
    let output = '';
    second.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(second, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(output).toContain(`in use by another kinesql (pid ${first.child.pid})`);
    expect(await answers(first.port)).toBe(true);
  });

  it('removes its temporary data and stops its server on SIGINT', async () => {
    const served = await serve(await tablesDir());
    children.push(served.child);
    const engine = await engineOf(served);
    served.child.kill('SIGINT');
    const [code] = (await once(served.child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(isRunning(engine.pid)).toBe(false);
    expect(await exists(engine.dataDir)).toBe(false);
  });

  it.skipIf(!isRoot)('as root, runs binaries kept where the postgres user cannot reach them from a copy it can', async () => {
    const user = await serverUser();
    const work = await mkdtemp(join(tmpdir(), 'kinesql-private-checkout-'));
    dirs.push(work);
    await chmod(work, 0o700);
    const packaged = await packagedBinaries();
    const hidden = binariesAt(join(work, 'native'), packaged.version);
    await cp(packaged.root, hidden.root, { recursive: true, verbatimSymlinks: true });

    const cache = join(work, 'cache-parent');
    const sharedCache = await mkdtemp(join(tmpdir(), 'kinesql-cache-test-'));
    dirs.push(sharedCache);
    await chmod(sharedCache, 0o755);
    const usable = await binariesReachableBy(hidden, user, logger, [cache, sharedCache]);
    // The first parent sits inside the 0700 directory too: a copy there would not help, so the second is used.
    expect(usable.root).toBe(join(sharedCache, `postgres-${packaged.version}`));
    expect((await stat(usable.root)).mode & 0o777).toBe(0o755);

    const dataDir = join(sharedCache, 'data');
    await mkdir(dataDir);
    await makePrivate(dataDir, user);
    const log = { onLog: () => undefined };
    await runInitdb(usable, dataDir, { user: 'admin', password: 'secret' }, user, log);
    const socketDir = join(sharedCache, 'socket');
    await mkdir(socketDir);
    await makePrivate(socketDir, user);
    const server = await startServer(usable, dataDir, ['-c', 'listen_addresses=', '-k', socketDir], user, log);
    try {
      const client = new pg.Client({ host: socketDir, port: 5432, user: 'admin', password: 'secret', database: 'postgres' });
      await client.connect();
      const { rows } = await client.query<{ me: string }>('select current_user as me');
      await client.end();
      expect(rows[0]?.me).toBe('admin');
    } finally {
      await server.stop();
    }
    // Asked again, the trusted copy is reused rather than made anew.
    const again = await binariesReachableBy(hidden, user, logger, [sharedCache]);
    expect(again.root).toBe(usable.root);
  });
});
