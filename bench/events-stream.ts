/**
 * What the stream benchmarks (scan, engine) share: kinesalite in a process of its own, the `events` stream
 * of JSON records and its table definition, and a kinesql configuration serving it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, PutRecordsCommand, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import { DEFAULT_CONFIG, DEFAULT_SCAN_CONFIG, type KinesqlConfig } from '../src/config/config.js';
import { ensureStream } from '../src/demo/kinesis-standin.js';
import { createKinesisClient } from '../src/kinesis/client.js';
import type { ShardRateBudget } from '../src/kinesis/rate-budget.js';
import { isThrottle, type RetryPolicy, withRetries } from '../src/kinesis/retry.js';

export const COUNTRIES = ['DE', 'FR', 'US', 'JP', 'BR', 'IN', 'NG', 'AU'];

export interface BenchEvent {
  id: number;
  user: string;
  country: string;
  amount: number;
  kind: string;
}

export function event(i: number): BenchEvent {
  return { id: i, user: `user-${i % 5000}`, country: COUNTRIES[i % COUNTRIES.length]!, amount: (i % 1000) / 10, kind: i % 3 === 0 ? 'click' : 'view' };
}

/** Partition key of event i as putEvents sends it. */
export const partitionKey = (i: number): string => `pk-${i}`;

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/**
 * The hash key Kinesis derives from a partition key (MD5 as a 128-bit integer), in decimal: given as the
 * ExplicitHashKey, it routes each record to the shard its partition key would, and spares kinesalite its
 * slowest step (turning the MD5's hex into a decimal big number), a third of its time per record.
 */
function hashKeyOf(key: string): string {
  return BigInt(`0x${createHash('md5').update(key, 'utf8').digest('hex')}`).toString();
}

/** Puts events from … count-1 into the stream: 8 PutRecords calls of 500 records in flight. */
export async function putEvents(kinesis: KinesisClient, stream: string, count: number, from = 0): Promise<void> {
  const batches: number[] = [];
  for (let offset = from; offset < count; offset += 500) batches.push(offset);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < batches.length) {
        const offset = batches[next++]!;
        const records = Array.from({ length: Math.min(500, count - offset) }, (_, j) => ({
          Data: Buffer.from(JSON.stringify(event(offset + j))),
          PartitionKey: partitionKey(offset + j),
          ExplicitHashKey: hashKeyOf(partitionKey(offset + j)),
        }));
        const answer = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: records }));
        if (answer.FailedRecordCount) throw new Error(`${answer.FailedRecordCount} records not put`);
      }
    }),
  );
}

/** Writes the definition of table `events` (stream `events`) into tablesDir. */
export async function writeEventsDefinition(tablesDir: string): Promise<void> {
  await writeFile(
    join(tablesDir, 'events.json'),
    JSON.stringify({
      tableName: 'events',
      streamName: 'events',
      message: {
        dataFormat: 'json',
        fields: [
          { name: 'id', type: 'BIGINT', mapping: 'id' },
          { name: 'user_name', type: 'VARCHAR', mapping: 'user' },
          { name: 'country', type: 'VARCHAR', mapping: 'country' },
          { name: 'amount', type: 'DOUBLE', mapping: 'amount' },
          { name: 'kind', type: 'VARCHAR', mapping: 'kind' },
        ],
      },
    }),
  );
}

export interface BenchAws {
  region: string;
  kinesisEndpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

// kinesalite on a busy machine may take longer than real Kinesis's seconds to answer a call of 10,000
// records: the bench measures throughput, not how kinesql gives up on a stand-in.
const BENCH_SCAN = { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0, progressIntervalMs: 0, callTimeoutMs: 60_000, unresponsiveTimeoutMs: 300_000 };

/** kinesql on a free loopback port with the embedded engine, serving the definitions in tablesDir. */
export function benchConfig(tablesDir: string, aws: BenchAws): KinesqlConfig {
  return {
    ...DEFAULT_CONFIG,
    server: { host: '127.0.0.1', port: 0 },
    catalog: { ...DEFAULT_CONFIG.catalog, tablesLocation: tablesDir },
    aws,
    scan: BENCH_SCAN,
  };
}

/** kinesalite in a process of its own: real Kinesis does not use the client's CPU either. */
export async function startKinesaliteProcess(): Promise<{ endpoint: string; pid: number; close(): Promise<void> }> {
  const require = createRequire(import.meta.url);
  const port = 40_000 + Math.floor(Math.random() * 10_000);
  const child = spawn(process.execPath, [require.resolve('kinesalite/cli.js'), '--port', String(port), '--createStreamMs', '0', '--shardLimit', '100'], {
    stdio: 'ignore',
  });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await fetch(endpoint, { method: 'POST' });
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    endpoint,
    pid: child.pid ?? 0,
    close: async () => {
      child.kill();
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    },
  };
}

/**
 * What the scan and engine benchmarks start from: kinesalite in a process of its own, the `events` stream
 * filled with `records` records over `shards` shards, a definitions directory, and a sampler of this
 * process's peak RSS. close() undoes it all.
 */
export async function startEventsStream(records: number, shards: number, out: (line: string) => void) {
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
  // Real Kinesis does not use the client's CPU: kinesalite runs in a process of its own.
  const standIn = await startKinesaliteProcess();
  const aws = { region: 'us-east-1', kinesisEndpoint: standIn.endpoint, accessKeyId: 'bench', secretAccessKey: 'bench' };
  // Within the bench's long call timeout too: kinesalite on a busy machine can take seconds to answer.
  const kinesis = createKinesisClient(aws, { requestTimeoutMs: 60_000 });
  const tablesDir = await mkdtemp(join(tmpdir(), 'kinesql-bench-tables-'));
  const close = async (): Promise<void> => {
    clearInterval(sampler);
    kinesis.destroy();
    await standIn.close();
    await rm(tablesDir, { recursive: true, force: true });
  };
  try {
    await ensureStream(kinesis, 'events', shards);
    const put = await timed(() => putEvents(kinesis, 'events', records));
    out(`put ${records} records in ${shards} shards: ${seconds(put.ms)}`);
  } catch (error) {
    await close();
    throw error;
  }
  const resetPeakRss = (): void => {
    peakRss = process.memoryUsage.rss();
  };
  return { aws, kinesis, tablesDir, peakRss: () => peakRss, resetPeakRss, standInPid: standIn.pid, close };
}

/**
 * How the bench's own loops retry a failed Kinesis call: as kinesql does under benchConfig (its attempts,
 * backoff with full jitter and deadlines), so that a stand-in hanging up on a busy machine costs both the
 * same wait instead of ending the baseline.
 */
function benchRetryPolicy(onRetry: () => void): RetryPolicy {
  return {
    attempts: DEFAULT_CONFIG.read.fetchAttempts,
    baseDelayMs: DEFAULT_CONFIG.read.sleepTimeMs,
    maxDelayMs: BENCH_SCAN.maxBackoffMs,
    callTimeoutMs: BENCH_SCAN.callTimeoutMs,
    deadlineMs: BENCH_SCAN.unresponsiveTimeoutMs,
    onRetry,
  };
}

/**
 * The baseline of a cold load: a bare SDK loop reading every shard of the stream from TRIM_HORIZON, in
 * parallel, 10,000 records a call; within Kinesis's per-shard read limits when a budget is given (which
 * kinesql honours, and any correct consumer must). Failed calls are retried as kinesql retries them (a
 * throttled GetRecords waits for the budget again); `retries` counts them. With `consume`, each batch is
 * handed to it before the shard's next call (what a plain consumer does with it). Resolves to the number
 * of records read.
 */
export async function bareGetRecordsLoop(
  kinesis: KinesisClient,
  stream: string,
  budget?: ShardRateBudget,
  consume?: (shardId: string, records: _Record[]) => Promise<void>,
): Promise<{ ms: number; value: number; retries: number }> {
  let retries = 0;
  const retry = benchRetryPolicy(() => (retries += 1));
  const call = <T>(what: string, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> => withRetries(retry, what, send);
  const loop = await timed(async () => {
    const shards = (await call('ListShards', (abortSignal) => kinesis.send(new ListShardsCommand({ StreamName: stream }), { abortSignal }))).Shards ?? [];
    const counts = await Promise.all(
      shards.map(async (shard) => {
        const shardId = shard.ShardId!;
        const start = await call(`GetShardIterator ${shardId}`, (abortSignal) =>
          kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }), { abortSignal }),
        );
        let iterator = start.ShardIterator;
        let n = 0;
        for (;;) {
          await budget?.acquire(stream, shardId);
          const answer = await call(`GetRecords ${shardId}`, async (abortSignal) => {
            try {
              return await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }), { abortSignal });
            } catch (error) {
              // As kinesql: a throttled call used the shard's budget too, so its retry waits for the next call.
              if (isThrottle(error)) await budget?.acquire(stream, shardId);
              throw error;
            }
          });
          budget?.spend(
            stream,
            shardId,
            (answer.Records ?? []).reduce((sum, record) => sum + (record.Data?.byteLength ?? 0), 0),
          );
          n += answer.Records?.length ?? 0;
          if (!answer.Records?.length) return n;
          await consume?.(shardId, answer.Records);
          iterator = answer.NextShardIterator;
        }
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  });
  return { ...loop, retries };
}
