import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../support/harness.js';

const run = promisify(execFile);

async function infer(harness: Harness, stream: string): Promise<{ definition: Record<string, unknown>; notes: string }> {
  const { stdout, stderr } = await run(
    process.execPath,
    ['bin/kinesql.js', 'infer', '--stream', stream, '--kinesis-endpoint', harness.standIn.endpoint, '--region', 'us-east-1'],
    { env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }, timeout: 60_000 },
  );
  return { definition: JSON.parse(stdout) as Record<string, unknown>, notes: stderr };
}

async function untilServed(client: pg.Client, table: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const found = await client.query('select 1 from pg_class where relname = $1', [table]);
    if (found.rowCount === 1) return;
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`${table} was not served`);
}

describe('kinesql infer: a definition from a sample of the stream', { timeout: 120_000 }, () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [
        { name: 'shop-orders', shards: 2 },
        { name: 'meter-readings', shards: 1 },
      ],
      definitions: {},
    });
    await harness.put(
      'shop-orders',
      Array.from({ length: 40 }, (_, n) => ({
        // Half the producers gzip their records; the definition must not care.
        data:
          n % 2 === 0
            ? JSON.stringify({
                order_id: `o-${n}`,
                qty: n,
                total: n + 0.5,
                paid: n % 3 === 0,
                placed_at: new Date(Date.UTC(2026, 11, 5, 10, 0, n)).toISOString(),
                customer: { name: `c${n}`, tier: n > 20 ? 'gold' : 'basic' },
                tags: ['a', 'b'],
                coupon: n % 5 === 0 ? 'SAVE5' : null,
              })
            : gzipSync(
                JSON.stringify({
                  order_id: `o-${n}`,
                  qty: n,
                  total: n,
                  paid: false,
                  placed_at: new Date(Date.UTC(2026, 11, 5, 10, 0, n)).toISOString(),
                  customer: { name: `c${n}`, tier: 'basic' },
                  tags: [],
                }),
              ),
      })),
    );
    await harness.put(
      'meter-readings',
      Array.from({ length: 10 }, (_, n) => ({ data: `meter-${n},${n * 1.5},2026-12-05,${n % 2 === 0}` })),
    );
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('maps JSON paths to typed columns that hold every sampled value once served', async () => {
    const { definition, notes } = await infer(harness, 'shop-orders');
    expect(notes).toContain('sampled 40 records: 40 JSON objects');
    const message = definition['message'] as { dataFormat: string; fields: { name: string; type: string; mapping: string; dataFormat?: string }[] };
    expect(definition['tableName']).toBe('shop_orders');
    expect(message.dataFormat).toBe('json');
    expect(message.fields.map(({ name, type, mapping, dataFormat }) => ({ name, type, mapping, ...(dataFormat ? { dataFormat } : {}) }))).toEqual([
      { name: 'order_id', type: 'VARCHAR', mapping: 'order_id' },
      { name: 'qty', type: 'INTEGER', mapping: 'qty' },
      { name: 'total', type: 'DOUBLE', mapping: 'total' },
      { name: 'paid', type: 'BOOLEAN', mapping: 'paid' },
      { name: 'placed_at', type: 'TIMESTAMP WITH TIME ZONE', mapping: 'placed_at', dataFormat: 'iso8601' },
      { name: 'customer_name', type: 'VARCHAR', mapping: 'customer/name' },
      { name: 'customer_tier', type: 'VARCHAR', mapping: 'customer/tier' },
      { name: 'tags', type: 'JSON', mapping: 'tags' },
      { name: 'coupon', type: 'VARCHAR', mapping: 'coupon' },
    ]);

    // Saved as is (with the codec the stream needs), it serves every record with every value in place.
    await writeFile(join(harness.tablesDir, 'shop_orders.json'), JSON.stringify({ ...definition, message: { ...message, compressionCodec: 'AUTOMATIC' } }));
    const client = await harness.connect();
    try {
      await untilServed(client, 'shop_orders');
      const { rows } = await client.query(
        `select count(*)::int as n, count(*) filter (where _message_valid)::int as valid, sum(qty)::int as qty,
                count(distinct customer_name)::int as customers, count(*) filter (where coupon = 'SAVE5')::int as coupons,
                min(placed_at) = '2026-12-05T10:00:00Z'::timestamptz as earliest, count(*) filter (where jsonb_array_length(tags) = 2)::int as tagged
           from shop_orders`,
      );
      expect(rows[0]).toEqual({ n: 40, valid: 40, qty: 780, customers: 40, coupons: 4, earliest: true, tagged: 20 });
    } finally {
      await client.end();
    }
  });

  it('reads CSV lines as numbered columns with their types', async () => {
    const { definition } = await infer(harness, 'meter-readings');
    const message = definition['message'] as { dataFormat: string; fields: { name: string; type: string; mapping: string }[] };
    expect(message.dataFormat).toBe('csv');
    expect(message.fields.map(({ name, type, mapping }) => ({ name, type, mapping }))).toEqual([
      { name: 'column_0', type: 'VARCHAR', mapping: '0' },
      { name: 'column_1', type: 'DOUBLE', mapping: '1' },
      { name: 'column_2', type: 'DATE', mapping: '2' },
      { name: 'column_3', type: 'BOOLEAN', mapping: '3' },
    ]);
    await writeFile(join(harness.tablesDir, 'meter_readings.json'), JSON.stringify(definition));
    const client = await harness.connect();
    try {
      await untilServed(client, 'meter_readings');
      const { rows } = await client.query(
        'select count(*)::int as n, sum(column_1)::float8 as total, min(column_2)::text as day, count(*) filter (where column_3)::int as even from meter_readings',
      );
      expect(rows[0]).toEqual({ n: 10, total: 67.5, day: '2026-12-05', even: 5 });
    } finally {
      await client.end();
    }
  });

  it('says what to do when no credentials can be found', async () => {
    const failure = await run(process.execPath, ['bin/kinesql.js', 'infer', '--stream', 'shop-orders', '--kinesis-endpoint', harness.standIn.endpoint], {
      env: { PATH: process.env['PATH'] ?? '', HOME: '/nonexistent', AWS_REGION: 'us-east-1' },
      timeout: 60_000,
    }).catch((error: unknown) => error as { code: number; stderr: string });
    expect((failure as { code: number }).code).toBe(1);
    expect((failure as { stderr: string }).stderr).toContain('set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  });
});
