/**
 * Scale (issue 11): SCALE_BENCH_RECORDS records (10,000,000 by default) in 4 and in 32 shards
 * (SCALE_BENCH_SHARDS), on the embedded engine, each in one run:
 *   - loaded in three steps (a tenth, half, all): load time against the paced bare GetRecords loop over the
 *     whole stream, the RSS of this process (kinesql's server and store; the engine and kinesalite are
 *     processes of their own) and the engine's database size after each step;
 *   - warm count(*), GROUP BY and 5-minute window through kinesql against the same SQL on the engine directly;
 *   - with the first shard count: 1, 2 and 3 kinesql servers on the one engine (the others are `kinesql serve`
 *     processes), 60 clients spread over them running a short indexed stream statement for
 *     SCALE_BENCH_SECONDS each: q/s and p99;
 *   - then the Citus column (scale-citus.ts): one node against a coordinator and two workers. SCALE_BENCH_CITUS=0
 *     leaves it out, SCALE_BENCH_CITUS=only runs it alone.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { DEFAULT_SCAN_CONFIG } from '../src/config/config.js';
import { ensureStream } from '../src/demo/kinesis-standin.js';
import { createKinesisClient } from '../src/kinesis/client.js';
import { ShardRateBudget } from '../src/kinesis/rate-budget.js';
import { startKinesql, type RunningKinesql } from '../src/kinesql.js';
import { type ChildServer, engineUrlOf, startChildServer } from '../test/support/child-server.js';
import { memoryLine, warmQueriesOnSettled } from './engine.js';
import { runCitusColumn } from './scale-citus.js';
import {
  bareGetRecordsLoop,
  benchConfig,
  partitionKey,
  percentile,
  putEvents,
  seconds,
  startKinesaliteProcess,
  timed,
  writeEventsDefinition,
} from './events-stream.js';

const RECORDS = Number(process.env['SCALE_BENCH_RECORDS'] ?? 10_000_000);
const SHARD_COUNTS = (process.env['SCALE_BENCH_SHARDS'] ?? '4,32').split(',').map(Number);
const SECONDS = Number(process.env['SCALE_BENCH_SECONDS'] ?? 15);
const CITUS = process.env['SCALE_BENCH_CITUS'] ?? '1';
const CLIENTS = 60;
const ROLE = 'bench';
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

export async function runScaleBench(): Promise<void> {
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  if (CITUS !== 'only') await embeddedEngine(out);
  if (CITUS !== '0') await runCitusColumn(out);
}

async function embeddedEngine(out: (line: string) => void): Promise<void> {
  for (const [index, shards] of SHARD_COUNTS.entries()) {
    out(`-- ${RECORDS} records in ${shards} shards`);
    const standIn = await startKinesaliteProcess();
    const aws = { region: 'us-east-1', kinesisEndpoint: standIn.endpoint, accessKeyId: 'bench', secretAccessKey: 'bench' };
    const kinesis = createKinesisClient(aws);
    const tablesDir = await mkdtemp(join(tmpdir(), 'kinesql-scale-tables-'));
    try {
      await ensureStream(kinesis, 'events', shards);
      await writeEventsDefinition(tablesDir);
      // kinesalite answers 32 shards' 10,000-record GetRecords calls one after another: slower than Kinesis would.
      const config = benchConfig(tablesDir, aws);
      const server = await startKinesql(
        { ...config, scan: { ...DEFAULT_SCAN_CONFIG, ...config.scan, callTimeoutMs: 120_000, unresponsiveTimeoutMs: 600_000 } },
        pino({ level: 'silent' }),
      );
      const kinesql = new pg.Client({ host: server.host, port: server.port, user: ROLE, database: 'kinesql' });
      await kinesql.connect();
      try {
        let loadMs = 0;
        let loaded = 0;
        for (const step of [Math.round(RECORDS / 10), Math.round(RECORDS / 2), RECORDS]) {
          const put = await timed(() => putEvents(kinesis, 'events', step, loaded));
          const load = await timed(() => kinesql.query('select count(*)::bigint as n from events'));
          loadMs += load.ms;
          const { rows } = await server.engine.query('select pg_database_size(current_database()) as size');
          out(
            `  ${String(step).padStart(9)} records (put ${seconds(put.ms)}): loaded ${step - loaded} in ${seconds(load.ms)} ` +
              `(${Math.round(((step - loaded) / load.ms) * 1000)} records/s), count ${String(load.value.rows[0]?.n)}; ` +
              `RSS of this process ${mb(process.memoryUsage().rss)}; engine database ${mb(Number(rows[0]?.['size']))}`,
          );
          loaded = step;
        }
        const bare = await bareGetRecordsLoop(kinesis, 'events', new ShardRateBudget());
        out(
          `  load through kinesql ${seconds(loadMs)} against the bare GetRecords loop within Kinesis read limits over ${bare.value} records ` +
            `${seconds(bare.ms)}: ${(loadMs / bare.ms).toFixed(2)}×`,
        );
        await warmQueriesOnSettled(server, kinesql, ROLE, out);
        out(`  memory: ${await memoryLine(server.engine)}`);
        if (index === 0) await serversOnOneEngine(server, tablesDir, aws.kinesisEndpoint, out);
      } finally {
        await kinesql.end();
        await server.close();
      }
    } finally {
      kinesis.destroy();
      await standIn.close();
      await rm(tablesDir, { recursive: true, force: true });
    }
  }
}

/** 60 clients over 1, 2 and 3 servers on one engine: a short statement using the partition-key index. */
async function serversOnOneEngine(first: RunningKinesql, tablesDir: string, kinesisEndpoint: string, out: (line: string) => void): Promise<void> {
  // Sessions accept answers a minute old and no server follows the stream: what is measured is serving.
  const propertiesFile = join(tablesDir, '..', `kinesql-scale-${process.pid}.properties`);
  await writeFile(propertiesFile, 'kinesis.read-budget-share=0\n');
  const children: ChildServer[] = [];
  try {
    for (let count = 1; count <= 3; count++) {
      if (count > 1) {
        const engineUrl = engineUrlOf(first.engine.endpoint);
        children.push(await startChildServer({ tablesDir, kinesisEndpoint, engineUrl, readyTable: 'events', propertiesFile }));
      }
      const ports = [first.port, ...children.map((child) => child.port)];
      const result = await drive(ports);
      out(
        `  ${count} server${count > 1 ? 's' : ' '} on one engine, ${CLIENTS} clients: ${Math.round(result.count / SECONDS)} q/s, ` +
          `p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms${result.errors ? `, ${result.errors} errors` : ''}`,
      );
    }
  } finally {
    for (const child of children) await child.stop();
    await rm(propertiesFile, { force: true });
  }
}

async function drive(ports: number[]): Promise<{ count: number; p50: number; p99: number; errors: number }> {
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const client = new pg.Client({ host: '127.0.0.1', port: ports[i % ports.length]!, user: ROLE, database: 'kinesql' });
      await client.connect();
      await client.query(`set kinesql.max_staleness = '1min'`);
      await client.query('select count(*) from events where _partition_key = $1', [partitionKey(i)]);
      return client;
    }),
  );
  const latencies: number[] = [];
  let errors = 0;
  const until = performance.now() + SECONDS * 1000;
  try {
    await Promise.all(
      clients.map(async (client, i) => {
        for (let n = 0; performance.now() < until; n++) {
          const started = performance.now();
          try {
            await client.query('select count(*) from events where _partition_key = $1', [partitionKey((i * 7919 + n * 104729) % 100_000)]);
            latencies.push(performance.now() - started);
          } catch {
            errors += 1;
          }
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  }
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}
