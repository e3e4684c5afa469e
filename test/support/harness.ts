import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import type { Logger } from 'pino';
import { DEFAULT_CONFIG, DEFAULT_SCAN_CONFIG, type KinesqlConfig } from '../../src/config/config.js';
import { ensureStream, startKinesisStandIn, type KinesisStandIn } from '../../src/demo/kinesis-standin.js';
import { createKinesisClient } from '../../src/kinesis/client.js';
import { startKinesql, type RunningKinesql } from '../../src/kinesql.js';
import { startCitusCluster, type CitusCluster } from './citus-cluster.js';
import { startExternalPostgres } from './external-postgres.js';
import { testLogger } from './test-logger.js';

/**
 * KINESQL_TEST_ENGINE=external runs a harness's kinesql on an external engine: Debian's PostgreSQL 15,
 * started for the harness on a free loopback port (the vitest project "external-engine" sets it).
 * KINESQL_TEST_ENGINE=citus runs it on a Citus coordinator with two workers, stream tables distributed
 * (the vitest project "citus-engine").
 */
const testEngine = process.env['KINESQL_TEST_ENGINE'];

/** The external engine a harness's kinesql runs on, started for it; undefined for the embedded engine. */
async function startTestEngine(): Promise<{ url: string; stop(): Promise<void>; citus?: CitusCluster } | undefined> {
  if (testEngine === 'external') return startExternalPostgres();
  if (testEngine === 'citus') {
    const cluster = await startCitusCluster();
    return { url: cluster.url, stop: () => cluster.stop(), citus: cluster };
  }
  return undefined;
}

export interface Harness {
  standIn: KinesisStandIn;
  kinesis: KinesisClient;
  server: RunningKinesql;
  tablesDir: string;
  config: KinesqlConfig;
  connection: pg.ClientConfig;
  /** The Citus cluster kinesql runs on (KINESQL_TEST_ENGINE=citus): its nodes, for faults. */
  citus?: CitusCluster;
  connect(): Promise<pg.Client>;
  /** Puts records (objects are sent as JSON, strings and buffers as they are) and waits for the answer. */
  put(stream: string, records: (unknown | { data: Buffer | string; partitionKey?: string })[]): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  streams: { name: string; shards: number }[];
  /** Table definitions as the files would hold them, by file name. */
  definitions: Record<string, unknown>;
  configure?: (config: KinesqlConfig) => KinesqlConfig;
  logger?: Logger;
}

export { testLogger };

/** A Kinesis stand-in and a kinesql server on free loopback ports, with definitions in a temporary directory. */
export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const standIn = await startKinesisStandIn();
  const tablesDir = await mkdtemp(join(tmpdir(), 'kinesql-test-tables-'));
  for (const [file, definition] of Object.entries(options.definitions)) {
    await writeFile(join(tablesDir, file), typeof definition === 'string' ? definition : JSON.stringify(definition, null, 2));
  }
  const base: KinesqlConfig = {
    ...DEFAULT_CONFIG,
    server: { host: '127.0.0.1', port: 0 },
    catalog: { ...DEFAULT_CONFIG.catalog, tablesLocation: tablesDir, refreshIntervalMs: 1_000 },
    aws: { region: 'us-east-1', kinesisEndpoint: standIn.endpoint, accessKeyId: 'test', secretAccessKey: 'test' },
    // Tests count reads and pace them statement by statement: no background follower unless a test asks.
    scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0 },
  };
  const external = await startTestEngine();
  if (external) base.engine = { ...base.engine, url: external.url };
  const config = options.configure ? options.configure(base) : base;
  const kinesis = createKinesisClient(config.aws);
  for (const stream of options.streams) await ensureStream(kinesis, stream.name, stream.shards);
  const server = await startKinesql(config, options.logger ?? testLogger);
  const connection: pg.ClientConfig = { host: server.host, port: server.port, user: 'tester', database: 'kinesql' };
  let counter = 0;
  return {
    standIn,
    kinesis,
    server,
    tablesDir,
    config,
    connection,
    ...(external?.citus ? { citus: external.citus } : {}),
    async connect() {
      const client = new pg.Client(connection);
      await client.connect();
      return client;
    },
    async put(stream, records) {
      for (let offset = 0; offset < records.length; offset += 500) {
        const entries = records.slice(offset, offset + 500).map((record) => {
          counter += 1;
          if (record !== null && typeof record === 'object' && 'data' in record) {
            const explicit = record as { data: Buffer | string; partitionKey?: string };
            return { Data: Buffer.from(explicit.data), PartitionKey: explicit.partitionKey ?? `key-${counter}` };
          }
          return { Data: Buffer.from(JSON.stringify(record)), PartitionKey: `key-${counter}` };
        });
        const put = () => kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: entries }));
        // The client makes one attempt (kinesql retries on its own): a keep-alive socket the stand-in closed
        // while the test was busy elsewhere is reset before the request is read, so sending again is safe.
        const answer = await put().catch((error: unknown) => {
          if ((error as { code?: string }).code !== 'ECONNRESET' && !String((error as Error).message).includes('ECONNRESET')) throw error;
          return put();
        });
        if (answer.FailedRecordCount) throw new Error(`${answer.FailedRecordCount} records were not put`);
      }
    },
    async close() {
      await server.close();
      await external?.stop();
      kinesis.destroy();
      await standIn.close();
      await rm(tablesDir, { recursive: true, force: true });
    },
  };
}
