import { DeleteStreamCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import { ensureStream } from '../../src/demo/kinesis-standin.js';
import { checkExactness } from '../support/exactness.js';
import { startHarness, type Harness } from '../support/harness.js';

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

describe('a stream deleted and created again under the same name', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'orders', shards: 2 }],
      definitions: { 'orders.json': definition },
      // Every catch-up lists the stream, so the change is seen by the next statement.
      configure: (config) => ({ ...config, scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0, shardListIntervalMs: 0 } }),
    });
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

      await harness.kinesis.send(new DeleteStreamCommand({ StreamName: 'orders' }));
      for (;;) {
        const gone = await harness.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'orders' })).then(
          () => false,
          () => true,
        );
        if (gone) break;
        await sleep(50);
      }
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
      expect(String(status.rows[0]?.stream_status)).toMatch(/^active; recreated .*60 rows of the previous stream dropped/);
      const shardRows = await client.query(`select shard_id, records from kinesql.shards where table_name = 'orders' order by shard_id`);
      expect(shardRows.rows.map((row) => row.shard_id)).toEqual(['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002']);
    } finally {
      await client.end();
    }
  }, 120_000);
});
