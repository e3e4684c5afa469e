/**
 * Load test of the wire layer: 50 concurrent node-postgres clients × 200 queries through kinesql over TCP,
 * first `select 1` (what kinesql adds to a round trip), then a stream statement (`count(*)` of the table)
 * in sessions with `kinesql.max_staleness` (what kinesql adds to a statement that may read a stream: the
 * catch-up's check, no Kinesis read), then the mixed load of the wire tests (counts, a GROUP BY,
 * parameterised queries on a named statement; every answer is checked) over a 300-record table. For each,
 * the engine transactions per statement (pg_stat_database: every Sync or simple Query is one; kinesql's own
 * exchanges with a session's backend count too).
 * Baseline, same run: the same clients and SQL sent straight to the engine (its unix socket), logged in as
 * the same client role, so row policies and role settings apply there too. Prints q/s, p50/p99 and the ratio.
 * Sizes: WIRE_BENCH_CLIENTS, WIRE_BENCH_QUERIES.
 */
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import type { Engine } from '../src/engine/engine.js';
import { startTradesHarness, TRADE_COUNT } from '../test/clients/fixture.js';
import { runMixedLoad } from '../test/support/mixed-load.js';
import { percentile } from './events-stream.js';

const CLIENTS = Number(process.env['WIRE_BENCH_CLIENTS'] ?? 50);
const QUERIES_PER_CLIENT = Number(process.env['WIRE_BENCH_QUERIES'] ?? 200);
const ROLE = 'bench';

interface Load {
  seconds: number;
  latencies: number[];
  failures: number;
  errors: string[];
  /** Engine transactions committed per statement over the run. */
  transactions: number;
}

/** Transactions the engine's database committed so far (a backend's counts arrive when it ends or goes idle a while). */
async function committedTransactions(engine: Engine): Promise<number> {
  const { rows } = await engine.query('select xact_commit::bigint as n from pg_stat_database where datname = current_database()');
  return Number(rows[0]?.n ?? 0);
}

async function measured(engine: Engine, run: () => Promise<{ latencies: number[]; failures: number; errors: string[] }>): Promise<Load> {
  const before = await committedTransactions(engine);
  const started = performance.now();
  const { latencies, failures, errors } = await run();
  const seconds = (performance.now() - started) / 1000;
  // The clients' backends have ended: their counts are in.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const transactions = ((await committedTransactions(engine)) - before) / Math.max(1, latencies.length);
  return { seconds, latencies: [...latencies].sort((a, b) => a - b), failures, errors, transactions };
}

/** A statement every client sends again and again, with the session's setup first and a check of each answer. */
interface Repeated {
  setup?: string;
  sql: string;
  expected: unknown;
}

/** `clients` concurrent clients, each sending the statement `queries` times one after another. */
async function runRepeated(
  connection: pg.ClientConfig,
  clients: number,
  queries: number,
  statement: Repeated,
): Promise<{ latencies: number[]; failures: number; errors: string[] }> {
  const latencies: number[] = [];
  const errors: string[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const client = new pg.Client(connection);
      await client.connect();
      try {
        if (statement.setup) await client.query(statement.setup);
        for (let q = 0; q < queries; q += 1) {
          const t0 = performance.now();
          try {
            const { rows } = await client.query(statement.sql);
            latencies.push(performance.now() - t0);
            if (rows[0]?.['answer'] !== statement.expected) errors.push(`wrong answer to ${statement.sql}: ${JSON.stringify(rows)}`);
          } catch (error) {
            errors.push(`${statement.sql}: ${(error as Error).message}`);
          }
        }
      } finally {
        await client.end();
      }
    }),
  );
  return { latencies, failures: errors.length, errors };
}

const SELECT_ONE: Repeated = { sql: 'select 1 as answer', expected: 1 };
/** Loaded once before: with max_staleness, each statement checks the shards were read recently and reads nothing. */
const STREAM_STATEMENT: Repeated = {
  setup: `SET kinesql.max_staleness = '1h'`,
  sql: 'select count(*)::int as answer from market.trades',
  expected: TRADE_COUNT,
};

export async function runWireBench(): Promise<void> {
  const harness = await startTradesHarness();
  try {
    const viaKinesql: pg.ClientConfig = { ...harness.connection, user: ROLE };
    const { endpoint } = harness.server.engine;
    const direct: pg.ClientConfig = {
      host: endpoint.host,
      port: endpoint.port,
      database: endpoint.database,
      user: ROLE,
      password: await harness.server.roles.passwordFor(ROLE),
    };
    // Load the stream table once so every measured query, through kinesql or not, sees the same rows.
    const warm = new pg.Client(viaKinesql);
    await warm.connect();
    await warm.query('select count(*) from market.trades');
    await warm.end();

    const total = CLIENTS * QUERIES_PER_CLIENT;
    const out = (line: string): void => void process.stdout.write(`${line}\n`);
    const line = (label: string, load: Load): string =>
      `${label.padEnd(40)} ${(load.latencies.length / load.seconds).toFixed(0).padStart(7)} q/s   p50 ${percentile(load.latencies, 50).toFixed(2).padStart(7)} ms   p99 ${percentile(load.latencies, 99).toFixed(2).padStart(7)} ms   ${load.transactions.toFixed(2)} engine transactions/statement`;
    const qps = (load: Load): number => load.latencies.length / load.seconds;
    let failures = 0;
    const report = (what: string, kinesql: Load, engine: Load): void => {
      out(`${CLIENTS} clients × ${QUERIES_PER_CLIENT} ${what} = ${total}; wrong or failed answers: kinesql ${kinesql.failures}, engine ${engine.failures}`);
      out(line('kinesql (TCP, session → own backend)', kinesql));
      out(line('engine directly (unix socket, same role)', engine));
      out(`throughput ratio kinesql / engine directly: ${(qps(kinesql) / qps(engine)).toFixed(2)}× (goal ≥ 0.5×)`);
      for (const error of [...kinesql.errors, ...engine.errors].slice(0, 5)) out(`  ${error}`);
      failures += kinesql.failures + engine.failures;
    };

    const engine = harness.server.engine;
    const compare = async (what: string, run: (connection: pg.ClientConfig) => Promise<{ latencies: number[]; failures: number; errors: string[] }>) => {
      const kinesql = await measured(engine, () => run(viaKinesql));
      report(what, kinesql, await measured(engine, () => run(direct)));
    };
    await compare('`select 1`', (connection) => runRepeated(connection, CLIENTS, QUERIES_PER_CLIENT, SELECT_ONE));
    await compare('stream `count(*)` with max_staleness', (connection) => runRepeated(connection, CLIENTS, QUERIES_PER_CLIENT, STREAM_STATEMENT));
    const mixedKinesql = await measured(engine, () => runMixedLoad(viaKinesql, CLIENTS, QUERIES_PER_CLIENT));
    const mixedEngine = await measured(engine, () => runMixedLoad(direct, CLIENTS, QUERIES_PER_CLIENT));
    report('mixed queries (checked)', mixedKinesql, mixedEngine);
    if (failures > 0) process.exitCode = 1;
  } finally {
    await harness.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runWireBench();
