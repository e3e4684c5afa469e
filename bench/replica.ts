/**
 * Sessions on the primary against sessions on a hot standby (kinesql.engine-read-url): Debian's PostgreSQL 15
 * as primary and a pg_basebackup standby, two kinesql servers on them (one with the standby), the `events`
 * stream preloaded and a writer putting 50 records/s. 10 clients loop over a GROUP BY through one server,
 * then the other, in two modes: dashboards (`kinesql.max_staleness = '5s'`: most statements read nothing
 * from Kinesis, so the replay wait is most of what the standby adds) and strict statements (every one reads
 * the shards' new tails and then waits for its load's replay). Per run: q/s, p50, p99, and how many
 * statements were told of a replay wait (NOTICE, over 100 ms). Size: REPLICA_BENCH_RECORDS preloaded
 * (50,000), REPLICA_BENCH_SECONDS per run (15), in slices alternating between the servers.
 */
import { pathToFileURL } from 'node:url';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { pino } from 'pino';
import { startKinesql, type RunningKinesql } from '../src/kinesql.js';
import { startExternalPostgres } from '../test/support/external-postgres.js';
import { startStandby } from '../test/support/standby-postgres.js';
import { benchConfig, event, percentile, startEventsStream, writeEventsDefinition } from './events-stream.js';

const SECONDS = Number(process.env['REPLICA_BENCH_SECONDS'] ?? 15);
/** Each run is cut in slices that alternate between the two servers, so that load from elsewhere falls on both alike. */
const SLICES = 3;
const RECORDS = Number(process.env['REPLICA_BENCH_RECORDS'] ?? 50_000);
const SHARDS = 4;
const CLIENTS = 10;
const RECORDS_PER_SECOND = 50;
const STATEMENT = 'select country, count(*) as n, sum(amount) as total from events group by country';

interface Run {
  label: string;
  queries: number;
  seconds: number;
  latencies: number[];
  replayNotices: number;
  errors: string[];
}

function startWriter(kinesis: KinesisClient): { stop(): Promise<void> } {
  let stopped = false;
  const done = (async () => {
    for (let i = RECORDS; !stopped; i += RECORDS_PER_SECOND / 10) {
      const entries = Array.from({ length: RECORDS_PER_SECOND / 10 }, (_, k) => ({
        Data: Buffer.from(JSON.stringify(event(i + k))),
        PartitionKey: `pk-${i + k}`,
      }));
      await kinesis.send(new PutRecordsCommand({ StreamName: 'events', Records: entries })).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

async function measure(label: string, server: RunningKinesql, staleness: string, runSeconds: number): Promise<Run> {
  const clients: pg.Client[] = [];
  const latencies: number[] = [];
  const errors: string[] = [];
  let replayNotices = 0;
  try {
    for (let i = 0; i < CLIENTS; i++) {
      const client = new pg.Client({ host: server.host, port: server.port, user: 'bench', database: 'kinesql' });
      client.on('notice', (notice) => {
        if (notice.message?.startsWith('waiting for the read replica')) replayNotices++;
      });
      await client.connect();
      await client.query(`SET kinesql.max_staleness = '${staleness}'`);
      await client.query(STATEMENT);
      clients.push(client);
    }
    const started = performance.now();
    const until = started + runSeconds * 1000;
    await Promise.all(
      clients.map(async (client) => {
        while (performance.now() < until) {
          const at = performance.now();
          try {
            await client.query(STATEMENT);
            latencies.push(performance.now() - at);
          } catch (error) {
            errors.push((error as Error).message);
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { label, queries: latencies.length, seconds, latencies: latencies.sort((a, b) => a - b), replayNotices, errors };
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  }
}

function combine(slices: Run[]): Run {
  return {
    label: slices[0]!.label,
    queries: slices.reduce((sum, run) => sum + run.queries, 0),
    seconds: slices.reduce((sum, run) => sum + run.seconds, 0),
    latencies: slices.flatMap((run) => run.latencies).sort((a, b) => a - b),
    replayNotices: slices.reduce((sum, run) => sum + run.replayNotices, 0),
    errors: slices.flatMap((run) => run.errors),
  };
}

export async function runReplicaBench(): Promise<void> {
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  const stream = await startEventsStream(RECORDS, SHARDS, out);
  const primary = await startExternalPostgres();
  const standby = await startStandby(primary);
  const servers: RunningKinesql[] = [];
  try {
    await writeEventsDefinition(stream.tablesDir);
    const base = benchConfig(stream.tablesDir, stream.aws);
    const logger = pino({ level: 'silent' });
    const onPrimary = await startKinesql({ ...base, engine: { ...base.engine, url: primary.url } }, logger);
    servers.push(onPrimary);
    const onStandby = await startKinesql({ ...base, engine: { ...base.engine, url: primary.url, readUrl: standby.url } }, logger);
    servers.push(onStandby);
    const writer = startWriter(stream.kinesis);
    const runs: Run[] = [];
    try {
      for (const [mode, staleness] of [
        ['dashboards (max_staleness 5s)', '5s'],
        ['strict (max_staleness 0)', '0'],
      ] as const) {
        const slices: Run[] = [];
        for (let slice = 0; slice < SLICES; slice++) {
          slices.push(await measure(`${mode}, sessions on the primary`, onPrimary, staleness, SECONDS / SLICES));
          slices.push(await measure(`${mode}, sessions on the standby`, onStandby, staleness, SECONDS / SLICES));
        }
        runs.push(combine(slices.filter((_, i) => i % 2 === 0)), combine(slices.filter((_, i) => i % 2 === 1)));
      }
    } finally {
      await writer.stop();
    }
    out(`${CLIENTS} clients, ${SECONDS} s per run, ${RECORDS}+ records in ${SHARDS} shards, a writer at ${RECORDS_PER_SECOND} records/s`);
    for (const run of runs) {
      const p50 = run.latencies.length > 0 ? percentile(run.latencies, 50).toFixed(1) : '-';
      const p99 = run.latencies.length > 0 ? percentile(run.latencies, 99).toFixed(1) : '-';
      out(
        `${run.label}: ${(run.queries / run.seconds).toFixed(0)} q/s, p50 ${p50} ms, p99 ${p99} ms, ` +
          `replay-wait notices ${run.replayNotices}, errors ${run.errors.length}${run.errors[0] ? ` (${run.errors[0]})` : ''}`,
      );
    }
  } finally {
    for (const server of servers.reverse()) await server.close();
    await standby.stop();
    await primary.stop();
    await stream.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runReplicaBench();
