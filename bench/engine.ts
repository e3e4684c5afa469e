/**
 * What the engine costs and spares, each against a baseline in the same run (README, "The engine: a real
 * PostgreSQL server"):
 *   - warm count(*), GROUP BY and a time-window query over 1,000,000 loaded records through kinesql, against
 *     the same SQL sent straight to the engine as the same client role (its row policy applies there too);
 *   - 10 clients running short stream queries, alone and while another session runs a long analytic query
 *     (through kinesql, and straight on the engine to tell its share apart);
 *   - the memory of the kinesql process and, apart, of the engine's processes, and the engine's database size.
 * Sizes: ENGINE_BENCH_RECORDS (records loaded), ENGINE_BENCH_ITERATIONS (short queries per client).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import type { Engine } from '../src/engine/engine.js';
import { type RunningKinesql, startKinesql } from '../src/kinesql.js';
import { benchConfig, startEventsStream, median, partitionKey, percentile, seconds, timed, writeEventsDefinition } from './events-stream.js';

const RECORDS = Number(process.env['ENGINE_BENCH_RECORDS'] ?? 1_000_000);
const SHORT_ITERATIONS = Number(process.env['ENGINE_BENCH_ITERATIONS'] ?? 50);
const SHARDS = 4;
const REPETITIONS = 5;
const SHORT_CLIENTS = 10;
const ROLE = 'bench';
/** Rows the long query counts: far more than it can get through during the measurement (it is cancelled after). */
const LONG_QUERY_PAIRS = 5e9;

const ms = (value: number): string => `${value.toFixed(1).padStart(8)} ms`;
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

export async function runEngineBench(): Promise<void> {
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  const { aws, tablesDir, peakRss, close } = await startEventsStream(RECORDS, SHARDS, out);
  try {
    await writeEventsDefinition(tablesDir);
    const server = await startKinesql(benchConfig(tablesDir, aws), pino({ level: 'silent' }));
    const sessions: pg.Client[] = [];
    const connect = async (config: pg.ClientConfig): Promise<pg.Client> => {
      const client = new pg.Client(config);
      await client.connect();
      sessions.push(client);
      return client;
    };
    try {
      const viaKinesql: pg.ClientConfig = { host: server.host, port: server.port, user: ROLE, database: 'kinesql' };
      const { endpoint } = server.engine;
      const direct: pg.ClientConfig = {
        host: endpoint.host,
        port: endpoint.port,
        database: endpoint.database,
        user: ROLE,
        password: await server.roles.passwordFor(ROLE),
      };
      const kinesql = await connect(viaKinesql);
      const engine = await connect(direct);

      const load = await timed(() => kinesql.query('select count(*) from events'));
      out(`load through kinesql (first count(*) = ${String(load.value.rows[0]?.['count'])}): ${seconds(load.ms)}`);
      await settle(server.engine);

      await warmQueries(kinesql, engine, out);
      out(`memory after loading: ${await memoryLine(server.engine)}`);
      await interference(viaKinesql, direct, connect, server.engine, out);
      out(`peak RSS of the kinesql process over the run: ${mb(peakRss())}`);
      const { rows } = await server.engine.query(
        `select pg_database_size(current_database()) as database, coalesce(pg_total_relation_size(to_regclass('public.events')), 0) as events`,
      );
      out(`engine database size: ${mb(Number(rows[0]?.['database']))} (table events with its indexes: ${mb(Number(rows[0]?.['events']))})`);
    } finally {
      for (const client of sessions) await client.end().catch(() => undefined);
      await server.close();
    }
  } finally {
    await close();
  }
}

/**
 * Waits for the indexes kinesql builds after the first load, then vacuums and analyses the table as the
 * administrator, so that neither the index build nor autovacuum runs during a measurement.
 */
export async function settle(engine: Engine): Promise<void> {
  for (;;) {
    const { rows } = await engine.query(`select count(*)::int as n from pg_indexes where schemaname = 'public' and tablename = 'events'`);
    if (Number(rows[0]?.['n']) >= 2) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await engine.exec('vacuum analyze public.events');
}

/** A session straight on kinesql's engine as the client role `role` (its row policy applies there too). */
export async function connectStraight(server: RunningKinesql, role: string): Promise<pg.Client> {
  const { endpoint } = server.engine;
  const client = new pg.Client({
    host: endpoint.host,
    port: endpoint.port,
    database: endpoint.database,
    user: role,
    password: await server.roles.passwordFor(role),
  });
  await client.connect();
  return client;
}

/** Settles the engine, then the warm queries through kinesql and straight on the engine as the client role `role`. */
export async function warmQueriesOnSettled(server: RunningKinesql, kinesql: pg.Client, role: string, out: (line: string) => void): Promise<WarmMedians> {
  await settle(server.engine);
  const direct = await connectStraight(server, role);
  try {
    return await warmQueries(kinesql, direct, out);
  } finally {
    await direct.end();
  }
}

/**
 * Whether two answers (rows as JSON) are the same, floating-point sums to 12 significant digits: engines that
 * add in a different order (parallel workers, Citus shards) differ in the last digits.
 */
export function sameAnswer(a: string, b: string): boolean {
  const rounded = (answer: string): string =>
    JSON.stringify(JSON.parse(answer, (_key, value: unknown) => (typeof value === 'number' ? Number(value.toPrecision(12)) : value)));
  return rounded(a) === rounded(b);
}

/** Median milliseconds of each warm query (by its name), through kinesql and straight on the engine, and kinesql's last answer. */
export type WarmMedians = Record<string, { kinesql: number; engine: number; answer: string }>;

/** The warm queries, by name. */
export const WARM_QUERIES: Readonly<Record<string, string>> = {
  'count(*)': 'select count(*) from events',
  'GROUP BY': 'select country, kind, count(*), sum(amount) from events group by 1, 2 order by 1, 2',
  'time window (5 minutes)': `select count(*) from events where _message_timestamp > now() - interval '5 minutes'`,
};

/** (a) The warm queries through kinesql and straight on the engine, alternately; medians and their ratio. */
export async function warmQueries(kinesql: pg.Client, engine: pg.Client, out: (line: string) => void): Promise<WarmMedians> {
  out(`warm queries, median of ${REPETITIONS}: kinesql vs the same SQL on the engine directly as the same client role`);
  const medians: WarmMedians = {};
  for (const [name, sql] of Object.entries(WARM_QUERIES)) {
    await kinesql.query(sql);
    await engine.query(sql);
    const times: { kinesql: number[]; engine: number[] } = { kinesql: [], engine: [] };
    const answers = { kinesql: '', engine: '' };
    for (let repetition = 0; repetition < REPETITIONS; repetition++) {
      for (const side of ['kinesql', 'engine'] as const) {
        const result = await timed(() => (side === 'kinesql' ? kinesql : engine).query(sql));
        times[side].push(result.ms);
        answers[side] = JSON.stringify(result.value.rows);
      }
    }
    const viaKinesql = median(times.kinesql);
    const directly = median(times.engine);
    medians[name] = { kinesql: viaKinesql, engine: directly, answer: answers.kinesql };
    const differ = sameAnswer(answers.kinesql, answers.engine)
      ? ''
      : `   answers differ: kinesql ${answers.kinesql.slice(0, 80)}, engine ${answers.engine.slice(0, 80)}`;
    const fastest = (values: number[]): string => `(fastest ${Math.min(...values).toFixed(1)})`;
    out(
      `  ${name.padEnd(24)} kinesql ${ms(viaKinesql)} ${fastest(times.kinesql)}   engine directly ${ms(directly)} ${fastest(times.engine)}   ` +
        `ratio ${(viaKinesql / directly).toFixed(2)}× (goal ≤ 1.3×)${differ}`,
    );
  }
  return medians;
}

/**
 * (b) Short stream queries from 10 clients through kinesql, alone and while a long query runs on another
 * kinesql session; the same clients' SQL straight on the engine alongside, to tell the engine's share apart.
 */
async function interference(
  viaKinesql: pg.ClientConfig,
  direct: pg.ClientConfig,
  connect: (config: pg.ClientConfig) => Promise<pg.Client>,
  engine: Engine,
  out: (line: string) => void,
): Promise<void> {
  const shortSql = 'select count(*) from events where _partition_key = $1';
  const kinesqlClients = await Promise.all(Array.from({ length: SHORT_CLIENTS }, () => connect(viaKinesql)));
  const engineClients = await Promise.all(Array.from({ length: SHORT_CLIENTS }, () => connect(direct)));
  let next = 0;
  const shortLoad = async (clients: pg.Client[]): Promise<number[]> => {
    const latencies: number[] = [];
    await Promise.all(
      clients.map(async (client) => {
        for (let i = 0; i < SHORT_ITERATIONS; i++) {
          const key = partitionKey((next++ * 7919) % RECORDS);
          const started = performance.now();
          const { rows } = await client.query({ name: 'by-key', text: shortSql, values: [key] });
          latencies.push(performance.now() - started);
          if (Number(rows[0]?.['count']) !== 1) throw new Error(`${shortSql} with ${key} counted ${String(rows[0]?.['count'])}, not 1`);
        }
      }),
    );
    return latencies.sort((a, b) => a - b);
  };
  for (const client of [...kinesqlClients, ...engineClients]) await client.query({ name: 'by-key', text: shortSql, values: [partitionKey(0)] });
  const kinesqlAlone = await shortLoad(kinesqlClients);
  const engineAlone = await shortLoad(engineClients);

  const long = await connect(viaKinesql);
  const series = `generate_series(1, ${Math.ceil(LONG_QUERY_PAIRS / RECORDS)})`;
  const longSql = `select count(*) from events a, ${series} g`;
  let longEnded = false;
  const longQuery = long.query(longSql).then(
    () => 'finished',
    (error: unknown) => ((error as { code?: string }).code === '57014' ? 'cancelled' : `failed: ${(error as Error).message}`),
  );
  void longQuery.finally(() => (longEnded = true));
  const running = `select pid from pg_stat_activity
    where state = 'active' and backend_type = 'client backend' and pid <> pg_backend_pid() and query like '%${series}%'`;
  while ((await engine.query(running)).rows.length === 0) {
    if (longEnded) throw new Error(`the long query ended before it was seen running: ${await longQuery}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const kinesqlContended = await shortLoad(kinesqlClients);
  const engineContended = await shortLoad(engineClients);
  const outlasted = !longEnded;
  const memory = await memoryLine(engine);
  await engine.query(`select pg_cancel_backend(pid) from (${running}) q`);
  const longOutcome = await longQuery;

  const line = (label: string, sorted: number[]): string => `  ${label.padEnd(40)} p50 ${ms(percentile(sorted, 50))}   p99 ${ms(percentile(sorted, 99))}`;
  const ratio = (contended: number[], alone: number[]): string => (percentile(contended, 99) / percentile(alone, 99)).toFixed(2);
  out(`${SHORT_CLIENTS} clients × ${SHORT_ITERATIONS} \`${shortSql}\``);
  out(line('kinesql, alone', kinesqlAlone));
  out(line('kinesql, while a long query runs', kinesqlContended));
  out(`  p99 ratio with / without the long query, kinesql: ${ratio(kinesqlContended, kinesqlAlone)}× (goal ≤ 2×)`);
  out(line('engine directly, alone', engineAlone));
  out(line('engine directly, while a long query runs', engineContended));
  out(`  p99 ratio with / without the long query, engine directly: ${ratio(engineContended, engineAlone)}×`);
  out(
    `  long query on another kinesql session: \`${longSql}\`, ${outlasted ? 'still running after both measurements' : 'ENDED BEFORE THE MEASUREMENTS DID'}, then ${longOutcome}`,
  );
  out(`memory while the long query ran: ${memory}`);
}

/** The kinesql process's RSS and the engine's processes' memory, for one line of output. */
export async function memoryLine(engine: Engine): Promise<string> {
  const own = process.memoryUsage().rss;
  const memory = await engineMemory(engine);
  const pss = memory.pssKb === undefined ? '' : `, PSS ${mb(memory.pssKb * 1024)}`;
  return `kinesql process RSS ${mb(own)}; engine (${memory.processes} postgres processes) RSS sum ${mb(memory.rssKb * 1024)}${pss}`;
}

interface EngineMemory {
  processes: number;
  /** Sum of VmRSS: pages of shared buffers count once per process that touched them. */
  rssKb: number;
  /** Sum of proportional set sizes, which counts shared pages once in all (undefined when unreadable). */
  pssKb: number | undefined;
}

/** The postmaster named in the data directory's postmaster.pid and every process descending from it. */
async function engineMemory(engine: Engine): Promise<EngineMemory> {
  const { rows } = await engine.query('show data_directory');
  const dataDir = String(rows[0]?.['data_directory']);
  const postmaster = Number.parseInt((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
  const parents = new Map<number, number>();
  const rss = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let status: string;
    try {
      status = await readFile(`/proc/${name}/status`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const field = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    parents.set(Number(name), field('PPid'));
    rss.set(Number(name), field('VmRSS'));
  }
  const descends = (pid: number): boolean => {
    for (let at = pid, hops = 0; at > 1 && hops < 64; at = parents.get(at) ?? 0, hops++) if (at === postmaster) return true;
    return false;
  };
  const pids = [...parents.keys()].filter(descends);
  let pssKb: number | undefined = 0;
  for (const pid of pids) {
    try {
      const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
      pssKb += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
    } catch {
      pssKb = undefined;
      break;
    }
  }
  return { processes: pids.length, rssKb: pids.reduce((sum, pid) => sum + (rss.get(pid) ?? 0), 0), pssKb };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runEngineBench();
