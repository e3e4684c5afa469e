/**
 * Stream scans on kinesalite (the Kinesis stand-in of the benchmarks): 1,000,000 JSON records, measured in one run — a bare SDK
 * GetRecords loop within Kinesis's read limits (the baseline), a plain consumer (that loop copying each batch
 * into the same engine), kinesql's first count(*) (cold, reads every shard) with the CPU it spent per record
 * and its peak memory, then on the first configuration the same again (warm), a GROUP BY and a time-window
 * filter on warm data, a query after 1,000 new records, and where Debian's PostgreSQL can be started, the warm
 * queries on it.
 * Knobs: BENCH_RECORDS (1,000,000), BENCH_SHARDS (shard counts, each a stream of its own: "4,32" or "4"),
 * BENCH_RUNS (cold loads per shard count, each on a fresh engine, alternating with the two yardsticks;
 * medians are reported), BENCH_WARM=0 (no warm queries; only the cold loads), BENCH_ITER_FROM_TIMESTAMP=1
 * (kinesql starts its reads AT_TIMESTAMP, its default, instead of at TRIM_HORIZON as the yardsticks do).
 * A quick look: BENCH_RECORDS=100000 npm run bench -- scan
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { ShardRateBudget } from '../src/kinesis/rate-budget.js';
import { pino } from 'pino';
import { startKinesql } from '../src/kinesql.js';
import type { Engine } from '../src/engine/engine.js';
import { quoteIdent } from '../src/pg/quoting.js';
import { indexStatements } from '../src/catalog/ddl.js';
import { bareGetRecordsLoop, benchConfig, startEventsStream, event, median, seconds, timed, writeEventsDefinition } from './events-stream.js';
import { plainConsumer } from './plain-consumer.js';
import { descendantsCpuMs, processCpuMs } from './process-cpu.js';

const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 1_000_000);
const SHARD_COUNTS = (process.env['BENCH_SHARDS'] ?? '4,32').split(',').map(Number);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 1);
const WARM_QUERIES = process.env['BENCH_WARM'] !== '0';
const ITER_FROM_TIMESTAMP = process.env['BENCH_ITER_FROM_TIMESTAMP'] === '1';

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
/** The calls a yardstick retried (the stand-in hung up or was too slow), as kinesql would have. */
const retried = (retries: number): string => `, ${retries} calls retried`;

export async function runScanBench(): Promise<void> {
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  const peaks: Record<number, number> = {};
  for (const [index, shards] of SHARD_COUNTS.entries()) {
    peaks[shards] = await scanShards(shards, WARM_QUERIES && index === 0, out);
  }
  if (SHARD_COUNTS.length > 1) {
    const [first, ...rest] = SHARD_COUNTS;
    for (const shards of rest)
      out(`peak RSS of kinesql during the cold load, ${shards} shards / ${first} shards: ${(peaks[shards]! / peaks[first!]!).toFixed(2)}`);
  }
}

/** The cold-load comparison on a stream of `shards` shards; the warm queries too when `warmQueries`. Returns kinesql's peak RSS. */
async function scanShards(shards: number, withWarmQueries: boolean, out: (line: string) => void): Promise<number> {
  const { aws, kinesis, tablesDir, peakRss, resetPeakRss, standInPid, close } = await startEventsStream(RECORDS, shards, out);
  /** Runs load and says, per record, how much CPU this process, the stand-in and the engine spent meanwhile. */
  const withCpu = async <T>(load: () => Promise<T>, records: (result: T) => number): Promise<T & { cpu: NodeJS.CpuUsage; cpuLine: string }> => {
    const own = process.cpuUsage();
    const standIn = processCpuMs(standInPid);
    const engine = descendantsCpuMs(process.pid, [standInPid]);
    const result = await load();
    const perRecord = (ms: number): string => ((ms * 1000) / records(result)).toFixed(1);
    const ownUsage = process.cpuUsage(own);
    const cpuLine = `CPU µs per record: this process ${perRecord((ownUsage.user + ownUsage.system) / 1000)}, stand-in ${perRecord(processCpuMs(standInPid) - standIn)}, engine ${perRecord(descendantsCpuMs(process.pid, [standInPid]) - engine)}`;
    return { ...result, cpu: ownUsage, cpuLine };
  };
  try {
    // kinesalite enforces no limits: the loop as fast as it answers, once, to show the pacing's share.
    const unpaced = await bareGetRecordsLoop(kinesis, 'events');
    out(`bare SDK GetRecords loop, unpaced (faster than Kinesis allows) over ${unpaced.value} records: ${seconds(unpaced.ms)}${retried(unpaced.retries)}`);
    await writeEventsDefinition(tablesDir);
    // kinesql reads what its yardsticks read, every record from TRIM_HORIZON. Under the default window
    // (kinesis.iter-from-timestamp) it would ask for AT_TIMESTAMP, which kinesalite answers by reading the whole
    // shard in the background (about 5 µs of its CPU per record, on the cores the load shares); real Kinesis
    // finds the position without that. BENCH_ITER_FROM_TIMESTAMP=1 measures it that way all the same.
    const baseConfig = benchConfig(tablesDir, aws);
    const config = { ...baseConfig, read: { ...baseConfig.read, iterFromTimestamp: ITER_FROM_TIMESTAMP } };
    const bare: number[] = [];
    const plain: number[] = [];
    const cold: number[] = [];
    let peak = 0;
    for (let run = 1; run <= RUNS; run++) {
      const server = await startKinesql(config, pino({ level: 'silent' }));
      const client = new pg.Client({ host: server.host, port: server.port, user: 'bench', database: 'kinesql' });
      try {
        await client.connect();
        // Within the per-shard read limits Kinesis enforces (5 calls/s, 2 MB/s), which kinesql honours and any
        // correct consumer must: the baseline the cold load is held to.
        const bareLoad = () =>
          withCpu(
            () => bareGetRecordsLoop(kinesis, 'events', new ShardRateBudget()),
            (loop) => loop.value,
          );
        const plainLoad = () =>
          withCpu(
            () => plainConsumer(kinesis, 'events', server.engine.endpoint),
            (loop) => loop.value,
          );
        const coldLoad = async () => {
          resetPeakRss();
          const load = await withCpu(
            () => timed(async () => (await client.query('select count(*) from events')).rows),
            (counted) => Number(counted.value[0]?.['count']),
          );
          const measured = { ...load, rss: peakRss() };
          // kinesql indexes the table once the load's statement has answered: the yardstick that runs next
          // does not share the engine with that build.
          await indexesBuilt(server.engine);
          return measured;
        };
        // Every other run the other way round: what runs first or last (a cold cache of the stand-in) counts alike.
        let paced: Awaited<ReturnType<typeof bareLoad>>;
        let consumer: Awaited<ReturnType<typeof plainLoad>>;
        let load: Awaited<ReturnType<typeof coldLoad>>;
        if (run % 2 === 1) {
          paced = await bareLoad();
          consumer = await plainLoad();
          load = await coldLoad();
        } else {
          load = await coldLoad();
          consumer = await plainLoad();
          paced = await bareLoad();
        }
        bare.push(paced.ms);
        plain.push(consumer.ms);
        cold.push(load.ms);
        peak = Math.max(peak, load.rss);
        const count = Number(load.value[0]?.['count']);
        const { cpu } = load;
        out(
          `${shards} shards, run ${run}: paced bare loop ${seconds(paced.ms)}${retried(paced.retries)}, plain consumer ${seconds(consumer.ms)} (${consumer.value} records${retried(consumer.retries)}), ` +
            `kinesql cold count(*) = ${count}: ${seconds(load.ms)} (${(load.ms / paced.ms).toFixed(2)} × the bare loop, ${(load.ms / consumer.ms).toFixed(2)} × the plain consumer); ` +
            `CPU ${((cpu.user + cpu.system) / count).toFixed(1)} µs per record (user ${(cpu.user / count).toFixed(1)}, system ${(cpu.system / count).toFixed(1)}), peak RSS ${mb(load.rss)}; ` +
            `load average ${loadavg()[0]!.toFixed(1)} (the machine's other work slows all three alike only when it is steady)`,
        );
        out(`  paced bare loop ${paced.cpuLine}; plain consumer ${consumer.cpuLine}; kinesql ${load.cpuLine}`);
        if (run === 1) await messageShare(server.engine, out);
        if (withWarmQueries && run === 1) await warmQueries(client, kinesis, peakRss, out);
      } finally {
        await client.end().catch(() => undefined);
        await server.close();
      }
    }
    out(
      `${shards} shards, median of ${RUNS}: kinesql cold load ${seconds(median(cold))} = ${(median(cold) / median(bare)).toFixed(2)} × the paced bare loop (${seconds(median(bare))}), ` +
        `${(median(cold) / median(plain)).toFixed(2)} × the plain consumer (${seconds(median(plain))}); kinesql peak RSS ${mb(peak)} ` +
        `(the process: server and store; the engine and kinesalite are processes of their own)`,
    );
    return peak;
  } finally {
    await close();
  }
}

/** Resolves once the events table has the indexes kinesql builds after its first load (deferred-indexes.ts). */
async function indexesBuilt(engine: Engine): Promise<void> {
  const built = indexStatements({ schemaName: '', tableName: 'events' }).length;
  for (;;) {
    const { rows } = await engine.query(
      `SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace s ON s.oid = c.relnamespace
        WHERE c.relname = 'events' AND s.nspname NOT LIKE 'kinesql%' AND i.indisvalid`,
    );
    if (Number(rows[0]?.['n']) >= built) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** How much of the loaded table's disk the _message column (the record's text, kept for rebuilds and clients) takes. */
async function messageShare(engine: Engine, out: (line: string) => void): Promise<void> {
  const { rows: found } = await engine.query(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = 'events' AND c.relkind IN ('r', 'p') AND n.nspname NOT LIKE 'kinesql%'`,
  );
  const table = String(found[0]?.['name']);
  const { rows: columns } = await engine.query(`SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, [table]);
  const names = columns.map((column) => String(column['attname']));
  const sums = names.map((name, i) => `sum(pg_column_size(e.${quoteIdent(name)}))::float8 AS c${i}`).join(', ');
  const { rows } = await engine.query(
    `SELECT ${sums}, sum(pg_column_size(e.*))::float8 AS row, (SELECT sum(pg_table_size(relid))::float8 FROM pg_partition_tree($1::regclass)) AS heap FROM ${table} e`,
    [table],
  );
  const sizes = rows[0] as Record<string, number>;
  const row = sizes['row']!;
  const byColumn = names.map((name, i) => ({ name, bytes: sizes[`c${i}`]! })).sort((a, b) => b.bytes - a.bytes);
  const message = byColumn.find((column) => column.name === '_message')!.bytes;
  out(
    `_message: ${mb(message)} of ${mb(row)} row bytes (${((100 * message) / row).toFixed(0)}%); the table's heap ${mb(sizes['heap']!)} on disk (indexes not counted; they are built after the load); ` +
      `largest columns: ${byColumn
        .slice(0, 5)
        .map((column) => `${column.name} ${((100 * column.bytes) / row).toFixed(0)}%`)
        .join(', ')}`,
  );
}

async function warmQueries(
  client: pg.Client,
  kinesis: Awaited<ReturnType<typeof startEventsStream>>['kinesis'],
  peakRss: () => number,
  out: (line: string) => void,
): Promise<void> {
  const q = async (sql: string) => timed(async () => (await client.query(sql)).rows);
  const groupBy = 'select country, kind, count(*), sum(amount) from events group by 1, 2 order by 1, 2';
  const window = `select count(*) from events where _message_timestamp >= now() - interval '10 minutes' and country = 'DE'`;
  const queries: Record<string, string> = { 'count(*)': 'select count(*) from events', 'GROUP BY': groupBy, 'time-window filter': window };
  const warm: Record<string, number> = {};
  for (const [name, sql] of Object.entries(queries)) {
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
    `kinesql count(*) after 1,000 new records (put took ${seconds(more.ms)}) = ${String(after.value[0]?.['count'])}: ${seconds(after.ms)} (warm count(*) ${seconds(warm['count(*)']!)})`,
  );
  out(`peak memory (RSS of the kinesql process: server and store; the engine is a separate process, not included, nor is kinesalite): ${mb(peakRss())}`);
  await nativePostgres(queries, out);
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
