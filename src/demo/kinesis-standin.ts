import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import { CreateStreamCommand, DescribeStreamSummaryCommand, ResourceInUseException, type KinesisClient } from '@aws-sdk/client-kinesis';
import { sleep } from '../kinesis/retry.js';

const require = createRequire(import.meta.url);

interface KinesaliteOptions {
  createStreamMs?: number;
  deleteStreamMs?: number;
  updateStreamMs?: number;
  shardLimit?: number;
  path?: string;
}
type KinesaliteAction = (store: KinesaliteStore, data: Record<string, unknown>, cb: (error: unknown, result?: unknown) => void) => void;
interface KinesaliteStore {
  getStreamDb(streamName: string): { createReadStream(options: { gt: string; lt: string }): unknown };
}
interface LazyStream {
  filter(predicate: (item: { value: { ApproximateArrivalTimestamp: number } }) => boolean): LazyStream;
  take(count: number): LazyStream;
  join(fn: (items: unknown[]) => void): void;
}
interface KinesaliteDb {
  resolveShardId(shardId: unknown): { shardIx: number };
  shardIxToHex(shardIx: number): string;
  lazy(stream: unknown, cb: (error: unknown) => void): LazyStream;
}

/**
 * kinesalite 3.3 never answers GetShardIterator AT_TIMESTAMP when no record of the shard arrived at or
 * after the timestamp (Kinesis answers with an iterator at the tip). Its action is wrapped before the server
 * loads it: with no such record, the iterator is asked for as LATEST, which is what Kinesis means there.
 */
function patchAtTimestampIterators(): void {
  const actionPath = require.resolve('kinesalite/actions/getShardIterator');
  const original = require(actionPath) as KinesaliteAction;
  const db = require('kinesalite/db') as KinesaliteDb;
  const patched: KinesaliteAction = (store, data, cb) => {
    if (data['ShardIteratorType'] !== 'AT_TIMESTAMP' || typeof data['Timestamp'] !== 'number') return original(store, data, cb);
    let shardIx: number;
    try {
      shardIx = db.resolveShardId(data['ShardId']).shardIx;
    } catch {
      return original(store, data, cb);
    }
    const timestamp = data['Timestamp'];
    const records = store.getStreamDb(String(data['StreamName'])).createReadStream({ gt: db.shardIxToHex(shardIx), lt: db.shardIxToHex(shardIx + 1) });
    db.lazy(records, cb)
      .filter((item) => item.value.ApproximateArrivalTimestamp >= timestamp)
      .take(1)
      .join((found) => {
        if (found.length > 0) return original(store, data, cb);
        const { Timestamp: _unused, ...rest } = data;
        return original(store, { ...rest, ShardIteratorType: 'LATEST' }, cb);
      });
  };
  require.cache[actionPath]!.exports = patched;
}

/**
 * kinesalite 3.3 answers GetRecords on an open shard with MillisBehindLatest 0 however much is left to
 * read, so a consumer never sees how far behind it is. Kinesis says how far the answer is from the tip:
 * here, an answer that filled its limit (more records may follow) is behind by the age of its last record.
 */
function patchMillisBehindLatest(): void {
  const actionPath = require.resolve('kinesalite/actions/getRecords');
  const original = require(actionPath) as KinesaliteAction;
  const patched: KinesaliteAction = (store, data, cb) =>
    original(store, data, (error, result) => {
      const answer = result as { Records?: { ApproximateArrivalTimestamp: number }[]; MillisBehindLatest?: number; NextShardIterator?: string } | undefined;
      const records = answer?.Records ?? [];
      const limit = typeof data['Limit'] === 'number' ? data['Limit'] : 10_000;
      if (!error && answer?.NextShardIterator !== undefined && records.length > 0 && records.length >= limit) {
        answer.MillisBehindLatest = Math.max(0, Math.round(Date.now() - records[records.length - 1]!.ApproximateArrivalTimestamp * 1000));
      }
      cb(error, result);
    });
  require.cache[actionPath]!.exports = patched;
}

patchAtTimestampIterators();
patchMillisBehindLatest();
const kinesalite = require('kinesalite') as (options: KinesaliteOptions) => Server;

export interface KinesisStandIn {
  endpoint: string;
  close(): Promise<void>;
}

/** kinesalite, the in-process Kinesis stand-in, in memory, on a loopback port. */
export async function startKinesisStandIn(port = 0): Promise<KinesisStandIn> {
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('kinesalite has no TCP address');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Creates a stream (if it does not exist) and waits until it is ACTIVE. */
export async function ensureStream(client: KinesisClient, streamName: string, shardCount: number): Promise<void> {
  try {
    await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await sleep(50);
  }
  throw new Error(`stream ${streamName} did not become ACTIVE`);
}
