import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aggregate } from '../support/kpl-aggregate.js';
import { startHarness, type Harness } from '../support/harness.js';

const sensorsDefinition = {
  tableName: 'readings',
  streamName: 'sensors',
  message: {
    dataFormat: 'json',
    compressionCodec: 'AUTOMATIC',
    fields: [
      { name: 'sensor', type: 'VARCHAR', mapping: 'sensor' },
      { name: 'value', type: 'DECIMAL(10,3)', mapping: 'value' },
      { name: 'seq', type: 'BIGINT', mapping: 'seq' },
    ],
  },
};

const reading = (sensor: string, seq: number) => ({ sensor, value: (seq * 1.125).toFixed(3), seq });
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('a stream carrying KPL-aggregated, gzip and plain records together', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'sensors', shards: 2 }], definitions: { 'readings.json': sensorsDefinition } });
    const plain = Array.from({ length: 20 }, (_, i) => ({ data: bytes(reading('plain', i)), partitionKey: `p${i}` }));
    const gzipped = Array.from({ length: 15 }, (_, i) => ({ data: gzipSync(bytes(reading('gzip', i))), partitionKey: `g${i}` }));
    // Three aggregated records of 10 user records each; inside one, every other user record is gzipped too.
    const aggregated = Array.from({ length: 3 }, (_, a) => ({
      data: Buffer.from(
        aggregate(
          Array.from({ length: 10 }, (_, i) => {
            const payload = bytes(reading('kpl', a * 10 + i));
            return { partitionKey: `k${a}-${i % 3}`, data: a === 2 && i % 2 === 0 ? gzipSync(payload) : payload };
          }),
        ),
      ),
      partitionKey: `agg${a}`,
    }));
    // A KPL record whose digest does not match stays one invalid row.
    const corrupt = Buffer.from(aggregate([{ partitionKey: 'x', data: bytes(reading('kpl', 999)) }]));
    corrupt[corrupt.length - 1]! ^= 0xff;
    await harness.put('sensors', [...plain, ...gzipped, ...aggregated, { data: corrupt, partitionKey: 'corrupt' }]);
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('gives one row per user record with exact values', async () => {
    const client = await harness.connect();
    try {
      const counts = await client.query(
        `select sensor, count(*)::int as n, sum(value)::text as total, bool_and(_message_valid) as valid,
                count(_sub_sequence_number)::int as aggregated
           from readings group by 1 order by 1 nulls last`,
      );
      const total = (n: number) => (Array.from({ length: n }, (_, i) => i).reduce((a, b) => a + b) * 1.125).toFixed(3);
      expect(counts.rows).toEqual([
        { sensor: 'gzip', n: 15, total: total(15), valid: true, aggregated: 0 },
        { sensor: 'kpl', n: 30, total: total(30), valid: true, aggregated: 30 },
        { sensor: 'plain', n: 20, total: total(20), valid: true, aggregated: 0 },
        { sensor: null, n: 1, total: null, valid: false, aggregated: 0 },
      ]);
      const inner = await client.query(
        `select _partition_key, _sub_sequence_number::int as sub, seq::int, count(*) over (partition by _shard_sequence_id)::int as siblings
           from readings where sensor = 'kpl' and seq between 20 and 22 order by seq`,
      );
      expect(inner.rows).toEqual([
        { _partition_key: 'k2-0', sub: 0, seq: 20, siblings: 3 },
        { _partition_key: 'k2-1', sub: 1, seq: 21, siblings: 3 },
        { _partition_key: 'k2-2', sub: 2, seq: 22, siblings: 3 },
      ]);
      const corrupt = await client.query(`select _partition_key, _message_length::int > 0 as has_bytes from readings where not _message_valid`);
      expect(corrupt.rows).toEqual([{ _partition_key: 'corrupt', has_bytes: true }]);
    } finally {
      await client.end();
    }
  });
});
