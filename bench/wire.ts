/**
 * Load test of the wire layer: 50 concurrent node-postgres clients × 200 queries through kinesql over TCP,
 * first `select 1` (what kinesql adds to a round trip), then the mixed load of the wire tests (counts, a
 * GROUP BY, parameterised queries on a named statement; every answer is checked) over a 300-record table.
 * Baseline, same run: the same clients and SQL sent straight to the engine (its unix socket), logged in as
 * the same client role, so row policies and role settings apply there too. Prints q/s, p50/p99 and the ratio.
 * Sizes: WIRE_BENCH_CLIENTS, WIRE_BENCH_QUERIES.
 */
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { startTradesHarness } from '../test/clients/fixture.js';
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
}

async function measured(run: () => Promise<{ latencies: number[]; failures: number; errors: string[] }>): Promise<Load> {
  const started = performance.now();
  const { latencies, failures, errors } = await run();
  const seconds = (performance.now() - started) / 1000;
  return { seconds, latencies: [...latencies].sort((a, b) => a - b), failures, errors };
}

/** `clients` concurrent clients, each sending `select 1` `queries` times one after another. */
async function runSelectOne(
  connection: pg.ClientConfig,
  clients: number,
  queries: number,
): Promise<{ latencies: number[]; failures: number; errors: string[] }> {
  const latencies: number[] = [];
  const errors: string[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const client = new pg.Client(connection);
      await client.connect();
      try {
        for (let q = 0; q < queries; q += 1) {
          const t0 = performance.now();
          try {
            const { rows } = await client.query('select 1 as one');
            latencies.push(performance.now() - t0);
            if (rows[0]?.['one'] !== 1) errors.push(`wrong answer to select 1: ${JSON.stringify(rows)}`);
          } catch (error) {
            errors.push(`select 1: ${(error as Error).message}`);
          }
        }
      } finally {
        await client.end();
      }
    }),
  );
  return { latencies, failures: errors.length, errors };
}

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
      `${label.padEnd(40)} ${(load.latencies.length / load.seconds).toFixed(0).padStart(7)} q/s   p50 ${percentile(load.latencies, 50).toFixed(2).padStart(7)} ms   p99 ${percentile(load.latencies, 99).toFixed(2).padStart(7)} ms`;
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

    const selectKinesql = await measured(() => runSelectOne(viaKinesql, CLIENTS, QUERIES_PER_CLIENT));
    const selectEngine = await measured(() => runSelectOne(direct, CLIENTS, QUERIES_PER_CLIENT));
    report('`select 1`', selectKinesql, selectEngine);
    const mixedKinesql = await measured(() => runMixedLoad(viaKinesql, CLIENTS, QUERIES_PER_CLIENT));
    const mixedEngine = await measured(() => runMixedLoad(direct, CLIENTS, QUERIES_PER_CLIENT));
    report('mixed queries (checked)', mixedKinesql, mixedEngine);
    if (failures > 0) process.exitCode = 1;
  } finally {
    await harness.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runWireBench();
