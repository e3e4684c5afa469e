import {
  DescribeStreamSummaryCommand,
  MergeShardsCommand,
  SplitShardCommand,
  UpdateShardCountCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KinesqlConfig } from '../../src/config/config.js';
import { ensureStream } from '../../src/demo/kinesis-standin.js';
import { listShards } from '../../src/kinesis/shard-listing.js';
import { startHarness, type Harness } from '../support/harness.js';
import { startKinesisMock, type KinesisMock } from './kinesis-mock.js';

const KEYS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];

async function waitActive(kinesis: KinesisClient, stream: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${stream} did not become ACTIVE`);
}

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
      ],
      definitions: {
        'resharded.json': {
          tableName: 'resharded',
          streamName: 'resharded',
          message: { dataFormat: 'json', fields: [{ name: 'key', type: 'VARCHAR', mapping: 'key' }, { name: 'n', type: 'INTEGER', mapping: 'n' }] },
        },
        'wide.json': { tableName: 'wide', streamName: 'wide' },
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
    // Loaded parents before children: each key's records went into the table in the order they were sent.
    const rows = await query<{ key: string; n: number }>('select key, n from resharded order by ctid');
    for (const key of KEYS) {
      const ns = rows.filter((row) => row.key === key).map((row) => row.n);
      expect(ns).toEqual(Array.from({ length: perKey.get(key)! }, (_, i) => i + 1));
    }
    const lineage = await query<{ shard_id: string; parent_shard_id: string | null; state: string }>(
      `select shard_id, parent_shard_id, state from kinesql.shards where table_name = 'resharded'`,
    );
    expect(lineage.filter((shard) => shard.parent_shard_id !== null).length).toBeGreaterThan(0);
    expect(lineage.filter((shard) => shard.state === 'closed, read to its end').length).toBeGreaterThan(0);
  }, 120_000);

  it('lists more than 100 shards, page by page', async () => {
    await ensureStream(harness.kinesis, 'wide', 120);
    const paged = await listShards(harness.kinesis, 'wide', { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 }, 25);
    expect(new Set(paged.map((shard) => shard.shardId)).size).toBe(120);
    expect(await query<{ n: number }>('select count(*)::int as n from wide')).toEqual([{ n: 0 }]);
    expect(await query<{ n: number }>(`select count(*)::int as n from kinesql.shards where table_name = 'wide'`)).toEqual([{ n: 120 }]);
  }, 120_000);
});
