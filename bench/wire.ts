/**
 * Load test of the wire layer: 50 concurrent node-postgres clients × 200 mixed queries (simple, parameterised
 * with named statements, settings, a short transaction) against kinesql over TCP; every answer is checked.
 * Baseline, same run: the same queries one after another on one in-process PGlite holding the same rows
 * (what the engine alone can do, without sockets, sessions or sharing). Prints throughput, p50/p99 and ratios.
 */
import { PGlite } from '@electric-sql/pglite';
import { startTradesHarness } from '../test/clients/fixture.js';
import { mixedQuery, runMixedLoad } from '../test/support/mixed-load.js';

const CLIENTS = Number(process.env["WIRE_BENCH_CLIENTS"] ?? 50);
const QUERIES_PER_CLIENT = Number(process.env["WIRE_BENCH_QUERIES"] ?? 200);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

export async function runWireBench(): Promise<void> {
  const harness = await startTradesHarness();
  try {
    // Warm the stream table once so every measured query sees the same rows.
    const warm = await harness.connect();
    await warm.query('select count(*) from market.trades');
    await warm.end();

    const started = performance.now();
    const { latencies, failures } = await runMixedLoad(harness.connection, CLIENTS, QUERIES_PER_CLIENT);
    const elapsed = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const total = CLIENTS * QUERIES_PER_CLIENT;

    // Baseline: the same rows and queries on an in-process PGlite, sequentially.
    const db = await PGlite.create();
    const copy = await (async () => {
      const client = await harness.connect();
      try {
        return (await client.query('select trade_id, symbol, price, buy from market.trades')).rows as Record<string, unknown>[];
      } finally {
        await client.end();
      }
    })();
    await db.exec('create schema market; create table market.trades (trade_id bigint, symbol text, price numeric(12,4), buy boolean)');
    for (const row of copy) await db.query('insert into market.trades values ($1, $2, $3, $4)', [row['trade_id'], row['symbol'], row['price'], row['buy']]);
    const baseLatencies: number[] = [];
    const baseStarted = performance.now();
    for (let i = 0; i < total; i += 1) {
      const check = mixedQuery(i);
      const t0 = performance.now();
      await db.query(check.sql, check.params ?? []);
      baseLatencies.push(performance.now() - t0);
    }
    const baseElapsed = (performance.now() - baseStarted) / 1000;
    baseLatencies.sort((a, b) => a - b);
    await db.close();

    const line = (label: string, seconds: number, sorted: number[]): string =>
      `${label.padEnd(34)} ${(total / seconds).toFixed(0).padStart(7)} q/s   p50 ${percentile(sorted, 50).toFixed(2).padStart(7)} ms   p99 ${percentile(sorted, 99).toFixed(2).padStart(7)} ms`;
    process.stdout.write(`${CLIENTS} clients × ${QUERIES_PER_CLIENT} mixed queries = ${total}; wrong or failed answers: ${failures}\n`);
    process.stdout.write(`${line('kinesql over TCP (50 concurrent)', elapsed, latencies)}\n`);
    process.stdout.write(`${line('PGlite in-process (sequential)', baseElapsed, baseLatencies)}\n`);
    process.stdout.write(`throughput ratio kinesql / in-process PGlite: ${(baseElapsed / elapsed).toFixed(2)}\n`);
    if (failures > 0) process.exitCode = 1;
  } finally {
    await harness.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runWireBench();
