import { MergeShardsCommand, PutRecordsCommand, SplitShardCommand, UpdateShardCountCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KinesqlConfig } from '../../src/config/config.js';
import { ensureStream } from '../../src/demo/kinesis-standin.js';
import { listShards } from '../../src/kinesis/shard-listing.js';
import { startHarness, type Harness } from '../support/harness.js';
import { startKinesisMock, type KinesisMock, waitActive } from './kinesis-mock.js';

const KEYS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];

describe('resharding on kinesis-mock while records flow', () => {
  let mock: KinesisMock;
  let harness: Harness;
  let sent = 0;
  const perKey = new Map<string, number>();

  const putRound = async (records: number): Promise<void> => {
    const batch = Array.from({ length: records }, (_, i) => {
      const key = KEYS[(sent + i) % KEYS.length]!;
      const n = (perKey.get(key) ?? 0) + 1;
      perKey.set(key, n);
      return { data: JSON.stringify({ key, n }), partitionKey: key };
    });
    sent += records;
    await harness.put('resharded', batch);
  };

  const query = async <T>(sql: string): Promise<T[]> => {
    const client = await harness.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    mock = await startKinesisMock();
    harness = await startHarness({
      streams: [
        { name: 'resharded', shards: 2 },
        { name: 'wide', shards: 120 },
        { name: 'flowing', shards: 2 },
        { name: 'stepwise', shards: 1 },
      ],
      definitions: {
        'resharded.json': {
          tableName: 'resharded',
          streamName: 'resharded',
          message: {
            dataFormat: 'json',
            fields: [
              { name: 'key', type: 'VARCHAR', mapping: 'key' },
              { name: 'n', type: 'INTEGER', mapping: 'n' },
            ],
          },
        },
        'wide.json': { tableName: 'wide', streamName: 'wide' },
        'flowing.json': {
          tableName: 'flowing',
          streamName: 'flowing',
          message: {
            dataFormat: 'json',
            fields: [
              { name: 'key', type: 'VARCHAR', mapping: 'key' },
              { name: 'n', type: 'INTEGER', mapping: 'n' },
            ],
          },
        },
        'stepwise.json': {
          tableName: 'stepwise',
          streamName: 'stepwise',
          message: {
            dataFormat: 'json',
            fields: [
              { name: 'key', type: 'VARCHAR', mapping: 'key' },
              { name: 'n', type: 'INTEGER', mapping: 'n' },
            ],
          },
        },
      },
      configure: (base: KinesqlConfig) => ({ ...base, aws: { ...base.aws, kinesisEndpoint: mock.endpoint } }),
    });
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });

  it('counts every record once and keeps each key in order across split, merge and UpdateShardCount', async () => {
    const kinesis = harness.kinesis;
    await putRound(120);
    expect(await query<{ n: number }>('select count(*)::int as n from resharded')).toEqual([{ n: 120 }]);

    const shards = await listShards(kinesis, 'resharded', { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 });
    const first = shards[0]!;
    const middle = (first.startingHashKey + first.endingHashKey) / 2n;
    await kinesis.send(new SplitShardCommand({ StreamName: 'resharded', ShardToSplit: first.shardId, NewStartingHashKey: middle.toString() }));
    await waitActive(kinesis, 'resharded');
    await putRound(120);
    expect(await query<{ n: number }>('select count(*)::int as n from resharded')).toEqual([{ n: 240 }]);

    const open = (await listShards(kinesis, 'resharded', { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 }))
      .filter((shard) => shard.endingSequenceNumber === undefined)
      .sort((a, b) => (a.startingHashKey < b.startingHashKey ? -1 : 1));
    await kinesis.send(new MergeShardsCommand({ StreamName: 'resharded', ShardToMerge: open[0]!.shardId, AdjacentShardToMerge: open[1]!.shardId }));
    await waitActive(kinesis, 'resharded');
    await putRound(120);
    await kinesis.send(new UpdateShardCountCommand({ StreamName: 'resharded', TargetShardCount: 4, ScalingType: 'UNIFORM_SCALING' }));
    await waitActive(kinesis, 'resharded');
    await putRound(120);

    const totals = await query<{ n: number; distinct_records: number; shards: number }>(
      'select count(*)::int as n, count(distinct (_shard_id, _shard_sequence_id))::int as distinct_records, count(distinct _shard_id)::int as shards from resharded',
    );
    expect(totals[0]!.n).toBe(480);
    expect(totals[0]!.distinct_records).toBe(480);
    expect(totals[0]!.shards).toBeGreaterThan(2);
    // Every record of each key once, and within each shard in the order they were sent (sequence numbers).
    const rows = await query<{ key: string; n: number }>('select key, n from resharded order by _shard_id, _shard_sequence_id::numeric');
    for (const key of KEYS) {
      const ns = rows.filter((row) => row.key === key).map((row) => row.n);
      expect([...ns].sort((a, b) => a - b)).toEqual(Array.from({ length: perKey.get(key)! }, (_, i) => i + 1));
    }
    const byShard = await query<{ key: string; shard: string; ns: number[] }>(
      'select key, _shard_id as shard, array_agg(n order by _shard_sequence_id::numeric) as ns from resharded group by 1, 2',
    );
    for (const { ns } of byShard) expect(ns).toEqual([...ns].sort((a, b) => a - b));
    const lineage = await query<{ shard_id: string; parent_shard_id: string | null; state: string }>(
      `select shard_id, parent_shard_id, state from kinesql.shards where table_name = 'resharded'`,
    );
    expect(lineage.filter((shard) => shard.parent_shard_id !== null).length).toBeGreaterThan(0);
    expect(lineage.filter((shard) => shard.state === 'closed, read to its end').length).toBeGreaterThan(0);
  }, 120_000);

  it('counts every record once and keeps each key in order while split, merge and UpdateShardCount happen as records flow', async () => {
    const kinesis = harness.kinesis;
    const stream = 'flowing';
    const flowKeys = ['kilo', 'lima', 'mike', 'november', 'oscar'];
    const listOptions = { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 };

    // The writer: PutRecords of a few records at a time, each carrying its key's running counter, until told to stop.
    const writer = { perKey: new Map<string, number>(), sent: 0, batches: 0, stopping: false, failure: undefined as unknown };
    const writing = (async () => {
      while (!writer.stopping) {
        const records = Array.from({ length: 10 }, (_, i) => {
          const key = flowKeys[(writer.sent + i) % flowKeys.length]!;
          const n = (writer.perKey.get(key) ?? 0) + 1;
          writer.perKey.set(key, n);
          return { Data: Buffer.from(JSON.stringify({ key, n })), PartitionKey: key };
        });
        const answer = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: records }));
        // A partly failed batch would leave holes in the counters; the stand-in is not expected to do that.
        if (answer.FailedRecordCount) throw new Error(`${answer.FailedRecordCount} of a batch were not put`);
        writer.sent += records.length;
        writer.batches += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })().catch((error: unknown) => {
      writer.failure = error;
    });
    const moreBatches = async (count: number): Promise<void> => {
      const target = writer.batches + count;
      while (writer.batches < target) {
        if (writer.failure !== undefined) throw writer.failure;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };

    // The reader: one session querying the table over and over while the stream is resharded.
    type Row = { key: string; n: number; shard: string; seq: string };
    const reader = { queries: 0, lastCount: 0, stopping: false, failure: undefined as unknown };
    const checkSnapshot = (rows: Row[]): void => {
      expect(new Set(rows.map((row) => `${row.shard}/${row.seq}`)).size).toBe(rows.length);
      // Parents are loaded before their children, so what a query sees of each key is its first records, with
      // no gap; within a shard their sequence numbers follow the order they were sent in.
      for (const key of flowKeys) {
        const own = rows.filter((row) => row.key === key);
        expect(own.map((row) => row.n).sort((a, b) => a - b)).toEqual(Array.from({ length: own.length }, (_, i) => i + 1));
        for (const shard of new Set(own.map((row) => row.shard))) {
          const inShard = own.filter((row) => row.shard === shard).sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
          expect(inShard.map((row) => row.n)).toEqual([...inShard.map((row) => row.n)].sort((a, b) => a - b));
        }
      }
    };
    const snapshotSql = `select key, n, _shard_id as shard, _shard_sequence_id as seq from ${stream}`;
    const session = await harness.connect();
    // Pages of a few records: a read often ends mid-shard (at the statement's start) while the stream is resharded.
    await session.query('set kinesis.batch_size = 7');
    const reading = (async () => {
      while (!reader.stopping) {
        const rows = (await session.query(snapshotSql)).rows as Row[];
        checkSnapshot(rows);
        expect(rows.length).toBeGreaterThanOrEqual(reader.lastCount);
        reader.lastCount = rows.length;
        reader.queries += 1;
      }
    })().catch((error: unknown) => {
      reader.failure = error;
    });
    const readerAlive = (): void => {
      if (reader.failure !== undefined) throw reader.failure;
    };

    try {
      await moreBatches(20);
      const first = (await listShards(kinesis, stream, listOptions))[0]!;
      const middle = (first.startingHashKey + first.endingHashKey) / 2n;
      await kinesis.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: first.shardId, NewStartingHashKey: middle.toString() }));
      await waitActive(kinesis, stream);
      await moreBatches(20);
      readerAlive();

      const open = (await listShards(kinesis, stream, listOptions))
        .filter((shard) => shard.endingSequenceNumber === undefined)
        .sort((a, b) => (a.startingHashKey < b.startingHashKey ? -1 : 1));
      await kinesis.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: open[0]!.shardId, AdjacentShardToMerge: open[1]!.shardId }));
      await waitActive(kinesis, stream);
      await moreBatches(20);
      readerAlive();

      await kinesis.send(new UpdateShardCountCommand({ StreamName: stream, TargetShardCount: 4, ScalingType: 'UNIFORM_SCALING' }));
      await waitActive(kinesis, stream);
      await moreBatches(20);
      readerAlive();
    } finally {
      writer.stopping = true;
      reader.stopping = true;
      await writing;
      await reading;
      await session.end();
    }
    if (writer.failure !== undefined) throw writer.failure;
    readerAlive();
    expect(reader.queries).toBeGreaterThan(0);

    // After the writer stopped: every record put, once, each key's counters in the order they were sent.
    const rows = await query<Row>(snapshotSql);
    expect(rows.length).toBe(writer.sent);
    checkSnapshot(rows);
    const expected = flowKeys.flatMap((key) => Array.from({ length: writer.perKey.get(key) ?? 0 }, (_, i) => `${key}#${i + 1}`)).sort();
    expect(rows.map((row) => `${row.key}#${row.n}`).sort()).toEqual(expected);
    const lineage = await query<{ shard_id: string; parent_shard_id: string | null; state: string; rows: number }>(
      `select shard_id, parent_shard_id, state, records::int as rows from kinesql.shards where table_name = '${stream}'`,
    );
    // Records were read from parents that closed and from the children that took their place.
    expect(lineage.filter((shard) => shard.state === 'closed, read to its end' && shard.rows > 0).length).toBeGreaterThan(0);
    expect(lineage.filter((shard) => shard.parent_shard_id !== null && shard.rows > 0).length).toBeGreaterThan(0);
  }, 180_000);

  it('loads no child shard before its parent is read to its end when reads stop early (kinesis.max_batches)', async () => {
    const kinesis = harness.kinesis;
    const put = async (from: number, to: number): Promise<void> => {
      const records = Array.from({ length: to - from + 1 }, (_, i) => ({ data: JSON.stringify({ key: 'zulu', n: from + i }), partitionKey: 'zulu' }));
      await harness.put('stepwise', records);
    };
    await put(1, 20);
    const [parent] = await listShards(kinesis, 'stepwise', { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 });
    const middle = (parent!.startingHashKey + parent!.endingHashKey) / 2n;
    await kinesis.send(new SplitShardCommand({ StreamName: 'stepwise', ShardToSplit: parent!.shardId, NewStartingHashKey: middle.toString() }));
    await waitActive(kinesis, 'stepwise');
    await put(21, 30);

    // Each statement reads one page of five records per shard: the parent takes several statements.
    const session = await harness.connect();
    const seen: number[][] = [];
    try {
      await session.query('set kinesis.max_batches = 1');
      await session.query('set kinesis.batch_size = 5');
      for (let statement = 0; statement < 12 && seen.at(-1)?.length !== 30; statement++) {
        seen.push((await session.query<{ n: number }>(`select n from stepwise where key = 'zulu' order by n`)).rows.map((row) => row.n));
      }
    } finally {
      await session.end();
    }
    expect(seen.length).toBeGreaterThan(1);
    for (const ns of seen) expect(ns).toEqual(Array.from({ length: ns.length }, (_, i) => i + 1));
    expect(seen.at(-1)).toHaveLength(30);
  }, 120_000);

  it('lists more than 100 shards, page by page', async () => {
    await ensureStream(harness.kinesis, 'wide', 120);
    const paged = await listShards(harness.kinesis, 'wide', { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 }, 25);
    expect(new Set(paged.map((shard) => shard.shardId)).size).toBe(120);
    expect(await query<{ n: number }>('select count(*)::int as n from wide')).toEqual([{ n: 0 }]);
    expect(await query<{ n: number }>(`select count(*)::int as n from kinesql.shards where table_name = 'wide'`)).toEqual([{ n: 120 }]);
  }, 120_000);
});
