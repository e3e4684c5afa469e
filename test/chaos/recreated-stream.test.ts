import { DeleteStreamCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCAN_CONFIG, type KinesqlConfig } from '../../src/config/config.js';
import { ensureStream } from '../../src/demo/kinesis-standin.js';
import { startKinesql, type RunningKinesql } from '../../src/kinesql.js';
import { engineUrlOf } from '../support/child-server.js';
import { checkExactness } from '../support/exactness.js';
import { startHarness, testLogger, type Harness } from '../support/harness.js';

/**
 * A stream deleted and created again under the same name is a new stream: while it is gone the table shows
 * what was loaded and says the stream is missing; once it is back the old stream's rows are gone and the
 * table shows exactly the new stream's records.
 */
const definition = {
  tableName: 'orders',
  streamName: 'orders',
  message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] },
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs sql and collects the NOTICEs the statement got. */
async function queryWithNotices(client: pg.Client, sql: string): Promise<{ rows: Record<string, unknown>[]; notices: string[] }> {
  const notices: string[] = [];
  const listener = (notice: { message?: string }): void => void notices.push(notice.message ?? '');
  client.on('notice', listener);
  try {
    const { rows } = await client.query(sql);
    return { rows, notices };
  } finally {
    client.off('notice', listener);
  }
}

/** Deletes a stream and waits until Kinesis no longer knows it. */
async function deleteStream(harness: Harness, name: string): Promise<void> {
  await harness.kinesis.send(new DeleteStreamCommand({ StreamName: name }));
  for (;;) {
    const gone = await harness.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name })).then(
      () => false,
      () => true,
    );
    if (gone) return;
    await sleep(50);
  }
}

const harnessOptions = {
  streams: [{ name: 'orders', shards: 2 }],
  definitions: { 'orders.json': definition },
  // Every catch-up lists the stream, so the change is seen by the next statement.
  configure: (config: KinesqlConfig) => ({ ...config, scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0, shardListIntervalMs: 0 } }),
};

describe('a stream deleted and created again under the same name', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness(harnessOptions);
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('keeps the old rows readable while the stream is gone, then shows exactly the new stream', async () => {
    await harness.put(
      'orders',
      Array.from({ length: 60 }, (_, n) => ({ n })),
    );
    const client = await harness.connect();
    try {
      expect((await client.query('select count(*)::int as c from orders')).rows[0]?.c).toBe(60);

      await deleteStream(harness, 'orders');
      const whileGone = await queryWithNotices(client, 'select count(*)::int as c from orders');
      expect(whileGone.rows[0]?.c).toBe(60);
      expect(whileGone.notices.some((notice) => notice.includes('Kinesis stream "orders" does not exist'))).toBe(true);
      const goneStatus = await client.query(`select stream_status from kinesql.streams where table_name = 'orders'`);
      expect(String(goneStatus.rows[0]?.stream_status)).toMatch(/^deleted/);

      // Kinesis records creation times in seconds: the new stream is created in a later second.
      await sleep(1_100);
      await ensureStream(harness.kinesis, 'orders', 3);
      await harness.put(
        'orders',
        Array.from({ length: 25 }, (_, n) => ({ n: 1000 + n })),
      );
      const recreated = await queryWithNotices(client, 'select count(*)::int as c, min(n) as low from orders');
      expect(recreated.rows[0]).toEqual({ c: 25, low: 1000 });
      expect(recreated.notices.some((notice) => notice.includes('deleted and created again') && notice.includes('the 60 records'))).toBe(true);

      const exactness = await checkExactness(harness.kinesis, 'orders', client, 'orders');
      expect(exactness).toMatchObject({ records: 25, rows: 25, lost: [], duplicated: [], unknown: [], outOfOrderShards: [], outOfOrderKeys: [] });
      const status = await client.query(`select stream_status, shards, records from kinesql.streams where table_name = 'orders'`);
      expect(status.rows[0]).toMatchObject({ shards: 3, records: '25' });
      expect(String(status.rows[0]?.stream_status)).toMatch(/^active; recreated .*the 60 records of the previous stream dropped/);
      const shardRows = await client.query(`select shard_id, records from kinesql.shards where table_name = 'orders' order by shard_id`);
      expect(shardRows.rows.map((row) => row.shard_id)).toEqual(['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002']);
    } finally {
      await client.end();
    }
  }, 120_000);
});

describe('a recreated stream, with two kinesql servers on one engine', () => {
  let harness: Harness;
  let second: RunningKinesql;

  beforeAll(async () => {
    harness = await startHarness(harnessOptions);
    const url = engineUrlOf(harness.server.engine.endpoint);
    second = await startKinesql({ ...harness.config, engine: { ...harness.config.engine, url } }, testLogger);
  }, 120_000);

  afterAll(async () => {
    await second?.close();
    await harness?.close();
  });

  const count = async (server: RunningKinesql): Promise<unknown> => {
    const client = new pg.Client({ host: server.host, port: server.port, user: 'tester', database: 'kinesql' });
    await client.connect();
    try {
      return (await client.query('select count(*)::int as n, count(distinct n)::int as messages, min(n) as low from orders')).rows[0];
    } finally {
      await client.end();
    }
  };

  it('drops the old stream once between them, and both show exactly the new stream', async () => {
    await harness.put(
      'orders',
      Array.from({ length: 30 }, (_, n) => ({ n })),
    );
    expect(await count(harness.server)).toEqual({ n: 30, messages: 30, low: 0 });
    expect(await count(second)).toEqual({ n: 30, messages: 30, low: 0 });

    await deleteStream(harness, 'orders');
    await sleep(1_100);
    await ensureStream(harness.kinesis, 'orders', 2);
    await harness.put(
      'orders',
      Array.from({ length: 12 }, (_, n) => ({ n: 500 + n })),
    );
    // Both notice at the same moment; one drops the old rows, the other finds the new stream recorded.
    const [first, other] = await Promise.all([count(harness.server), count(second)]);
    expect(first).toEqual({ n: 12, messages: 12, low: 500 });
    expect(other).toEqual({ n: 12, messages: 12, low: 500 });
    await harness.put(
      'orders',
      Array.from({ length: 8 }, (_, n) => ({ n: 600 + n })),
    );
    expect(await count(second)).toEqual({ n: 20, messages: 20, low: 500 });
    const client = await harness.connect();
    try {
      const exactness = await checkExactness(harness.kinesis, 'orders', client, 'orders');
      expect(exactness).toMatchObject({ records: 20, rows: 20, lost: [], duplicated: [], unknown: [], outOfOrderShards: [], outOfOrderKeys: [] });
    } finally {
      await client.end();
    }
  }, 120_000);
});
