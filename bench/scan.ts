/**
 * Stream scans on kinesalite (DESIGN.md §6): 1,000,000 JSON records in 4 shards, measured in one run —
 * a bare SDK GetRecords loop (the baseline), kinesql's first count(*) (cold, reads every shard), the same
 * again (warm), a GROUP BY and a time-window filter on warm data, a query after 1,000 new records, the
 * peak memory of the process, and where Debian's PostgreSQL can be started, the warm queries on it.
 * Sizes can be lowered for a quick look: BENCH_RECORDS=100000 npm run bench -- scan
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { ShardRateBudget } from '../src/kinesis/rate-budget.js';
import { pino } from 'pino';
import { startKinesql } from '../src/kinesql.js';
import { bareGetRecordsLoop, benchConfig, startEventsStream, event, seconds, timed, writeEventsDefinition } from './events-stream.js';

const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 1_000_000);
const SHARDS = 4;

export async function runScanBench(): Promise<void> {
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  const { aws, kinesis, tablesDir, peakRss, close } = await startEventsStream(RECORDS, SHARDS, out);
  try {
    // The bare loop twice: as fast as the stand-in answers (kinesalite enforces no limits), and within the
    // per-shard read limits Kinesis enforces (5 calls/s, 2 MB/s), which kinesql honours and any correct
    // consumer must. The second is the baseline the cold load is held to.
    const bareLoop = (budget?: ShardRateBudget) => bareGetRecordsLoop(kinesis, 'events', budget);
    const unpaced = await bareLoop();
    out(`bare SDK GetRecords loop, unpaced (faster than Kinesis allows) over ${unpaced.value} records: ${seconds(unpaced.ms)}`);
    const bare = await bareLoop(new ShardRateBudget());
    out(`baseline: bare SDK GetRecords loop within Kinesis read limits over ${bare.value} records: ${seconds(bare.ms)}`);

    await writeEventsDefinition(tablesDir);
    const config = benchConfig(tablesDir, aws);
    const server = await startKinesql(config, pino({ level: 'silent' }));
    const client = new pg.Client({ host: server.host, port: server.port, user: 'bench', database: 'kinesql' });
    await client.connect();
    const q = async (sql: string) => timed(async () => (await client.query(sql)).rows);
    const groupBy = 'select country, kind, count(*), sum(amount) from events group by 1, 2 order by 1, 2';
    const window = `select count(*) from events where _message_timestamp >= now() - interval '10 minutes' and country = 'DE'`;
    const warmQueries: Record<string, string> = { 'count(*)': 'select count(*) from events', 'GROUP BY': groupBy, 'time-window filter': window };
    try {
      const cold = await q('select count(*) from events');
      out(
        `kinesql cold count(*) = ${String(cold.value[0]?.count)}: ${seconds(cold.ms)} (${(cold.ms / bare.ms).toFixed(2)} × the baseline, ${(cold.ms / unpaced.ms).toFixed(2)} × the unpaced loop)`,
      );
      const warm: Record<string, number> = {};
      for (const [name, sql] of Object.entries(warmQueries)) {
        const result = await q(sql);
        warm[name] = result.ms;
        out(`kinesql warm ${name}: ${seconds(result.ms)}`);
      }
      const more = await timed(async () => {
        const records = Array.from({ length: 1000 }, (_, j) => ({ Data: Buffer.from(JSON.stringify(event(RECORDS + j))), PartitionKey: `new-${j}` }));
        await kinesis.send(new PutRecordsCommand({ StreamName: 'events', Records: records.slice(0, 500) }));
        await kinesis.send(new PutRecordsCommand({ StreamName: 'events', Records: records.slice(500) }));
      });
      const after = await q('select count(*) from events');
      out(
        `kinesql count(*) after 1,000 new records (put took ${seconds(more.ms)}) = ${String(after.value[0]?.count)}: ${seconds(after.ms)} (warm count(*) ${seconds(warm['count(*)']!)})`,
      );
      out(
        `peak memory (RSS of the kinesql process: server and store; the engine is a separate process, not included, nor is kinesalite): ${(peakRss() / 1024 / 1024).toFixed(0)} MB`,
      );
      await nativePostgres(warmQueries, out);
    } finally {
      await client.end();
      await server.close();
    }
  } finally {
    await close();
  }
}

/** The same rows and warm queries on a PostgreSQL 15 started from Debian's binaries, when possible. */
async function nativePostgres(queries: Record<string, string>, out: (line: string) => void): Promise<void> {
  const bin = '/usr/lib/postgresql/15/bin';
  const dir = await mkdtemp(join(tmpdir(), 'kinesql-bench-pg-'));
  const asPostgres = (command: string): string => execFileSync('su', ['postgres', '-c', command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  try {
    await chmod(dir, 0o777);
    asPostgres(`${bin}/initdb -D ${dir}/data -A trust -U postgres >/dev/null`);
    asPostgres(`${bin}/pg_ctl -D ${dir}/data -o "-p ${port} -k ${dir} -c listen_addresses=''" -w start >/dev/null`);
  } catch (error) {
    out(`native PostgreSQL: not started (${(error as Error).message.split('\n')[0]})`);
    await rm(dir, { recursive: true, force: true });
    return;
  }
  const client = new pg.Client({ host: dir, port, user: 'postgres', database: 'postgres' });
  try {
    await client.connect();
    await client.query(
      `create table events (id bigint, user_name varchar, country varchar, amount double precision, kind varchar,
        _partition_key text, _message_timestamp timestamptz)`,
    );
    const now = Date.now();
    await client.query(
      `insert into events select i, 'user-' || (i % 5000), (array['DE','FR','US','JP','BR','IN','NG','AU'])[i % 8 + 1], (i % 1000) / 10.0,
              case when i % 3 = 0 then 'click' else 'view' end, 'pk-' || i, to_timestamp(${now / 1000}) - ((${RECORDS} - i) * interval '0.1 ms')
         from generate_series(0, ${RECORDS + 999}) i`,
    );
    await client.query('create index on events (_message_timestamp)');
    await client.query('create index on events (_partition_key)');
    await client.query('vacuum analyze events');
    for (const [name, sql] of Object.entries(queries)) {
      await client.query(sql);
      const started = performance.now();
      await client.query(sql);
      out(`native PostgreSQL 15 warm ${name}: ${seconds(performance.now() - started)}`);
    }
  } finally {
    await client.end().catch(() => undefined);
    try {
      asPostgres(`${bin}/pg_ctl -D ${dir}/data -m immediate stop >/dev/null`);
    } catch {
      // already stopped
    }
    await rm(dir, { recursive: true, force: true });
  }
}
