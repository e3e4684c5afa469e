/**
 * One PostgreSQL server process of the embedded engine: initdb, start, stop, and the guards that keep a
 * server from outliving kinesql: a watchdog that stops it when kinesql's process is gone (kill -9, OOM), and
 * at start the stop of a server that a previous kinesql left running over the same data directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerUser } from './embedded-files.js';
import { errorCode } from './file-probes.js';
import { isRunning } from './process-liveness.js';
import type { PostgresBinaries } from './postgres-binaries.js';

const READY_LINE = 'database system is ready to accept connections';
const FAST_SHUTDOWN_WAIT_MS = 4_000;
const IMMEDIATE_SHUTDOWN_WAIT_MS = 2_000;
const LEFTOVER_WAIT_MS = 15_000;
/** Holds the pid of the kinesql process whose engine runs over the data directory. */
export const OWNER_FILE = 'kinesql-owner.pid';

export interface ServerLog {
  onLog(message: string): void;
}

/** Messages in English whatever the machine's locale: kinesql reads the ready line, clients read errors. */
function serverEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LC_MESSAGES: 'C' };
}

function ids(user: ServerUser): { uid?: number; gid?: number } {
  return user.switched ? { uid: user.uid, gid: user.gid } : {};
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function exited(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((done) => child.once('exit', () => done()));
}

function within(ms: number, wait: Promise<void>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((done) => {
    timer = setTimeout(() => done(false), ms);
  });
  return Promise.race([wait.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

/** Runs initdb into dataDir (which must exist, owned by the server user) with `admin` as its superuser. */
export async function runInitdb(
  binaries: PostgresBinaries,
  dataDir: string,
  admin: { user: string; password: string },
  user: ServerUser,
  log: ServerLog,
): Promise<void> {
  // initdb reads the password from a file, in a directory private to the server user.
  const passwordDir = await mkdtemp(join(tmpdir(), 'kinesql-initdb-'));
  const passwordFile = join(passwordDir, 'password');
  try {
    await writeFile(passwordFile, `${admin.password}\n`, { mode: 0o600, flag: 'wx' });
    if (user.switched) await Promise.all([chown(passwordDir, user.uid, user.gid), chown(passwordFile, user.uid, user.gid)]);
    const child = spawn(
      binaries.initdb,
      [
        `--pgdata=${dataDir}`,
        '--auth=scram-sha-256',
        `--username=${admin.user}`,
        `--pwfile=${passwordFile}`,
        '--lc-messages=C',
        '--encoding=UTF8',
        '--no-instructions',
      ],
      { ...ids(user), env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const collect = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      output += text;
      log.onLog(text);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done, fail) => {
      child.once('error', fail);
      child.once('close', (code, signal) => done({ code, signal }));
    });
    if (outcome.code !== 0) throw new Error(`initdb exited with ${outcome.code ?? outcome.signal}: ${output.trim().split('\n').slice(-5).join(' / ')}`);
  } finally {
    await rm(passwordDir, { recursive: true, force: true });
  }
}

export interface ServerProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited, whoever stopped it. */
  readonly exited: Promise<void>;
  /** Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL, each after a wait; resolves once it is gone. */
  stop(): Promise<void>;
}

/**
 * Starts postgres over dataDir and resolves once it accepts connections. The server gets a process group of
 * its own, so that a Ctrl-C at kinesql's terminal reaches kinesql, which then stops it in order.
 */
export async function startServer(binaries: PostgresBinaries, dataDir: string, flags: string[], user: ServerUser, log: ServerLog): Promise<ServerProcess> {
  const child = spawn(binaries.postgres, ['-D', dataDir, ...flags], { ...ids(user), env: serverEnv(), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const gone = exited(child);
  await new Promise<void>((ready, fail) => {
    let settled = false;
    const settle = (error?: Error): void => {
      if (settled) return;
      settled = true;
      if (error === undefined) ready();
      else fail(error);
    };
    let pending = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      log.onLog(text);
      pending = (pending + text).slice(-2 * READY_LINE.length - 200);
      if (pending.includes(READY_LINE)) settle();
    });
    child.once('error', (error) => settle(error));
    child.once('exit', (code, signal) => settle(new Error(`postgres exited with ${code ?? signal} before it accepted connections`)));
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('postgres started without a process id');
  const stop = async (): Promise<void> => {
    if (hasExited(child)) return;
    child.kill('SIGINT');
    if (await within(FAST_SHUTDOWN_WAIT_MS, gone)) return;
    child.kill('SIGQUIT');
    if (await within(IMMEDIATE_SHUTDOWN_WAIT_MS, gone)) return;
    child.kill('SIGKILL');
    await gone;
  };
  return { pid, child, exited: gone, stop };
}

/**
 * A detached shell that waits for kinesql's process to end, then stops the server (fast, then immediate)
 * and removes the given directories. Returns a function that ends the watchdog without doing any of that.
 */
export function watchOverServer(serverPid: number, removeAfter: string[]): () => void {
  const script = [
    'parent=$1; server=$2; shift 2',
    // A zombie (exited, not yet reaped by pid 1) answers kill -0 but is gone, as in process-liveness.ts.
    'running() { kill -0 "$1" 2>/dev/null && ! grep -q "^[0-9]* (.*) Z " "/proc/$1/stat" 2>/dev/null; }',
    'while running "$parent"; do sleep 1; done',
    'kill -INT "$server" 2>/dev/null',
    'i=0; while running "$server" && [ $i -lt 40 ]; do sleep 0.1; i=$((i+1)); done',
    'kill -QUIT "$server" 2>/dev/null',
    'i=0; while running "$server" && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done',
    'for dir in "$@"; do rm -rf -- "$dir"; done',
  ].join('\n');
  const watchdog = spawn('/bin/sh', ['-c', script, 'kinesql-engine-watchdog', String(process.pid), String(serverPid), ...removeAfter], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.on('error', () => undefined);
  watchdog.unref();
  return () => {
    if (!hasExited(watchdog)) watchdog.kill('SIGKILL');
  };
}

async function waitUntilGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((done) => setTimeout(done, 100));
  }
  return true;
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

async function isPostgresOver(pid: number, dataDir: string): Promise<boolean> {
  try {
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return (args[0] ?? '').endsWith('postgres') && args.includes(dataDir);
  } catch {
    return false;
  }
}

/** The kernel's start time of a process (in clock ticks since boot), which tells a process from a later one with its pid. */
async function startTimeOf(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; the fields after its last ')' are plain.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

async function readOwner(file: string): Promise<{ pid: number; started: string } | undefined> {
  try {
    const [pid, started] = (await readFile(file, 'utf8')).trim().split(' ');
    const parsed = Number.parseInt(pid ?? '', 10);
    return Number.isInteger(parsed) && parsed > 0 && started !== undefined ? { pid: parsed, started } : undefined;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Claims dataDir for this process. A server still running over it whose kinesql is gone (killed with -9, say)
 * is stopped first; one whose kinesql is alive is another kinesql's, and the claim fails.
 */
export async function claimDataDir(dataDir: string, user: ServerUser, onLeftover: (pid: number) => void): Promise<void> {
  const file = join(dataDir, OWNER_FILE);
  const owner = await readOwner(file);
  if (owner !== undefined && owner.pid !== process.pid && (await startTimeOf(owner.pid)) === owner.started) {
    throw new Error(`data directory ${dataDir} is in use by another kinesql (pid ${owner.pid}); stop it, or give this one another --data-dir`);
  }
  const server = await readPid(join(dataDir, 'postmaster.pid'));
  if (server !== undefined && isRunning(server) && (await isPostgresOver(server, dataDir))) {
    onLeftover(server);
    process.kill(server, 'SIGINT');
    if (!(await waitUntilGone(server, LEFTOVER_WAIT_MS))) {
      process.kill(server, 'SIGQUIT');
      if (!(await waitUntilGone(server, LEFTOVER_WAIT_MS))) {
        throw new Error(`a PostgreSQL server (pid ${server}) left running over ${dataDir} did not stop; stop it by hand and start kinesql again`);
      }
    }
  }
  await writeFile(file, `${process.pid} ${(await startTimeOf(process.pid)) ?? '0'}\n`, { mode: 0o600 });
  if (user.switched) await chown(file, user.uid, user.gid);
}
