import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createS3Client } from '../../src/catalog/s3-source.js';
import { startHarness, type Harness } from '../support/harness.js';

const BUCKET = 'kinesql-definitions';
const events = (tableName: string, fields: { name: string; type: string; mapping: string }[]) =>
  JSON.stringify({ tableName, streamName: 'events', message: { dataFormat: 'json', fields } });

describe('table definitions from S3, followed while the server runs', () => {
  let s3server: FauxqsServer;
  let s3: S3Client;
  let harness: Harness;
  let client: pg.Client;
  const put = (key: string, body: string) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));

  beforeAll(async () => {
    s3server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
    s3server.createBucket(BUCKET);
    const endpoint = `http://127.0.0.1:${s3server.port}`;
    s3 = createS3Client({ region: 'us-east-1', endpoint, accessKeyId: 'test', secretAccessKey: 'test' });
    // More than one ListObjectsV2 page under the prefix: the definitions sit after 1,020 other objects.
    for (let start = 0; start < 1_020; start += 60) {
      await Promise.all(Array.from({ length: 60 }, (_, i) => put(`defs/archive/${String(start + i).padStart(5, '0')}.txt`, 'not a definition')));
    }
    await put('defs/zz-events.json', events('events', [{ name: 'id', type: 'BIGINT', mapping: 'id' }]));
    harness = await startHarness({
      streams: [{ name: 'events', shards: 2 }],
      definitions: {},
      configure: (config) => ({
        ...config,
        catalog: { ...config.catalog, tablesLocation: `s3://${BUCKET}/defs`, refreshIntervalMs: 300 },
        aws: { ...config.aws, s3Endpoint: endpoint },
      }),
    });
    await harness.put(
      'events',
      Array.from({ length: 30 }, (_, i) => ({ id: i, kind: i % 2 ? 'odd' : 'even' })),
    );
    client = await harness.connect();
  }, 120_000);

  afterAll(async () => {
    await client?.end();
    await harness?.close();
    s3?.destroy();
    await s3server?.stop();
  });

  const poll = { timeout: 20_000, interval: 100 };

  it('serves the definition found past the first list page', async () => {
    expect((await client.query('select count(*)::int as n from events')).rows[0].n).toBe(30);
  });

  it('follows added, changed, broken and deleted objects', async () => {
    await put('defs/zz-kinds.json', events('kinds', [{ name: 'kind', type: 'VARCHAR', mapping: 'kind' }]));
    await vi.waitFor(async () => {
      expect((await client.query(`select count(*)::int as n from kinds where kind = 'odd'`)).rows[0].n).toBe(15);
    }, poll);

    await put(
      'defs/zz-kinds.json',
      events('kinds', [
        { name: 'kind', type: 'VARCHAR', mapping: 'kind' },
        { name: 'id', type: 'INTEGER', mapping: 'id' },
      ]),
    );
    await vi.waitFor(async () => {
      expect((await client.query(`select sum(id)::int as s from kinds where kind = 'even'`)).rows[0].s).toBe(210);
    }, poll);

    await put('defs/zz-kinds.json', '{"tableName": "kinds", ');
    await vi.waitFor(async () => {
      const rows = (await client.query(`select status, error from kinesql.definitions where source like '%zz-kinds.json'`)).rows;
      expect(rows).toEqual([{ status: 'stale', error: expect.stringContaining('zz-kinds.json') }]);
    }, poll);
    expect((await client.query(`select count(id)::int as n from kinds`)).rows[0].n).toBe(30);

    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'defs/zz-kinds.json' }));
    await vi.waitFor(async () => {
      await expect(client.query('select * from kinds')).rejects.toThrow(/relation "kinds" does not exist/);
    }, poll);
    expect((await client.query('select count(*)::int as n from events')).rows[0].n).toBe(30);
  });
});
