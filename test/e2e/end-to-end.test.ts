import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

const run = promisify(execFile);

const ordersDefinition = {
  tableName: 'Orders',
  schemaName: 'default',
  streamName: 'orders',
  message: {
    dataFormat: 'json',
    fields: [
      { name: 'order_id', type: 'BIGINT', mapping: 'id' },
      { name: 'customer', type: 'VARCHAR', mapping: 'customer/name' },
      { name: 'country', type: 'VARCHAR(2)', mapping: 'customer/country' },
      { name: 'total', type: 'DOUBLE', mapping: 'total' },
      { name: 'paid', type: 'BOOLEAN', mapping: 'paid' },
      { name: 'created', type: 'TIMESTAMP WITH TIME ZONE', mapping: 'created', dataFormat: 'iso8601' },
      { name: 'items', type: 'JSON', mapping: 'items' },
    ],
  },
};

function order(id: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    customer: { name: `customer ${id % 5}`, country: id % 2 === 0 ? 'DE' : 'FR' },
    total: id * 1.25,
    paid: id % 3 !== 0,
    created: new Date(Date.UTC(2026, 10, 1, 12, 0, id % 60)).toISOString(),
    items: [{ sku: `sku-${id}`, qty: id % 4 }],
    ...overrides,
  };
}

describe('a Kinesis stream queried over the PostgreSQL protocol', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'orders', shards: 4 }],
      definitions: { 'orders.json': ordersDefinition },
    });
    await harness.put(
      'orders',
      Array.from({ length: 200 }, (_, i) => order(i + 1)),
    );
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('returns every record as a row with exact values and PostgreSQL types', async () => {
    const client = await harness.connect();
    try {
      const result = await client.query(
        'select order_id, customer, country, total, paid, created, items, _message_valid, _shard_id, _partition_key from orders where order_id = 42',
      );
      expect(result.rows).toEqual([
        {
          order_id: '42',
          customer: 'customer 2',
          country: 'DE',
          total: 52.5,
          paid: false,
          created: new Date(Date.UTC(2026, 10, 1, 12, 0, 42)),
          items: [{ sku: 'sku-42', qty: 2 }],
          _message_valid: true,
          _shard_id: expect.stringMatching(/^shardId-00000000000[0-3]$/),
          _partition_key: 'key-42',
        },
      ]);
      const types = Object.fromEntries(result.fields.map((field) => [field.name, field.dataTypeID]));
      expect(types).toMatchObject({ order_id: 20, customer: 25, country: 1043, total: 701, paid: 16, created: 1184, items: 3802 });
      expect(types['_message_valid']).toBe(16);
    } finally {
      await client.end();
    }
  });

  it('answers count, GROUP BY and a WHERE on a JSON field', async () => {
    const client = await harness.connect();
    try {
      expect((await client.query('select count(*) from orders')).rows).toEqual([{ count: '200' }]);
      const byCountry = await client.query('select country, count(*)::int as n, sum(total) as revenue from orders group by 1 order by 1');
      expect(byCountry.rows).toEqual([
        { country: 'DE', n: 100, revenue: Array.from({ length: 100 }, (_, i) => (i + 1) * 2 * 1.25).reduce((a, b) => a + b) },
        { country: 'FR', n: 100, revenue: Array.from({ length: 100 }, (_, i) => (2 * i + 1) * 1.25).reduce((a, b) => a + b) },
      ]);
      const jsonFilter = await client.query(`select count(*)::int as n from orders where items->0->>'sku' = 'sku-8' or items @> '[{"qty": 3}]'`);
      expect(jsonFilter.rows[0].n).toBe(1 + 50);
      const internal = await client.query(
        `select count(distinct _shard_id)::int as shards, bool_and(_message_valid) as valid, min(_message_length) > 0 as lengths,
                bool_and(_message::jsonb ->> 'id' = order_id::text) as raw_matches,
                bool_and(_message_timestamp > now() - interval '1 hour') as recent,
                count(_segment_start)::int as segments, bool_and(_sub_sequence_number is null) as unaggregated
           from orders`,
      );
      expect(internal.rows[0]).toEqual({ shards: 4, valid: true, lengths: true, raw_matches: true, recent: true, segments: 200, unaggregated: true });
    } finally {
      await client.end();
    }
  });

  it('sees new records on the next statement and identical results when nothing changed', async () => {
    const client = await harness.connect();
    try {
      const before = await client.query('select order_id, _shard_sequence_id from orders order by _shard_id, _shard_sequence_id');
      const again = await client.query('select order_id, _shard_sequence_id from orders order by _shard_id, _shard_sequence_id');
      expect(again.rows).toEqual(before.rows);
      await harness.put(
        'orders',
        Array.from({ length: 37 }, (_, i) => order(1000 + i)),
      );
      expect((await client.query('select count(*)::int as n from orders')).rows[0].n).toBe(before.rowCount! + 37);
      expect((await client.query('select count(*)::int as n from orders where order_id >= 1000')).rows[0].n).toBe(37);
    } finally {
      await client.end();
    }
  });

  it('turns a malformed message into a row with NULL data columns and _message_valid = false', async () => {
    await harness.put('orders', [{ data: '{"id": 5000, "customer": {"name": "trunc', partitionKey: 'broken' }]);
    const client = await harness.connect();
    try {
      const result = await client.query(`select order_id, customer, total, _message_valid, _message from orders where _partition_key = 'broken'`);
      expect(result.rows).toEqual([
        { order_id: null, customer: null, total: null, _message_valid: false, _message: '{"id": 5000, "customer": {"name": "trunc' },
      ]);
    } finally {
      await client.end();
    }
  });

  it('gives ten concurrent clients correct answers', async () => {
    const expected = Number(
      await (async () => {
        const client = await harness.connect();
        try {
          return (await client.query('select count(*) from orders')).rows[0].count;
        } finally {
          await client.end();
        }
      })(),
    );
    const answers = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const client = await harness.connect();
        try {
          const count = await client.query('select count(*)::int as n from orders');
          const one = await client.query(`select customer from orders where order_id = ${i + 1}`);
          return { n: count.rows[0].n, customer: one.rows[0]?.customer };
        } finally {
          await client.end();
        }
      }),
    );
    expect(answers).toEqual(Array.from({ length: 10 }, (_, i) => ({ n: expected, customer: `customer ${(i + 1) % 5}` })));
  });

  it('works from the real psql: \\dt, \\d, count', async () => {
    const psql = (command: string) =>
      run('psql', ['-X', '-A', '-t', '-h', harness.server.host, '-p', String(harness.server.port), '-U', 'tester', '-d', 'kinesql', '-c', command], {
        env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
      });
    const tables = await psql('\\dt');
    expect(tables.stdout).toMatch(/^public\|orders\|table\|/m);
    const describeOut = (await psql('\\d orders')).stdout;
    expect(describeOut).toContain('order_id|bigint');
    expect(describeOut).toContain('country|character varying(2)');
    expect(describeOut).toContain('created|timestamp with time zone');
    expect(describeOut).toContain('_message_timestamp|timestamp with time zone');
    const count = await psql('select count(*) from orders where _message_valid');
    expect(Number(count.stdout.trim())).toBeGreaterThanOrEqual(237);
  });
});
