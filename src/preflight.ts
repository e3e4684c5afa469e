/**
 * Checks that take well under a second and catch the mistakes that would otherwise surface as raw errors
 * after the engine has started: a port in use, a definitions directory that is not there, a data directory
 * kinesql cannot use, an engine URL nothing answers at. Each failure is one message naming the flag and key.
 */
import { constants } from 'node:fs';
import { access, stat, statfs } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { KinesqlConfig } from './config/config.js';
import { errorCode } from './engine/file-probes.js';
import { type EngineEndpoint, endpointFromUrl } from './engine/engine.js';

const ENGINE_CONNECT_TIMEOUT_MS = 3_000;

/** Filesystem magic numbers (statfs f_type) of kernel pseudo-filesystems where no data directory can live. */
const PSEUDO_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x42494e4d, 'binfmt_misc'],
]);

export class PreflightError extends Error {}

async function checkPortFree(host: string, port: number, what: string): Promise<void> {
  if (port === 0) return;
  const server = createServer();
  try {
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen({ host, port, exclusive: true }, () => done());
    });
  } catch (error) {
    const reason = errorCode(error);
    if (reason === 'EADDRINUSE')
      throw new PreflightError(`${what} ${host}:${port} is already in use: stop what listens there, or choose another port with ${flagFor(what)}`);
    if (reason === 'EACCES')
      throw new PreflightError(`${what} ${host}:${port} needs privileges this process lacks (ports below 1024): choose another with ${flagFor(what)}`);
    if (reason === 'EADDRNOTAVAIL' || reason === 'ENOTFOUND') {
      throw new PreflightError(`${what}: ${host} is not an address of this machine: choose one with --host (kinesql.host)`);
    }
    throw new PreflightError(`${what} ${host}:${port} cannot be listened on (${reason ?? (error as Error).message})`);
  } finally {
    await new Promise<void>((done) => server.close(() => done()));
  }
}

function flagFor(what: string): string {
  return what === 'the HTTP port' ? '--http-port (kinesql.http-port)' : '--port (kinesql.port)';
}

async function checkTablesDirectory(location: string): Promise<void> {
  if (location.startsWith('s3://')) return;
  const dir = resolve(location);
  const hint = 'set --tables (kinesql.table-description-dir / kinesis.table-description-dir) to the directory of your definitions';
  try {
    if (!(await stat(dir)).isDirectory()) throw new PreflightError(`table definitions: ${dir} is not a directory; ${hint}`);
    await access(dir, constants.R_OK | constants.X_OK);
  } catch (error) {
    if (error instanceof PreflightError) throw error;
    if (errorCode(error) === 'ENOENT') throw new PreflightError(`table definitions: ${dir} does not exist; ${hint}`);
    throw new PreflightError(
      `table definitions: ${dir} cannot be read (${errorCode(error) ?? (error as Error).message}); make it readable by this user, or ${hint}`,
    );
  }
}

/** The directory itself when it exists, else the nearest existing parent (where it would be created). */
async function nearestExisting(dir: string): Promise<string> {
  for (let current = dir; ; current = dirname(current)) {
    try {
      await stat(current);
      return current;
    } catch (error) {
      if (errorCode(error) !== 'ENOENT' || dirname(current) === current) throw error;
    }
  }
}

async function checkDataDirectory(dataDir: string): Promise<void> {
  const dir = resolve(dataDir);
  const what = `the data directory ${dir} (--data-dir, kinesql.data-dir)`;
  const existing = await nearestExisting(dir);
  const kind = PSEUDO_FILESYSTEMS.get(Number((await statfs(existing)).type));
  if (kind !== undefined)
    throw new PreflightError(`${what} is on the kernel's ${kind} pseudo-filesystem, which cannot hold files: choose a directory on a disk`);
  const info = await stat(existing);
  if (existing === dir && !info.isDirectory()) throw new PreflightError(`${what} is a file, not a directory: choose a directory`);
  try {
    await access(existing, constants.W_OK | constants.X_OK);
  } catch {
    const where = existing === dir ? 'it' : `its parent ${existing}`;
    throw new PreflightError(
      `${what} cannot be written: ${where} is not writable by this user (uid ${process.getuid?.() ?? '?'}); change its owner or choose another directory`,
    );
  }
}

/** PostgreSQL's SSLRequest: any PostgreSQL server answers it with one byte, 'S' or 'N', before authentication. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** Connects to the engine's address and checks that a PostgreSQL server answers there. */
async function checkEngineReachable(url: string, key: string, flag: string): Promise<void> {
  let endpoint: EngineEndpoint;
  try {
    endpoint = endpointFromUrl(url, key);
  } catch (error) {
    throw new PreflightError(`${(error as Error).message} (${flag})`);
  }
  const onSocket = endpoint.host.startsWith('/');
  const where = onSocket ? join(endpoint.host, `.s.PGSQL.${endpoint.port}`) : `${endpoint.host}:${endpoint.port}`;
  const name = `the engine at ${where} (${flag}, ${key})`;
  const socket = onSocket ? createConnection(where) : createConnection({ host: endpoint.host, port: endpoint.port });
  let connected = false;
  try {
    const answer = await new Promise<number | undefined>((done, fail) => {
      const timer = setTimeout(() => fail(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), ENGINE_CONNECT_TIMEOUT_MS);
      socket.once('connect', () => {
        connected = true;
        socket.write(SSL_REQUEST);
      });
      socket.once('data', (chunk: Buffer) => {
        clearTimeout(timer);
        done(chunk[0]);
      });
      socket.once('close', () => {
        clearTimeout(timer);
        done(undefined);
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        fail(error);
      });
    });
    // 'S' or 'N'; an old server may answer with an ErrorResponse ('E'), which is PostgreSQL too.
    if (answer === 0x53 || answer === 0x4e || answer === 0x45) return;
    throw new PreflightError(
      `${name} accepted a connection but is not a PostgreSQL server (it ${answer === undefined ? 'closed the connection' : 'answered something else'}): check the host and port`,
    );
  } catch (error) {
    if (error instanceof PreflightError) throw error;
    const reason = errorCode(error);
    if (connected && (reason === 'ECONNRESET' || reason === 'EPIPE')) {
      throw new PreflightError(`${name} accepted a connection but is not a PostgreSQL server (it closed the connection): check the host and port`);
    }
    if (reason === 'ECONNREFUSED' || reason === 'ENOENT') {
      throw new PreflightError(`${name} refuses connections: is PostgreSQL running there, and listening on that address (listen_addresses, port)?`);
    }
    if (reason === 'ETIMEDOUT') {
      throw new PreflightError(
        connected
          ? `${name} accepted a connection but did not answer as PostgreSQL within ${ENGINE_CONNECT_TIMEOUT_MS / 1000} s: check the host and port`
          : `${name} did not answer within ${ENGINE_CONNECT_TIMEOUT_MS / 1000} s: check the host name, routes and firewalls`,
      );
    }
    if (reason === 'ENOTFOUND' || reason === 'EAI_AGAIN') throw new PreflightError(`${name}: the host name does not resolve`);
    throw new PreflightError(`${name} cannot be reached (${reason ?? (error as Error).message})`);
  } finally {
    socket.destroy();
  }
}

/** Runs every check that applies to the configuration; throws a PreflightError with one actionable message. */
export async function preflight(config: KinesqlConfig): Promise<void> {
  await checkPortFree(config.server.host, config.server.port, 'the port');
  if (config.server.httpPort !== undefined) await checkPortFree(config.server.host, config.server.httpPort, 'the HTTP port');
  await checkTablesDirectory(config.catalog.tablesLocation);
  const engine = config.engine;
  if (engine?.url === undefined && config.dataDir !== undefined) await checkDataDirectory(config.dataDir);
  if (engine?.url !== undefined) await checkEngineReachable(engine.url, 'kinesql.engine-url', '--engine-url');
  if (engine?.readUrl !== undefined) await checkEngineReachable(engine.readUrl, 'kinesql.engine-read-url', '--engine-read-url');
}
