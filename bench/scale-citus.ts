/**
 * The Citus column of the scale bench (issue 23): the same SCALE_BENCH_CITUS_RECORDS records (2,000,000 by
 * default) in SCALE_BENCH_CITUS_SHARDS shards (4), put into kinesalite once, then loaded through kinesql into
 * three engines in turn, each stopped before the next starts:
 *   - one node: Debian's PostgreSQL 15, the PostgreSQL the Citus build runs on, stream tables heap;
 *   - Citus: a coordinator and two workers (each that same PostgreSQL 15), stream tables distributed;
 *   - one node again with `kinesql.closed-partition-storage = columnar`, for the disk ratio heap vs columnar.
 * Each reports the load time, the warm count(*), GROUP BY and 5-minute window (kinesql against the engine
 * directly), and the disk: every node's database and the events table's partitions. Then Citus and columnar
 * against the one node of the same run. All three use partitions of SCALE_BENCH_CITUS_PARTITION_SECONDS (60) so
 * that partitions close while the records are put and columnar has closed partitions to convert.
 * Every node runs on this machine: the workers share its cores with the coordinator, kinesql and kinesalite.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { type ClosedPartitionStorage, DEFAULT_SCAN_CONFIG } from '../src/config/config.js';
import { ensureStream } from '../src/demo/kinesis-standin.js';
import { createKinesisClient } from '../src/kinesis/client.js';
import { type RunningKinesql, startKinesql } from '../src/kinesql.js';
import { ARRIVAL_SKEW_MS } from '../src/store/columnar-partitions.js';
import { asSuperuser, citusMissing, startCitusCluster } from '../test/support/citus-cluster.js';
import { startExternalPostgres, type ExternalPostgres } from '../test/support/external-postgres.js';
import { connectStraight, sameAnswer, WARM_QUERIES, warmQueriesOnSettled, type WarmMedians } from './engine.js';
import { serverCpuSeconds } from './server-cpu.js';
import { benchConfig, putEvents, seconds, startKinesaliteProcess, timed, writeEventsDefinition, type BenchAws } from './events-stream.js';

const RECORDS = Number(process.env['SCALE_BENCH_CITUS_RECORDS'] ?? 2_000_000);
const SHARDS = Number(process.env['SCALE_BENCH_CITUS_SHARDS'] ?? 4);
const PARTITION_MS = Number(process.env['SCALE_BENCH_CITUS_PARTITION_SECONDS'] ?? 60) * 1000;
/** How long the columnar run drives conversions of the closed partitions without one finishing before it reports what it got. */
const STALL_LIMIT_MS = 2 * 60_000;
const ROLE = 'bench';
/** Runs of each query whose engine CPU time is averaged. */
const CPU_RUNS = 3;
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** An engine of the column: its nodes (the first is the one kinesql connects to). */
interface BenchEngine {
  label: string;
  nodes: ExternalPostgres[];
  distributed: boolean;
  stop(): Promise<void>;
}

interface EngineFigures {
  label: string;
  loadMs: number;
  /** CPU seconds each node used during the load, and this process (kinesql) did. */
  loadCpu: { nodes: number[]; kinesql: number };
  warm: WarmMedians;
  /** CPU seconds the engine's nodes together used per run of the count(*) and the GROUP BY, straight on the engine. */
  queryCpu: Record<string, number>;
  /** Database size of every node after the load, and what the load added to them. */
  databaseBytes: number;
  grownBytes: number;
  /** Size of each partition of the events table (indexes included, over every worker on Citus), by name. */
  partitions: Map<string, { bytes: number; columnar: boolean }>;
}

export async function runCitusColumn(out: (line: string) => void): Promise<void> {
  const missing = citusMissing();
  if (missing) {
    out(`-- Citus column skipped: ${missing}`);
    return;
  }
  out(`-- Citus column: ${RECORDS} records in ${SHARDS} shards, partitions of ${PARTITION_MS / 1000} s; load average before: ${loadAverage()}`);
  out('   every node on this machine: the two workers share its cores with the coordinator, kinesql and kinesalite');
  const standIn = await startKinesaliteProcess();
  const aws = { region: 'us-east-1', kinesisEndpoint: standIn.endpoint, accessKeyId: 'bench', secretAccessKey: 'bench' };
  const kinesis = createKinesisClient(aws);
  const tablesDir = await mkdtemp(join(tmpdir(), 'kinesql-scale-citus-tables-'));
  try {
    await ensureStream(kinesis, 'events', SHARDS);
    await writeEventsDefinition(tablesDir);
    const put = await timed(() => putEvents(kinesis, 'events', RECORDS));
    out(`put ${RECORDS} records: ${seconds(put.ms)}`);
    const single = await measure(await oneNode('one node (PostgreSQL 15)', false), 'heap', tablesDir, aws, out);
    const citus = await measure(await citusEngine(), 'heap', tablesDir, aws, out);
    const columnar = await measure(await oneNode('one node, closed partitions columnar', true), 'columnar', tablesDir, aws, out);
    compare(single, [citus, columnar], out);
    columnarRatio(single, columnar, out);
  } finally {
    kinesis.destroy();
    await standIn.close();
    await rm(tablesDir, { recursive: true, force: true });
    out(`load average after: ${loadAverage()}`);
  }
}

async function oneNode(label: string, withColumnar: boolean): Promise<BenchEngine> {
  const node = await startExternalPostgres();
  // kinesql's engine user is no superuser: the extension is created for it.
  if (withColumnar) await asSuperuser(node, (client) => client.query('CREATE EXTENSION citus_columnar'));
  return { label, nodes: [node], distributed: false, stop: () => node.stop() };
}

async function citusEngine(): Promise<BenchEngine> {
  const cluster = await startCitusCluster(2);
  return { label: 'Citus, coordinator + 2 workers', nodes: [cluster.coordinator, ...cluster.workers], distributed: true, stop: () => cluster.stop() };
}

/** Loads every record through a kinesql on `engine`, runs the warm queries and measures the disk; stops the engine. */
async function measure(
  engine: BenchEngine,
  storage: ClosedPartitionStorage,
  tablesDir: string,
  aws: BenchAws,
  out: (line: string) => void,
): Promise<EngineFigures> {
  out(`- ${engine.label}`);
  try {
    const base = benchConfig(tablesDir, aws);
    const server = await startKinesql(
      {
        ...base,
        engine: { ...base.engine, url: engine.nodes[0]!.url, distribution: engine.distributed ? 'citus' : 'none' },
        scan: {
          ...DEFAULT_SCAN_CONFIG,
          ...base.scan,
          callTimeoutMs: 120_000,
          unresponsiveTimeoutMs: 600_000,
          partitionIntervalMs: PARTITION_MS,
          closedPartitionStorage: storage,
        },
      },
      pino({ level: process.env['SCALE_BENCH_LOG'] ?? 'silent' }, pino.destination(2)),
    );
    const kinesql = new pg.Client({ host: server.host, port: server.port, user: ROLE, database: 'kinesql' });
    await kinesql.connect();
    try {
      const before = await databaseBytes(engine);
      const cpuBefore = { nodes: nodesCpu(engine), kinesql: process.cpuUsage() };
      const load = await timed(() => kinesql.query('select count(*)::bigint as n from events'));
      const kinesqlCpu = process.cpuUsage(cpuBefore.kinesql);
      const loadCpu = { nodes: nodesCpu(engine).map((cpu, i) => cpu - cpuBefore.nodes[i]!), kinesql: (kinesqlCpu.user + kinesqlCpu.system) / 1e6 };
      const count = Number(load.value.rows[0]?.['n']);
      out(
        `  loaded ${count} records in ${seconds(load.ms)} (${Math.round((count / load.ms) * 1000)} records/s); CPU during the load: ` +
          `${cpuLine(loadCpu.nodes)}, this process (kinesql) ${loadCpu.kinesql.toFixed(1)} s`,
      );
      if (count !== RECORDS) throw new Error(`${engine.label}: the load counted ${count} records, not ${RECORDS}`);
      if (storage === 'columnar') await convertClosedPartitions(engine.nodes[0]!, kinesql, out);
      const warm = await warmQueriesOnSettled(server, kinesql, ROLE, out);
      const queryCpu = await cpuPerQuery(engine, server, out);
      const after = await databaseBytes(engine);
      const partitions = await partitionSizes(engine);
      const tableBytes = [...partitions.values()].reduce((sum, partition) => sum + partition.bytes, 0);
      const [coordinator, ...workers] = after.perNode;
      const perNode = workers.length > 0 ? ` (coordinator ${mb(coordinator ?? 0)}, workers ${workers.map(mb).join(' and ')})` : '';
      out(
        `  disk: databases ${mb(after.total)}${perNode}, ${mb(after.total - before.total)} added by the load; ` +
          `events table ${mb(tableBytes)} in ${partitions.size} partitions`,
      );
      return { label: engine.label, loadMs: load.ms, loadCpu, warm, queryCpu, databaseBytes: after.total, grownBytes: after.total - before.total, partitions };
    } finally {
      await kinesql.end();
      await server.close();
    }
  } finally {
    await engine.stop();
  }
}

/** CPU seconds used so far by each node's server. */
function nodesCpu(engine: BenchEngine): number[] {
  return engine.nodes.map((node) => serverCpuSeconds(node.dataDir) ?? Number.NaN);
}

function cpuLine(perNode: number[]): string {
  const [coordinator, ...workers] = perNode.map((cpu) => `${cpu.toFixed(2)} s`);
  return workers.length > 0 ? `coordinator ${coordinator}, workers ${workers.join(' and ')}` : `engine ${coordinator}`;
}

/** The CPU seconds the engine's nodes use for one count(*) and one GROUP BY as the client role, run straight on the engine. */
async function cpuPerQuery(engine: BenchEngine, server: RunningKinesql, out: (line: string) => void): Promise<Record<string, number>> {
  const direct = await connectStraight(server, ROLE);
  const perQuery: Record<string, number> = {};
  try {
    for (const name of ['count(*)', 'GROUP BY']) {
      const started = nodesCpu(engine);
      for (let run = 0; run < CPU_RUNS; run++) await direct.query(WARM_QUERIES[name]!);
      const used = nodesCpu(engine).map((cpu, i) => (cpu - started[i]!) / CPU_RUNS);
      perQuery[name] = used.reduce((a, b) => a + b, 0);
      out(`  engine CPU per ${name}, straight on the engine (mean of ${CPU_RUNS}): ${perQuery[name].toFixed(2)} s (${cpuLine(used)})`);
    }
  } finally {
    await direct.end();
  }
  return perQuery;
}

/** pg_database_size of kinesql's database on every node of the engine, and their total. */
async function databaseBytes(engine: BenchEngine): Promise<{ total: number; perNode: number[] }> {
  const perNode: number[] = [];
  for (const node of engine.nodes) {
    const { rows } = await asSuperuser(node, (client) => client.query(`select pg_database_size(current_database())::bigint as size`));
    perNode.push(Number(rows[0]?.['size']));
  }
  return { total: perNode.reduce((a, b) => a + b, 0), perNode };
}

/**
 * Every partition of events with its size, indexes included. On Citus, the sum of its shards' sizes, read on
 * each worker (a shard is named after its partition, with the shard's id appended).
 */
async function partitionSizes(engine: BenchEngine): Promise<Map<string, { bytes: number; columnar: boolean }>> {
  const [coordinator, ...workers] = engine.nodes as [ExternalPostgres, ...ExternalPostgres[]];
  const { rows } = await asSuperuser(coordinator, (client) =>
    client.query(
      `select c.relname as name, pg_total_relation_size(c.oid)::bigint as bytes, coalesce(a.amname = 'columnar', false) as columnar
         from pg_inherits i join pg_class c on c.oid = i.inhrelid left join pg_am a on a.oid = c.relam
        where i.inhparent = 'public.events'::regclass order by 1`,
    ),
  );
  const sizes = new Map(rows.map((row) => [String(row['name']), { bytes: Number(row['bytes']), columnar: row['columnar'] === true }]));
  if (!engine.distributed) return sizes;
  for (const size of sizes.values()) size.bytes = 0;
  for (const worker of workers) {
    const { rows: shards } = await asSuperuser(worker, async (client) => {
      // Citus hides shards from pg_class for client applications.
      await client.query('set citus.override_table_visibility = off');
      return client.query(
        `select p.name, coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint as bytes
           from unnest($1::text[]) p(name) left join pg_class c on c.relkind = 'r' and c.relname ~ ('^' || p.name || '_[0-9]+$')
          group by 1`,
        [[...sizes.keys()]],
      );
    });
    for (const shard of shards) sizes.get(String(shard['name']))!.bytes += Number(shard['bytes']);
  }
  return sizes;
}

/**
 * The partitions that can receive no more records are those ending before every shard's last arrival (less
 * the skew kinesql allows): kinesql converts them in the background once a catch-up found them closed, while
 * a client keeps reading; statements are run until they all are columnar (or none more is for STALL_LIMIT_MS).
 */
async function convertClosedPartitions(node: ExternalPostgres, kinesql: pg.Client, out: (line: string) => void): Promise<void> {
  const state = async (): Promise<{ closed: number; columnar: number; all: number }> => {
    const { rows } = await asSuperuser(node, (client) =>
      client.query(
        `with last as (select min(arrival) - make_interval(secs => $1::float8 / 1000) as before
                         from (select max(_message_timestamp) as arrival from public.events group by _shard_id) s),
              parts as (select c.relam, (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz as upper
                          from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'public.events'::regclass)
         select count(*) filter (where upper <= (select before from last))::int as closed,
                count(*) filter (where relam = (select oid from pg_am where amname = 'columnar'))::int as columnar,
                count(*)::int as all
           from parts`,
        [ARRIVAL_SKEW_MS],
      ),
    );
    return { closed: Number(rows[0]?.['closed']), columnar: Number(rows[0]?.['columnar']), all: Number(rows[0]?.['all']) };
  };
  const started = performance.now();
  let now = await state();
  let progressAt = started;
  while (now.columnar < now.closed && performance.now() - progressAt < STALL_LIMIT_MS) {
    await kinesql.query('select count(*) from events where _partition_key = $1', ['no such key']);
    // A steady reader: a statement every 0.5 s, as in the runs where conversions did not keep up.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const next = await state();
    if (next.columnar > now.columnar) progressAt = performance.now();
    now = next;
  }
  out(`  ${now.columnar} of ${now.closed} closed partitions (of ${now.all}) converted to columnar in ${seconds(performance.now() - started)} after the load`);
}

function compare(single: EngineFigures, others: EngineFigures[], out: (line: string) => void): void {
  out(`against ${single.label}, measured in the same run:`);
  for (const other of others) {
    const cpuRatio = (name: string): string => {
      const mine = other.queryCpu[name];
      const baseline = single.queryCpu[name];
      return mine === undefined || baseline === undefined ? '' : `, engine CPU ${mine.toFixed(2)} s ${(mine / baseline).toFixed(2)}×`;
    };
    const total = (cpu: number[]): number => cpu.reduce((a, b) => a + b, 0);
    out(
      `  ${other.label}: load CPU of the engine ${total(other.loadCpu.nodes).toFixed(1)} s ${(total(other.loadCpu.nodes) / total(single.loadCpu.nodes)).toFixed(2)}×, ` +
        `of kinesql ${other.loadCpu.kinesql.toFixed(1)} s ${(other.loadCpu.kinesql / single.loadCpu.kinesql).toFixed(2)}×`,
    );
    const warm = Object.entries(other.warm).map(([name, medians]) => {
      const baseline = single.warm[name];
      if (!baseline) return `${name} ${medians.kinesql.toFixed(0)} ms`;
      // The window's answer depends on when it ran; the others must match the one node's.
      const differs = name.startsWith('time window') || sameAnswer(baseline.answer, medians.answer) ? '' : ' (ANSWER DIFFERS)';
      return (
        `${name} ${medians.kinesql.toFixed(0)} ms ${(medians.kinesql / baseline.kinesql).toFixed(2)}×${differs} ` +
        `(engine directly ${medians.engine.toFixed(0)} ms ${(medians.engine / baseline.engine).toFixed(2)}×${cpuRatio(name)})`
      );
    });
    out(
      `  ${other.label}: load ${seconds(other.loadMs)} ${(other.loadMs / single.loadMs).toFixed(2)}×; ${warm.join(', ')}; ` +
        `databases ${mb(other.databaseBytes)} ${(other.databaseBytes / single.databaseBytes).toFixed(2)}×, added by the load ${mb(other.grownBytes)} ` +
        `${(other.grownBytes / single.grownBytes).toFixed(2)}×`,
    );
  }
}

/** The columnar partitions against the same partitions (same bounds, same records) on the heap one node. */
function columnarRatio(single: EngineFigures, columnar: EngineFigures, out: (line: string) => void): void {
  let heapBytes = 0;
  let columnarBytes = 0;
  let count = 0;
  for (const [name, partition] of columnar.partitions) {
    const heap = single.partitions.get(name);
    if (!partition.columnar || !heap) continue;
    heapBytes += heap.bytes;
    columnarBytes += partition.bytes;
    count += 1;
  }
  if (count === 0) {
    out('  columnar: no partition was converted, no disk ratio');
    return;
  }
  out(
    `  columnar disk: the ${count} converted partitions ${mb(columnarBytes)} against ${mb(heapBytes)} heap (indexes included): ` +
      `${(heapBytes / columnarBytes).toFixed(1)}× smaller`,
  );
}
