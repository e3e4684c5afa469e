/**
 * PostgreSQL's own load generator, pgbench, against three servers in front of the same engine, in one run:
 * the engine directly, PgBouncer in session pooling mode (what users already run in front of PostgreSQL), and
 * kinesql. 50 clients × 200 transactions of `select 1` (what each adds to a round trip), then of a stream
 * statement (`count(*)` of a loaded stream table) in sessions started with `kinesql.max_staleness` (a startup
 * option, so kinesql checks the shards were read within the hour and reads nothing from Kinesis), each with the
 * simple and the extended query protocol. Prints tps and mean latency as pgbench reports them, and the ratios
 * against the engine directly.
 * The engine listens on its unix socket only, so the direct runs use it; PgBouncer, a bare Node.js relay (the
 * runtime's own cost of passing bytes along) and kinesql listen on loopback TCP and reach the engine over that
 * same socket. Installs Debian's pgbouncer with apt-get if missing.
 * Sizes: PGBENCH_CLIENTS, PGBENCH_TRANSACTIONS.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { startTradesHarness, TRADE_COUNT } from '../test/clients/fixture.js';

const run = promisify(execFile);
const CLIENTS = Number(process.env['PGBENCH_CLIENTS'] ?? 50);
const TRANSACTIONS = Number(process.env['PGBENCH_TRANSACTIONS'] ?? 200);
const ROLE = 'bench';
const STALENESS_OPTION = '-c kinesql.max_staleness=1h';
const PGBOUNCER = '/usr/sbin/pgbouncer';

/** Where pgbench connects, and as whom. */
interface Target {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
}

interface Result {
  tps: number;
  latencyMs: number;
  processed: string;
  failed: number;
}

function loadAverage(): string {
  return loadavg()
    .map((load) => load.toFixed(2))
    .join(' ');
}

async function pgbenchBinary(): Promise<string> {
  const versions = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  for (const version of versions.sort().reverse()) {
    const candidate = `/usr/lib/postgresql/${version}/bin/pgbench`;
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('pgbench not found under /usr/lib/postgresql/*/bin: run scripts/ensure-test-tools.sh');
}

async function ensurePgbouncer(): Promise<void> {
  if (existsSync(PGBOUNCER)) return;
  process.stdout.write('installing pgbouncer with apt-get\n');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = async (...args: string[]) => {
    const [command, ...rest] = [...sudo, 'apt-get', ...args];
    await run(command!, rest, { env });
  };
  await apt('update', '-qq');
  await apt('install', '-y', '-qq', '--no-install-recommends', 'pgbouncer');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no loopback port');
  return address.port;
}

function parsePgbench(output: string): Result {
  const number = (pattern: RegExp): number => Number(pattern.exec(output)?.[1] ?? Number.NaN);
  return {
    tps: number(/tps = ([\d.]+)/),
    latencyMs: number(/latency average = ([\d.]+) ms/),
    processed: /actually processed: (\d+\/\d+)/.exec(output)?.[1] ?? '?',
    failed: number(/number of failed transactions: (\d+)/) || 0,
  };
}

async function pgbench(
  binary: string,
  target: Target,
  script: string,
  protocol: 'simple' | 'extended',
  options = '',
  transactions = TRANSACTIONS,
): Promise<Result> {
  const args = ['-n', '-f', script, '-c', String(CLIENTS), '-j', '2', '-t', String(transactions), '-M', protocol];
  args.push('-h', target.host, '-p', String(target.port), '-U', target.user, target.database);
  const env: NodeJS.ProcessEnv = { ...process.env, PGOPTIONS: options, PGSSLMODE: 'disable' };
  if (target.password) env['PGPASSWORD'] = target.password;
  else delete env['PGPASSWORD'];
  const { stdout } = await run(binary, args, { env, maxBuffer: 1 << 20 }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`pgbench against ${target.host}:${target.port} failed: ${error.stderr ?? error.message}`);
  });
  const result = parsePgbench(stdout);
  if (Number.isNaN(result.tps)) throw new Error(`unreadable pgbench output:\n${stdout}`);
  return result;
}

/**
 * A bare Node.js relay on a free loopback port: each client connection piped both ways to the engine's unix
 * socket, nothing read or checked. What the runtime's own socket handling costs a round trip on this machine,
 * the floor under anything kinesql does per statement.
 */
async function startBareRelay(engine: Target): Promise<{ target: Target; stop: () => Promise<void> }> {
  const socketPath = engine.host.startsWith('/') ? join(engine.host, `.s.PGSQL.${engine.port}`) : undefined;
  const relay = createServer((client) => {
    client.setNoDelay(true);
    const backend = socketPath ? createConnection(socketPath) : createConnection(engine.port, engine.host);
    client.pipe(backend);
    backend.pipe(client);
    client.on('error', () => backend.destroy());
    backend.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const address = relay.address();
  if (address === null || typeof address === 'string') throw new Error('no loopback port');
  return {
    target: { ...engine, host: '127.0.0.1', port: address.port },
    stop: () => new Promise((resolve) => relay.close(() => resolve())),
  };
}

/**
 * PgBouncer in session pooling mode on a free loopback port, logging in clients from an auth file and
 * opening up to `CLIENTS` server connections to the engine. As root it runs as the owner of the engine's
 * private socket directory (PgBouncer refuses to run as root).
 */
async function startPgbouncer(engine: Target): Promise<{ target: Target; stop: () => Promise<void> }> {
  const workDir = await mkdtemp(join(tmpdir(), 'kinesql-pgbouncer-'));
  const port = await freePort();
  const owner = engine.host.startsWith('/') ? await stat(engine.host) : undefined;
  const asOwner = process.getuid?.() === 0 && owner !== undefined ? { uid: owner.uid, gid: owner.gid } : {};
  const config = join(workDir, 'pgbouncer.ini');
  const authFile = join(workDir, 'userlist.txt');
  await writeFile(authFile, `"${engine.user}" "${engine.password ?? ''}"\n`, { mode: 0o600 });
  await writeFile(
    config,
    [
      '[databases]',
      `${engine.database} = host=${engine.host} port=${engine.port} dbname=${engine.database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${workDir}`,
      'auth_type = scram-sha-256',
      `auth_file = ${authFile}`,
      'pool_mode = session',
      `default_pool_size = ${CLIENTS}`,
      `max_client_conn = ${CLIENTS * 2}`,
      // Sessions of the stream round start with kinesql.max_staleness, which only kinesql reads.
      'ignore_startup_parameters = extra_float_digits, options',
      `logfile = ${join(workDir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  if (asOwner.uid !== undefined) {
    for (const file of [workDir, config, authFile]) await chown(file, asOwner.uid, asOwner.gid);
  }
  const child: ChildProcess = spawn(PGBOUNCER, [config], { ...asOwner, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const target: Target = { host: '127.0.0.1', port, database: engine.database, user: engine.user, password: engine.password ?? '' };
  for (let attempt = 0; ; attempt += 1) {
    const client = new pg.Client({ ...target, connectionTimeoutMillis: 1_000 });
    try {
      await client.connect();
      await client.end();
      break;
    } catch (error) {
      if (attempt >= 50 || child.exitCode !== null) {
        child.kill();
        await rm(workDir, { recursive: true, force: true });
        throw new Error(`PgBouncer did not come up: ${stderr || (error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    target,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT');
        await exited;
      }
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

export async function runPgbenchBench(): Promise<void> {
  const binary = await pgbenchBinary();
  await ensurePgbouncer();
  const workDir = await mkdtemp(join(tmpdir(), 'kinesql-pgbench-'));
  const harness = await startTradesHarness();
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    const { endpoint } = harness.server.engine;
    const direct: Target = {
      host: endpoint.host,
      port: endpoint.port,
      database: endpoint.database,
      user: ROLE,
      password: await harness.server.roles.passwordFor(ROLE),
    };
    const viaKinesql: Target = {
      host: String(harness.connection.host),
      port: Number(harness.connection.port),
      database: String(harness.connection.database),
      user: ROLE,
    };
    // Load the stream table once (and check it), so that every server answers the stream statement from the same rows.
    const warm = new pg.Client({ ...viaKinesql, options: STALENESS_OPTION });
    await warm.connect();
    const { rows } = await warm.query('select count(*)::int as n from market.trades');
    await warm.end();
    if (rows[0]?.n !== TRADE_COUNT) throw new Error(`the stream table answered ${JSON.stringify(rows)}, not ${TRADE_COUNT} rows`);

    const selectOne = join(workDir, 'select-one.sql');
    const streamStatement = join(workDir, 'stream-count.sql');
    await writeFile(selectOne, 'select 1;\n');
    await writeFile(streamStatement, 'select count(*) from market.trades;\n');

    out(`pgbench ${binary}; ${CLIENTS} clients × ${TRANSACTIONS} transactions, -j 2; load average before: ${loadAverage()}`);
    const line = (label: string, result: Result): string =>
      `  ${label.padEnd(30)} ${result.tps.toFixed(0).padStart(7)} tps   latency avg ${result.latencyMs.toFixed(3).padStart(7)} ms   processed ${result.processed}${result.failed ? `   failed ${result.failed}` : ''}`;
    const rounds = [
      { what: '`select 1`', script: selectOne, options: '', goal: 0.7 },
      { what: 'stream `count(*)` with max_staleness (startup option)', script: streamStatement, options: STALENESS_OPTION, goal: 0.6 },
    ];
    let failures = 0;
    for (const round of rounds) {
      for (const protocol of ['simple', 'extended'] as const) {
        out(`${round.what}, -M ${protocol}:`);
        const engine = await pgbench(binary, direct, round.script, protocol, round.options);
        out(line('engine directly (unix socket)', engine));
        // A fresh PgBouncer per measurement, its pool filled by a short pass first (its steady state), and stopped
        // afterwards so its idle server connections do not count against the engine's limit during kinesql's turn.
        const bouncer = await startPgbouncer(direct);
        let pooled: Result;
        try {
          await pgbench(binary, bouncer.target, round.script, protocol, round.options, 5);
          pooled = await pgbench(binary, bouncer.target, round.script, protocol, round.options);
        } finally {
          await bouncer.stop();
        }
        out(line('PgBouncer (session, TCP)', pooled));
        const relay = await startBareRelay(direct);
        let relayed: Result;
        try {
          relayed = await pgbench(binary, relay.target, round.script, protocol, round.options);
        } finally {
          await relay.stop();
        }
        out(line('bare Node.js relay (TCP)', relayed));
        const kinesql = await pgbench(binary, viaKinesql, round.script, protocol, round.options);
        out(line('kinesql (TCP)', kinesql));
        out(
          `  ratio vs engine directly: kinesql ${(kinesql.tps / engine.tps).toFixed(2)}× (goal ≥ ${round.goal}×), PgBouncer ${(pooled.tps / engine.tps).toFixed(2)}×, bare Node.js relay ${(relayed.tps / engine.tps).toFixed(2)}×`,
        );
        failures += engine.failed + pooled.failed + relayed.failed + kinesql.failed;
      }
    }
    out(`load average after: ${loadAverage()}`);
    if (failures > 0) process.exitCode = 1;
  } finally {
    await harness.close();
    await rm(workDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runPgbenchBench();
