/**
 * What a user would write instead of kinesql to get a stream into PostgreSQL: the paced GetRecords loop,
 * each batch parsed as JSON and copied into a plain table of the same engine (one connection per shard,
 * one COPY per batch, commits not waiting for the disk, as kinesql's). The second yardstick of a cold load.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { EngineEndpoint } from '../src/engine/engine.js';
import { copyLine } from '../src/store/copy-text.js';
import { ShardRateBudget } from '../src/kinesis/rate-budget.js';
import { bareGetRecordsLoop, type BenchEvent } from './events-stream.js';

export async function plainConsumer(kinesis: KinesisClient, stream: string, endpoint: EngineEndpoint): Promise<{ ms: number; value: number; retries: number }> {
  const connect = async (): Promise<pg.Client> => {
    const client = new pg.Client({ host: endpoint.host, port: endpoint.port, user: endpoint.user, password: endpoint.password, database: endpoint.database });
    await client.connect();
    await client.query('SET synchronous_commit = off');
    return client;
  };
  const admin = await connect();
  await admin.query('DROP SCHEMA IF EXISTS bench_plain CASCADE; CREATE SCHEMA bench_plain');
  await admin.query(`CREATE TABLE bench_plain.events (id bigint, user_name text, country text, amount double precision, kind text,
    shard_id text, sequence_number text, partition_key text, arrived timestamptz)`);
  const clients = new Map<string, Promise<pg.Client>>();
  const decoder = new TextDecoder();
  try {
    return await bareGetRecordsLoop(kinesis, stream, new ShardRateBudget(), async (shardId, records) => {
      if (!clients.has(shardId)) clients.set(shardId, connect());
      const client = await clients.get(shardId)!;
      let text = '';
      for (const record of records) {
        const event = JSON.parse(decoder.decode(record.Data)) as BenchEvent;
        text += copyLine([
          String(event.id),
          event.user,
          event.country,
          String(event.amount),
          event.kind,
          shardId,
          record.SequenceNumber!,
          record.PartitionKey!,
          record.ApproximateArrivalTimestamp!.toISOString(),
        ]);
      }
      await pipeline(Readable.from([Buffer.from(text)]), client.query(copyFrom('COPY bench_plain.events FROM STDIN')));
    });
  } finally {
    for (const client of clients.values()) await (await client).end();
    await admin.query('DROP SCHEMA bench_plain CASCADE');
    await admin.end();
  }
}
