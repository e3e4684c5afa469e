/**
 * Freshness against cost: 10 clients loop over a short stream statement while a writer puts 50 records/s
 * into a 4-shard stream, in five modes, each on a kinesql server and stream of its own:
 *   (a) strict statements and no follower (every statement reads every shard's new tail: the baseline);
 *   (b) the follower at readBudgetShare 0.2 and sessions with SET kinesql.max_staleness = '1s';
 *   (c) the follower at 0.2 and strict sessions (they wait for the follower's reads);
 *   (d) enhanced fan-out and strict sessions (they wait for the subscriptions' events);
 *   (e) enhanced fan-out and max_staleness 1s;
 *   (f) the follower at 0.2 and one strict client sending a statement every 1–2 s (what a dashboard or an
 *       application does), then statements that read no stream rows (LIMIT 0, WHERE false, EXPLAIN, a
 *       protocol Parse + Describe), one after another.
 * Polling modes run on kinesalite, enhanced fan-out on kinesis-local (kinesalite has none);
 * FRESHNESS_BENCH_STANDIN=kinesis-local runs every mode there.
 * Per mode: statement latency and q/s; put→visible latency, i.e. from the writer sending a record to the
 * first answer, to any client, that shows every record up to it; GetRecords calls per shard and second
 * (kinesql.shards before and after). Size: FRESHNESS_BENCH_SECONDS (per mode; (f) at least a minute).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PutRecordCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { pino } from 'pino';
import { ensureStream } from '../src/demo/kinesis-standin.js';
import { createKinesisClient } from '../src/kinesis/client.js';
import { READ_BURST } from '../src/kinesis/rate-budget.js';
import { startKinesql } from '../src/kinesql.js';
import { startKinesisMock } from '../test/scan/kinesis-mock.js';
import { RawClient } from '../test/support/raw-client.js';
import { type BenchAws, benchConfig, percentile, startKinesaliteProcess } from './events-stream.js';

const SECONDS = Number(process.env['FRESHNESS_BENCH_SECONDS'] ?? 20);
const SHARDS = 4;
const CLIENTS = 10;
const RECORDS_PER_SECOND = 50;
const SHARE = 0.2;
/** GetRecords calls Kinesis allows per shard and second. */
const KINESIS_CALLS_PER_SHARD_SECOND = 5;
const STALENESS = '1s';
/** Records put this close to a mode's end may not have had the time to become visible: left out of put→visible. */
const TAIL_MS = 3_000;
const ROLE = 'bench';
const STATEMENT = `select min(seq) as lo, max(seq) as hi, count(*)::int as n, max(put_ms) as newest
  from events where _message_timestamp > now() - interval '1 minute'`;

interface Mode {
  label: string;
  share: number;
  staleness?: string;
  efo?: boolean;
  /** One client pausing this long (ms, uniformly between the two) between statements, instead of CLIENTS in a closed loop. */
  paced?: [number, number];
}

/** Paced statements come every 1.5 s on average: a minute gives a p99 of some meaning. */
const PACED_SECONDS = Math.max(SECONDS, 60);
const PROBE_ROUNDS = 100;
/** Statements that read no stream rows, as BI tools send them to learn a table's columns. */
const PROBES: [string, string][] = [
  ['LIMIT 0', 'select * from events limit 0'],
  ['WHERE false', 'select seq, put_ms from events where false'],
  ['EXPLAIN', 'explain select count(*) from events'],
];

const MODES: Mode[] = [
  { label: '(a) strict, no follower', share: 0 },
  { label: `(b) follower ${SHARE}, max_staleness ${STALENESS}`, share: SHARE, staleness: STALENESS },
  { label: `(c) follower ${SHARE}, strict`, share: SHARE },
  { label: '(d) EFO, strict', share: SHARE, efo: true },
  { label: `(e) EFO, max_staleness ${STALENESS}`, share: SHARE, staleness: STALENESS, efo: true },
  { label: `(f) follower ${SHARE}, strict, 1 client /1–2 s`, share: SHARE, paced: [1000, 2000] },
];
const ALL_ON_KINESIS_LOCAL = process.env['FRESHNESS_BENCH_STANDIN'] === 'kinesis-local';

interface ModeResult {
  mode: Mode;
  seconds: number;
  latencies: number[];
  visibility: number[];
  /** Records put before the tail that no answer showed by the end. */
  unseen: number;
  /** Answers whose rows were not one run of consecutive seq (a shard read further than another). */
  gapAnswers: number;
  /** Per answer: its arrival minus the newest put time it shows (an upper bound of its staleness). */
  answerAges: number[];
  putRoundTrips: number[];
  recordsPut: number;
  callsPerShardSecond: number;
  errors: string[];
  /** Per statement that reads no stream rows: its latencies, sorted (mode (f) only). */
  probes: [string, number[]][];
}

/** Runs each probe PROBE_ROUNDS times over `client`, and a protocol Parse + Describe (no Execute) over a raw connection. */
async function measureProbes(client: pg.Client, port: number): Promise<[string, number[]][]> {
  const results: [string, number[]][] = [];
  for (const [label, sql] of PROBES) {
    const latencies: number[] = [];
    for (let round = 0; round < PROBE_ROUNDS; round++) {
      const sent = now();
      await client.query(sql);
      latencies.push(now() - sent);
    }
    results.push([label, latencies.sort((a, b) => a - b)]);
  }
  const raw = await RawClient.startup(port, { user: ROLE });
  try {
    const latencies: number[] = [];
    for (let round = 0; round < PROBE_ROUNDS; round++) {
      const sent = now();
      // One write, as drivers send a batch (separate small writes would wait for delayed ACKs).
      raw.write(
        Buffer.concat([
          serialize.parse({ name: '', text: 'select count(*) from events', types: [] }),
          serialize.describe({ type: 'S', name: '' }),
          serialize.sync(),
        ]),
      );
      await raw.readUntilReady();
      latencies.push(now() - sent);
    }
    results.push(['Parse + Describe', latencies.sort((a, b) => a - b)]);
  } finally {
    raw.close();
  }
  return results;
}

/** The p-th percentile of sorted values; undefined when there are none. */
const pct = (sorted: readonly number[], p: number): number | undefined => (sorted.length === 0 ? undefined : percentile(sorted, p));

const now = (): number => performance.timeOrigin + performance.now();

/** Puts {seq, put_ms} records one by one at RECORDS_PER_SECOND until stopped; put_ms is when the call was sent. */
function startWriter(kinesis: KinesisClient, stream: string) {
  const sentAt: number[] = [];
  const roundTrips: number[] = [];
  const errors: string[] = [];
  let stopped = false;
  const started = now();
  const done = (async () => {
    for (let seq = 0; !stopped; seq++) {
      const due = started + (seq * 1000) / RECORDS_PER_SECOND;
      const wait = due - now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (stopped) break;
      const at = now();
      sentAt[seq] = at;
      try {
        await kinesis.send(
          new PutRecordCommand({ StreamName: stream, PartitionKey: `k-${seq}`, Data: Buffer.from(JSON.stringify({ seq, put_ms: Math.round(at) })) }),
        );
        roundTrips.push(now() - at);
      } catch (error) {
        errors.push(`put ${seq}: ${(error as Error).message}`);
      }
    }
  })();
  return {
    sentAt,
    roundTrips,
    errors,
    stop: async (): Promise<void> => {
      stopped = true;
      await done;
    },
  };
}

async function runMode(mode: Mode, aws: BenchAws, kinesis: KinesisClient, stream: string): Promise<ModeResult> {
  await ensureStream(kinesis, stream, SHARDS);
  const tablesDir = await mkdtemp(join(tmpdir(), 'kinesql-bench-tables-'));
  await writeFile(
    join(tablesDir, 'events.json'),
    JSON.stringify({
      tableName: 'events',
      streamName: stream,
      message: {
        dataFormat: 'json',
        fields: [
          { name: 'seq', type: 'BIGINT', mapping: 'seq' },
          { name: 'put_ms', type: 'BIGINT', mapping: 'put_ms' },
        ],
      },
    }),
  );
  const base = benchConfig(tablesDir, aws);
  const efo = mode.efo ? { consumerMode: 'efo' as const, consumerName: `freshness-bench-${stream}` } : {};
  const server = await startKinesql({ ...base, scan: { ...base.scan!, readBudgetShare: mode.share, ...efo } }, pino({ level: 'silent' }));
  const sessions: pg.Client[] = [];
  const writer = startWriter(kinesis, stream);
  try {
    const connect = async (): Promise<pg.Client> => {
      const client = new pg.Client({ host: server.host, port: server.port, user: ROLE, database: 'kinesql' });
      await client.connect();
      sessions.push(client);
      return client;
    };
    const admin = await connect();
    const clients = await Promise.all(Array.from({ length: mode.paced ? 1 : CLIENTS }, connect));
    for (const client of clients) if (mode.staleness) await client.query(`SET kinesql.max_staleness = '${mode.staleness}'`);
    // A second of records, and every session's first statement (the first load), before measuring.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const client of clients) await client.query(STATEMENT);
    const calls = async (): Promise<{ calls: number; shards: number }> => {
      const { rows } = await admin.query(
        `select coalesce(sum(get_records_calls), 0)::float8 as calls, count(*)::int as shards from kinesql.shards where table_name = 'events'`,
      );
      return { calls: Number(rows[0]?.['calls']), shards: Number(rows[0]?.['shards']) };
    };

    const firstVisible: number[] = [];
    let visibleThrough = -1;
    let gapAnswers = 0;
    const latencies: number[] = [];
    const answerAges: number[] = [];
    const errors: string[] = [];
    const before = await calls();
    const started = now();
    const deadline = started + (mode.paced ? PACED_SECONDS : SECONDS) * 1000;
    const paced = mode.paced;
    await Promise.all(
      clients.map(async (client) => {
        while (now() < deadline) {
          if (paced) await new Promise((resolve) => setTimeout(resolve, paced[0] + Math.random() * (paced[1] - paced[0])));
          const sent = now();
          let rows: Record<string, unknown>[];
          try {
            rows = (await client.query(STATEMENT)).rows;
          } catch (error) {
            errors.push((error as Error).message);
            // A broken server would otherwise fail statements in a tight loop until the deadline.
            if (errors.length >= 100) break;
            continue;
          }
          const arrived = now();
          latencies.push(arrived - sent);
          const row = rows[0] ?? {};
          if (row['hi'] === null || row['hi'] === undefined) continue;
          const lo = Number(row['lo']);
          const hi = Number(row['hi']);
          answerAges.push(arrived - Number(row['newest']));
          if (Number(row['n']) !== hi - lo + 1 || lo > visibleThrough + 1) {
            gapAnswers++;
            continue;
          }
          // Answers are handled in arrival order: the first one showing a record is when it became visible.
          for (let seq = visibleThrough + 1; seq <= hi; seq++) firstVisible[seq] = arrived;
          visibleThrough = Math.max(visibleThrough, hi);
        }
      }),
    );
    const ended = now();
    const after = await calls();
    const probes = mode.paced ? await measureProbes(admin, server.port) : [];
    await writer.stop();
    const seconds = (ended - started) / 1000;

    const visibility: number[] = [];
    let unseen = 0;
    writer.sentAt.forEach((sentAt, seq) => {
      if (sentAt < started || sentAt > ended - TAIL_MS) return;
      const seen = firstVisible[seq];
      if (seen === undefined) unseen++;
      else visibility.push(seen - sentAt);
    });
    const sorted = (values: number[]): number[] => [...values].sort((a, b) => a - b);
    return {
      mode,
      seconds,
      latencies: sorted(latencies),
      visibility: sorted(visibility),
      unseen,
      gapAnswers,
      answerAges: sorted(answerAges),
      putRoundTrips: sorted(writer.roundTrips),
      recordsPut: writer.sentAt.length,
      callsPerShardSecond: (after.calls - before.calls) / (Math.max(after.shards, 1) * seconds),
      errors: [...writer.errors, ...errors],
      probes,
    };
  } finally {
    await writer.stop();
    for (const client of sessions) await client.end().catch(() => undefined);
    await server.close();
    await rm(tablesDir, { recursive: true, force: true });
  }
}

export async function runFreshnessBench(): Promise<void> {
  const kinesalite = ALL_ON_KINESIS_LOCAL ? undefined : await startKinesaliteProcess();
  const kinesisLocal = await startKinesisMock();
  const awsOf = (endpoint: string) => ({ region: 'us-east-1', kinesisEndpoint: endpoint, accessKeyId: 'bench', secretAccessKey: 'bench' });
  const polling = awsOf(kinesalite?.endpoint ?? kinesisLocal.endpoint);
  const fanOut = awsOf(kinesisLocal.endpoint);
  const clients = { polling: createKinesisClient(polling), fanOut: createKinesisClient(fanOut) };
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  const results: ModeResult[] = [];
  try {
    out(`${SHARDS} shards, a writer putting ${RECORDS_PER_SECOND} records/s, ${CLIENTS} clients looping for ${SECONDS} s per mode over`);
    out(`  ${STATEMENT.replace(/\s+/g, ' ')}`);
    out(`  polling modes on ${kinesalite ? 'kinesalite' : 'kinesis-local'}, EFO modes on kinesis-local`);
    for (const [index, mode] of MODES.entries()) {
      const [aws, kinesis] = mode.efo ? [fanOut, clients.fanOut] : [polling, clients.polling];
      results.push(await runMode(mode, aws, kinesis, `freshness-${index}`));
    }
  } finally {
    clients.polling.destroy();
    clients.fanOut.destroy();
    await kinesalite?.close();
    await kinesisLocal.close();
  }

  const ms = (value: number | undefined): string => (value === undefined ? '—' : value.toFixed(1)).padStart(8);
  out(
    `${'mode'.padEnd(36)} ${'q/s'.padStart(8)} ${'stmt p50'.padStart(8)} ${'stmt p99'.padStart(8)} ${'vis p50'.padStart(8)} ${'vis p99'.padStart(8)} ${'GetRecords/shard/s'.padStart(19)}`,
  );
  for (const result of results) {
    const qps = result.latencies.length / result.seconds;
    out(
      `${result.mode.label.padEnd(36)} ${qps.toFixed(1).padStart(8)} ${ms(pct(result.latencies, 50))} ${ms(pct(result.latencies, 99))} ` +
        `${ms(pct(result.visibility, 50))} ${ms(pct(result.visibility, 99))} ${result.callsPerShardSecond.toFixed(2).padStart(19)}`,
    );
  }
  out('  (latencies in ms; vis = put→visible: from sending a record to the first answer showing it and every record before it)');
  for (const result of results) {
    out(
      `${result.mode.label}: ${result.latencies.length} statements in ${result.seconds.toFixed(1)} s, ${result.errors.length} failed; ` +
        `${result.recordsPut} records put (put call p50 ${pct(result.putRoundTrips, 50)?.toFixed(1) ?? '—'} ms); ` +
        `${result.visibility.length} timed, ${result.unseen} never seen; answers with a gap ${result.gapAnswers}; ` +
        `answer age (arrival − newest put seen) p50 ${pct(result.answerAges, 50)?.toFixed(0) ?? '—'} ms, p99 ${pct(result.answerAges, 99)?.toFixed(0) ?? '—'} ms`,
    );
    for (const error of [...new Set(result.errors)].slice(0, 3)) out(`  ${error}`);
  }

  const [strict, stale, followedStrict, fanOutStrict, fanOutStale, paced] = results as [ModeResult, ModeResult, ModeResult, ModeResult, ModeResult, ModeResult];
  const ratio = stale.latencies.length / stale.seconds / (strict.latencies.length / strict.seconds);
  const p50 = pct(stale.latencies, 50) ?? Number.NaN;
  const budget = KINESIS_CALLS_PER_SHARD_SECOND * SHARE;
  const verdict = (met: boolean): string => (met ? 'met' : 'NOT MET');
  // A budget of r calls a second allows r × T calls in T seconds plus its burst, made at once.
  const withinBudget = (result: ModeResult): boolean => result.callsPerShardSecond <= budget + READ_BURST / result.seconds;
  out(`q/s (b) / (a): ${ratio.toFixed(1)}× (goal ≥ 20×: ${verdict(ratio >= 20)})`);
  out(`(b) statement p50: ${p50.toFixed(1)} ms (goal ≤ 5 ms: ${verdict(p50 <= 5)})`);
  out(
    `(b) GetRecords calls per shard per second: ${stale.callsPerShardSecond.toFixed(2)} ` +
      `(goal ≤ ${KINESIS_CALLS_PER_SHARD_SECOND} × ${SHARE} = ${budget.toFixed(2)}, statements included: ${verdict(withinBudget(stale))})`,
  );
  out(
    `(c) GetRecords calls per shard per second: ${followedStrict.callsPerShardSecond.toFixed(2)} (goal ≤ ${budget.toFixed(2)}: ` +
      `${verdict(withinBudget(followedStrict))})`,
  );
  const qps = (result: ModeResult): number => result.latencies.length / result.seconds;
  out(`(c) ${CLIENTS} closed-loop strict clients: ${qps(followedStrict).toFixed(1)} q/s (goal ≥ 2 × 9.6: ${verdict(qps(followedStrict) >= 19.2)})`);
  const pacedP50 = pct(paced.latencies, 50) ?? Number.NaN;
  const pacedP99 = pct(paced.latencies, 99) ?? Number.NaN;
  out(
    `(f) one strict client every 1–2 s: p50 ${pacedP50.toFixed(1)} ms (goal ≤ 150 ms: ${verdict(pacedP50 <= 150)}), ` +
      `p99 ${pacedP99.toFixed(1)} ms (goal ≤ 400 ms: ${verdict(pacedP99 <= 400)}); ` +
      `GetRecords ${paced.callsPerShardSecond.toFixed(2)} per shard per second (goal ≤ ${budget.toFixed(2)}: ${verdict(withinBudget(paced))})`,
  );
  for (const [label, latencies] of paced.probes) {
    const probeP50 = pct(latencies, 50) ?? Number.NaN;
    out(`(f) ${label}: p50 ${probeP50.toFixed(1)} ms, p99 ${(pct(latencies, 99) ?? Number.NaN).toFixed(1)} ms (goal p50 ≤ 5 ms: ${verdict(probeP50 <= 5)})`);
  }
  const efoRatio = qps(stale) / qps(fanOutStale);
  out(`(b) / (e) q/s, max_staleness polling against EFO: ${efoRatio.toFixed(1)}× (goal ≤ 2×: ${verdict(efoRatio <= 2)})`);
  const fanOutCalls = fanOutStrict.callsPerShardSecond + fanOutStale.callsPerShardSecond;
  out(`(d), (e) GetRecords calls after the start: ${fanOutCalls.toFixed(2)} per shard per second (goal 0: ${verdict(fanOutCalls === 0)})`);
  if (results.some((result) => result.errors.length > 0)) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runFreshnessBench();
