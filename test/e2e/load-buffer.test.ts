import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkExactness } from '../support/exactness.js';
import { startHarness, type Harness } from '../support/harness.js';
import { parseMetrics } from '../support/prometheus-text.js';

// Fewer shards than kinesql's engine connections: each shard's load holds one while it waits for the lock.
const SHARDS = 4;
const RECORDS = 6_000;
const BATCH = 300;
const BUDGET = 2 * 1024 * 1024;
const PAD = 'x'.repeat(800);
/** Kinesis sequence numbers of a shard's records as kinesalite writes them: 56 digits. */
const SEQUENCE_DIGITS = 56;

const padded = {
  tableName: 'padded',
  streamName: 'padded',
  message: {
    dataFormat: 'json',
    fields: [
      { name: 'n', type: 'INTEGER', mapping: 'n' },
      { name: 'pad', type: 'VARCHAR', mapping: 'pad' },
    ],
  },
};

describe('the load budget (kinesql.load-buffer-bytes) with many shards loading at once', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'padded', shards: SHARDS }],
      definitions: { 'padded.json': padded },
      configure: (config) => ({
        ...config,
        server: { ...config.server, httpPort: 0 },
        read: { ...config.read, batchSize: BATCH },
        scan: { ...config.scan!, loadBufferBytes: BUDGET },
      }),
    });
    await harness.put(
      'padded',
      Array.from({ length: RECORDS }, (_, n) => ({ n, pad: PAD })),
    );
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('holds no more than the budget of records decoded at once, and loads every record once, in order', async () => {
    const metrics = async (): Promise<(name: string) => number> => {
      const samples = parseMetrics(await (await fetch(`http://127.0.0.1:${harness.server.httpPort}/metrics`)).text());
      // Summed over the samples of a name (a per-shard counter's shards).
      return (name) => samples.filter((sample) => sample.name === name).reduce((sum, sample) => sum + sample.value, 0);
    };
    // The table locked against the loads' COPYs: every shard reads and decodes ahead as far as it may, so the
    // batches pile up in memory until the lock goes.
    const locker = new pg.Client({ ...harness.server.engine.endpoint });
    await locker.connect();
    const client = await harness.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE public.padded IN SHARE MODE');
      const counting = client.query('select count(*)::int as n from padded');
      counting.catch(() => undefined);
      // Until the pile stops growing (no GetRecords call answered, no batch decoded for 2 s): every shard is
      // then waiting, for the lock or for room in the budget.
      let last = '';
      for (let still = 0; still < 10; await sleep(200)) {
        const metric = await metrics();
        const decoded = metric('kinesql_load_buffer_decoded_records');
        const now = `${decoded} ${metric('kinesql_shard_get_records_calls_total')}`;
        still = now === last && decoded > 0 ? still + 1 : 0;
        last = now;
      }
      await locker.query('COMMIT');
      expect((await counting).rows).toEqual([{ n: RECORDS }]);
      const exactness = await checkExactness(harness.kinesis, 'padded', client, 'padded');
      expect(exactness).toMatchObject({ records: RECORDS, rows: RECORDS, lost: [], duplicated: [], unknown: [], outOfOrderShards: [], outOfOrderKeys: [] });
      const { rows } = await client.query('select min(octet_length(_message))::int as bytes from padded');
      const messageBytes = Number(rows[0]?.['bytes']);

      const metric = await metrics();
      expect(metric('kinesql_load_buffer_limit_bytes')).toBe(BUDGET);
      // Everything is committed: nothing is held any more.
      expect(metric('kinesql_load_buffer_bytes')).toBe(0);
      expect(metric('kinesql_load_buffer_decoded_records')).toBe(0);
      expect(metric('kinesql_load_buffer_peak_bytes')).toBeLessThanOrEqual(BUDGET);
      // A record held decoded is at least its bytes as read and its COPY line: the message again and three
      // sequence numbers. Without the budget, each shard would hold two decoded batches waiting for the lock
      // (4 x 600 records), twice what fits.
      const leastPerRecord = 2 * messageBytes + 3 * SEQUENCE_DIGITS;
      const peakRecords = metric('kinesql_load_buffer_peak_decoded_records');
      expect(peakRecords).toBeGreaterThanOrEqual(BATCH);
      expect(peakRecords * leastPerRecord).toBeLessThanOrEqual(BUDGET);
    } finally {
      await locker.end().catch(() => undefined);
      await client.end();
    }
  }, 120_000);
});
