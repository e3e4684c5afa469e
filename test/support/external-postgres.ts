import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { isRunning } from '../../src/engine/process-liveness.js';

const run = promisify(execFile);

export interface ExternalPostgres {
  url: string;
  /** superuser URL, for test assertions */
  adminUrl: string;
  port: number;
  dataDir: string;
  /** kill -9 of the postmaster (the server is then down until startAgain). */
  crash(): Promise<void>;
  /** Starts the server again on the same port and data directory after crash(); resolves once it accepts logins. */
  startAgain(): Promise<void>;
  /** `pg_ctl restart -m immediate`: every process stopped at once (no checkpoint), then started again. */
  restartImmediately(): Promise<void>;
  stop(): Promise<void>;
}

const DEBIAN_BIN_DIR = '/usr/lib/postgresql/15/bin';
const READY_ATTEMPTS = 300;
const READY_INTERVAL_MS = 100;
const STOP_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 3;

/** Debian's PostgreSQL 15 server binaries (postgresql-15 package), or undefined when not installed. */
export function externalPostgresBinaries(): string | undefined {
  for (const program of ['postgres', 'initdb']) {
    try {
      accessSync(join(DEBIAN_BIN_DIR, program), constants.X_OK);
    } catch {
      return undefined;
    }
  }
  return DEBIAN_BIN_DIR;
}

export interface RunAs {
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root, so as root everything runs as the `postgres` system user. */
export async function runAsUser(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  let entry: string;
  try {
    entry = (await run('getent', ['passwd', 'postgres'])).stdout.trim();
  } catch {
    throw new Error('running as root, but there is no `postgres` system user to run the PostgreSQL server as');
  }
  const fields = entry.split(':');
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`unexpected passwd entry for postgres: ${entry}`);
  return { uid, gid };
}

/** Whether every directory from / down to `dir` can be traversed by other users. */
export function traversableByOthers(dir: string): boolean {
  for (let current = dir; ; current = dirname(current)) {
    try {
      if ((statSync(current).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (dirname(current) === current) return true;
  }
}

export async function makePrivateDir(base: string, prefix: string, owner: RunAs | undefined): Promise<string> {
  const dir = await mkdtemp(join(base, prefix));
  if (owner) await chown(dir, owner.uid, owner.gid);
  await chmod(dir, 0o700);
  return dir;
}

async function chooseLocale(): Promise<string> {
  try {
    const { stdout } = await run('locale', ['-a']);
    const names = stdout.split('\n').map((name) => name.trim().toLowerCase().replace('-', ''));
    if (names.includes('c.utf8')) return 'C.UTF-8';
  } catch {
    // No `locale` program: plain C is always there.
  }
  return 'C';
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port was assigned'))));
    });
  });
}

/** The caller's environment without libpq settings, so nothing outside points the server or initdb elsewhere. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PG')));
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

function logTail(logFile: string): string {
  try {
    return readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no server log)';
  }
}

export interface ExternalPostgresOptions {
  /** Further `-c name=value` server settings, kept across restarts. */
  settings?: readonly string[];
  /** Lets every role log in from 127.0.0.1 without a password (a Citus worker, reached by its coordinator as each role). */
  trustLoopback?: boolean;
}

/**
 * A throwaway PostgreSQL 15 cluster from Debian's server binaries, listening on a free port on 127.0.0.1, with a
 * database `kinesql` owned by a non-superuser role `kinesql_owner` that may create roles.
 */
export async function startExternalPostgres(options: ExternalPostgresOptions = {}): Promise<ExternalPostgres> {
  const binaries = externalPostgresBinaries();
  if (!binaries) throw new Error(`PostgreSQL 15 server binaries are not installed in ${DEBIAN_BIN_DIR} (Debian package postgresql-15)`);
  const owner = await runAsUser();
  const base = !owner || traversableByOthers(tmpdir()) ? tmpdir() : '/tmp';
  if (owner && !traversableByOthers(base)) throw new Error(`the postgres user cannot reach ${base}`);

  const dataDir = await makePrivateDir(base, 'kinesql-pg-data-', owner);
  const socketDir = await makePrivateDir(base, 'kinesql-pg-sock-', owner);
  const removeDirs = async () => {
    await rm(dataDir, { recursive: true, force: true });
    await rm(socketDir, { recursive: true, force: true });
  };
  const adminPassword = randomBytes(18).toString('hex');
  const ownerPassword = randomBytes(18).toString('hex');
  const spawnIdentity = owner ? { uid: owner.uid, gid: owner.gid } : {};

  let postmaster: ChildProcess | undefined;
  let port = 0;
  const onProcessExit = () => {
    if (postmaster && !exited(postmaster)) postmaster.kill('SIGQUIT');
  };
  try {
    const pwfile = join(socketDir, 'pwfile');
    await writeFile(pwfile, `${adminPassword}\n`, { mode: 0o600 });
    if (owner) await chown(pwfile, owner.uid, owner.gid);
    const locale = await chooseLocale();
    try {
      await new Promise<void>((resolve, reject) => {
        execFile(
          join(binaries, 'initdb'),
          // --no-sync: the cluster is thrown away, so flushing it to disk only costs time.
          ['-D', dataDir, '-U', 'postgres', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', `--locale=${locale}`, '--no-sync'],
          { ...spawnIdentity, cwd: socketDir, env: cleanEnv() },
          (error, stdout, stderr) => (error ? reject(new Error(`initdb failed: ${error.message}\n${stdout}${stderr}`)) : resolve()),
        );
      });
    } finally {
      await rm(pwfile, { force: true });
    }

    if (options.trustLoopback) {
      const hba = join(dataDir, 'pg_hba.conf');
      await writeFile(hba, `host all all 127.0.0.1/32 trust\n${await readFile(hba, 'utf8')}`);
    }
    ({ postmaster, port } = await launchPostgres({ binaries, dataDir, socketDir, owner, adminPassword, settings: options.settings }));
    process.once('exit', onProcessExit);

    const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: adminPassword, database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE kinesql_owner LOGIN CREATEROLE PASSWORD ${admin.escapeLiteral(ownerPassword)}`);
      await admin.query('CREATE DATABASE kinesql OWNER kinesql_owner');
    } finally {
      await admin.end();
    }
  } catch (error) {
    process.off('exit', onProcessExit);
    if (postmaster) await stopPostgres(postmaster);
    await removeDirs();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  const launched = { binaries, dataDir, socketDir, owner, adminPassword, port, settings: options.settings };
  return {
    url: `postgresql://kinesql_owner:${encodeURIComponent(ownerPassword)}@127.0.0.1:${port}/kinesql`,
    adminUrl: `postgresql://postgres:${encodeURIComponent(adminPassword)}@127.0.0.1:${port}/kinesql`,
    port,
    dataDir,
    async crash() {
      const pid = await postmasterPid(dataDir);
      if (pid === undefined) throw new Error('the server is not running');
      process.kill(pid, 'SIGKILL');
      await waitForPidExit(pid);
    },
    async startAgain() {
      // Backends of the killed postmaster leave once they notice; until then the old shared memory is in use.
      for (let attempt = 1; ; attempt++) {
        try {
          ({ postmaster } = await launchPostgres(launched));
          return;
        } catch (error) {
          if (attempt >= PORT_ATTEMPTS * 10) throw error;
          await delay(READY_INTERVAL_MS * 5);
        }
      }
    },
    async restartImmediately() {
      // The restarted server is pg_ctl's child, no longer this process's: stop() finds it by its pid file.
      // Its own log file: postgres.log was created by this process, which the server user may not write to.
      const logFile = join(dataDir, 'pg_ctl.log');
      await new Promise<void>((resolve, reject) => {
        execFile(
          join(binaries, 'pg_ctl'),
          ['restart', '-D', dataDir, '-m', 'immediate', '-w', '-t', '60', '-l', logFile],
          { ...spawnIdentity, cwd: dataDir, env: cleanEnv() },
          (error, stdout, stderr) =>
            error ? reject(new Error(`pg_ctl restart failed: ${error.message}\n${stdout}${stderr}\n${logTail(logFile)}`)) : resolve(),
        );
      });
    },
    stop() {
      stopping ??= (async () => {
        if (postmaster) await stopPostgres(postmaster);
        const pid = await postmasterPid(dataDir);
        if (pid !== undefined) {
          process.kill(pid, 'SIGINT');
          await waitForPidExit(pid);
        }
        process.off('exit', onProcessExit);
        await removeDirs();
      })();
      return stopping;
    },
  };
}

/** The pid of the postmaster running on dataDir (its postmaster.pid), or undefined when none runs. */
async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return isRunning(pid) ? pid : undefined;
}

async function waitForPidExit(pid: number): Promise<void> {
  const deadline = performance.now() + STOP_TIMEOUT_MS;
  for (;;) {
    if (!isRunning(pid)) return;
    if (performance.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      return;
    }
    await delay(20);
  }
}

export interface LaunchOptions {
  binaries: string;
  dataDir: string;
  socketDir: string;
  owner: RunAs | undefined;
  /** The superuser's password, to tell when the server accepts logins. */
  adminPassword: string;
  /** Listen on this port; a free one (retried when taken meanwhile) when absent. */
  port?: number;
  /** Further `-c name=value` settings. */
  settings?: readonly string[];
}

/** Starts `postgres` on an initialized data directory, listening on 127.0.0.1; resolves once it accepts logins. */
export async function launchPostgres(options: LaunchOptions): Promise<{ postmaster: ChildProcess; port: number }> {
  const { binaries, dataDir, socketDir, owner, adminPassword } = options;
  const spawnIdentity = owner ? { uid: owner.uid, gid: owner.gid } : {};
  const logFile = join(dataDir, 'postgres.log');
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const logFd = openSync(logFile, 'a');
    const logStart = fstatSync(logFd).size;
    let child: ChildProcess;
    try {
      child = spawn(
        join(binaries, 'postgres'),
        [
          '-D',
          dataDir,
          '-c',
          'listen_addresses=127.0.0.1',
          '-p',
          String(port),
          '-k',
          socketDir,
          '-c',
          'max_connections=300',
          ...(options.settings ?? []).flatMap((setting) => ['-c', setting]),
        ],
        { ...spawnIdentity, cwd: dataDir, env: cleanEnv(), stdio: ['ignore', logFd, logFd] },
      );
    } finally {
      closeSync(logFd);
    }
    const spawnFailure = new Promise<Error>((resolve) => child.once('error', resolve));
    const ready = await waitUntilReady(child, port, adminPassword, spawnFailure);
    if (ready === true) return { postmaster: child, port };
    await stopPostgres(child, 'SIGQUIT');
    // Another process may have taken the port between our probe and the server's bind.
    const attemptLog = (await readFile(logFile).catch(() => Buffer.alloc(0))).subarray(logStart).toString('utf8');
    const portTaken = /could not bind|Address already in use/i.test(attemptLog);
    if (!portTaken || options.port !== undefined || attempt >= PORT_ATTEMPTS)
      throw new Error(`PostgreSQL did not start: ${ready.message}\n${logTail(logFile)}`);
  }
}

/** Stops a server: SIGINT is pg_ctl's "fast" shutdown (open sessions are rolled back and disconnected). */
export async function stopPostgres(child: ChildProcess, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  if (!exited(child)) child.kill(signal);
  if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
    child.kill('SIGKILL');
    await waitForExit(child, 5_000);
  }
}

/** Polls until a superuser login succeeds; returns the last failure if the server exits or never answers. */
async function waitUntilReady(child: ChildProcess, port: number, password: string, spawnFailure: Promise<Error>): Promise<true | Error> {
  let failure: Error = new Error('no connection attempt was made');
  let spawnError: Error | undefined;
  void spawnFailure.then((error) => (spawnError = error));
  for (let attempt = 0; attempt < READY_ATTEMPTS; attempt++) {
    if (spawnError) return spawnError;
    if (exited(child)) return new Error(`the server exited (code ${child.exitCode}, signal ${child.signalCode}); last connection error: ${failure.message}`);
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 2_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.end();
      return true;
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
      await client.end().catch(() => {});
    }
    await delay(READY_INTERVAL_MS);
  }
  return new Error(`no connection after ${READY_ATTEMPTS} attempts: ${failure.message}`);
}
