import { DeleteBucketCommand, DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DefinitionBatch } from '../../src/catalog/definition-source.js';
import { createS3Client, parseS3Uri, S3Source } from '../../src/catalog/s3-source.js';
import { Catalog, createCatalog } from '../../src/catalog/catalog.js';
import { loadConfig } from '../../src/config/load-config.js';
import { pino } from 'pino';

let server: FauxqsServer;
let client: S3Client;
const BUCKET = 'definitions';
/** More than one ListObjectsV2 page (1,000 keys) to prove pagination. */
const OBJECT_COUNT = 1_234;

const definition = (table: string, stream = 'events') => JSON.stringify({ tableName: table, streamName: stream });
const put = (key: string, body: string) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));

beforeAll(async () => {
  server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  server.createBucket(BUCKET);
  client = createS3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${server.port}`, accessKeyId: 'test', secretAccessKey: 'test' });
  const keys = Array.from({ length: OBJECT_COUNT }, (_, i) => `tables/t${String(i).padStart(5, '0')}.json`);
  for (let start = 0; start < keys.length; start += 50) {
    await Promise.all(keys.slice(start, start + 50).map((key) => put(key, definition(key.slice(7, -5)))));
  }
  await put('tables/notes.txt', 'not a definition');
  await put('tables/.hidden.json', definition('hidden'));
  await put('tables-old/stale.json', definition('stale'));
  await put('elsewhere/other.json', definition('other'));
}, 120_000);

afterAll(async () => {
  client?.destroy();
  await server?.stop();
});

function collect(source: S3Source) {
  const batches: DefinitionBatch[] = [];
  const errors: Error[] = [];
  const unavailable: Error[] = [];
  let available = 0;
  source.on('batch', (batch) => batches.push(batch));
  source.on('error', (error) => errors.push(error));
  source.on('unavailable', (error) => unavailable.push(error));
  source.on('available', () => available++);
  return { batches, errors, unavailable, availableCount: () => available };
}

describe('parseS3Uri', () => {
  it('splits bucket and prefix and treats the prefix as a folder', () => {
    expect(parseS3Uri('s3://b/tables')).toEqual({ bucket: 'b', prefix: 'tables/' });
    expect(parseS3Uri('s3://b/tables/')).toEqual({ bucket: 'b', prefix: 'tables/' });
    expect(parseS3Uri('s3://b')).toEqual({ bucket: 'b', prefix: '' });
    expect(() => parseS3Uri('/etc/kinesis')).toThrow(/expected s3:\/\/bucket\/prefix/);
  });
});

describe('S3Source against an S3 stand-in over a socket', () => {
  it('loads every definition object under the prefix across list pages, then follows changes by ETag and deletions', async () => {
    // The timer is kept out of the way; polls are driven explicitly so the test does not depend on timing.
    const listing = createS3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${server.port}`, accessKeyId: 'test', secretAccessKey: 'test' });
    let listCalls = 0;
    listing.middlewareStack.add(
      (next, context) => (args) => {
        if (context.commandName === 'ListObjectsV2Command') listCalls++;
        return next(args);
      },
      { step: 'initialize' },
    );
    const source = new S3Source(`s3://${BUCKET}/tables`, { client: listing, pollIntervalMs: 3_600_000 });
    const { batches, errors } = collect(source);
    await source.start();
    try {
      expect(listCalls).toBe(2);
      expect(errors).toEqual([]);
      expect(batches).toHaveLength(1);
      const initial = batches[0]!;
      expect(initial.removed).toEqual([]);
      expect(initial.changed).toHaveLength(OBJECT_COUNT);
      const last = initial.changed.find((c) => c.source === `s3://${BUCKET}/tables/t01233.json`);
      expect(JSON.parse(last?.text ?? '{}')).toEqual({ tableName: 't01233', streamName: 'events' });
      expect(last?.version).toMatch(/^"[0-9a-f]{32}"$/);
      expect(initial.changed.some((c) => /notes|hidden|stale|other/.test(c.source))).toBe(false);

      // nothing changed: no batch
      await source.poll();
      expect(batches).toHaveLength(1);

      // one object rewritten with new content, one deleted, one added
      await put('tables/t00007.json', definition('t00007', 'new-stream'));
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'tables/t00008.json' }));
      await put('tables/sub/added.json', definition('added'));
      await source.poll();
      expect(batches).toHaveLength(2);
      const update = batches[1]!;
      expect(update.removed).toEqual([`s3://${BUCKET}/tables/t00008.json`]);
      expect(update.changed.map((c) => c.source).sort()).toEqual([`s3://${BUCKET}/tables/sub/added.json`, `s3://${BUCKET}/tables/t00007.json`]);
      const changed = update.changed.find((c) => c.source.endsWith('t00007.json'));
      expect(JSON.parse(changed?.text ?? '{}').streamName).toBe('new-stream');
      expect(changed?.version).not.toBe(initial.changed.find((c) => c.source.endsWith('t00007.json'))?.version);

      // the same content written again keeps its ETag: no batch
      await put('tables/t00007.json', definition('t00007', 'new-stream'));
      await source.poll();
      expect(batches).toHaveLength(2);
    } finally {
      await source.stop();
      listing.destroy();
    }
  }, 120_000);

  it('polls on its own at the configured interval', async () => {
    const source = new S3Source(`s3://${BUCKET}/elsewhere/`, { client, pollIntervalMs: 50 });
    const { batches } = collect(source);
    await source.start();
    try {
      expect(batches.flatMap((b) => b.changed.map((c) => c.source))).toEqual([`s3://${BUCKET}/elsewhere/other.json`]);
      await put('elsewhere/second.json', definition('second'));
      await expect.poll(() => batches.length, { timeout: 15_000, interval: 25 }).toBe(2);
      expect(batches[1]?.changed.map((c) => c.source)).toEqual([`s3://${BUCKET}/elsewhere/second.json`]);
    } finally {
      await source.stop();
    }
  });

  it('refuses to start when the bucket cannot be listed, naming the problem', async () => {
    const source = new S3Source('s3://no-such-bucket/tables', { client, pollIntervalMs: 1000 });
    await expect(source.start()).rejects.toThrow(/cannot list s3:\/\/no-such-bucket\/tables: NoSuchBucket/);
  });
});

describe('S3Source while the prefix cannot be listed', () => {
  it('keeps every object while its bucket is missing, reports that once, and resumes without refetching unchanged objects', async () => {
    const bucket = 'comes-and-goes';
    server.createBucket(bucket);
    const putIn = (key: string, body: string) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    await putIn('tables/a.json', definition('a'));
    await putIn('tables/b.json', definition('b'));
    const source = new S3Source(`s3://${bucket}/tables`, { client, pollIntervalMs: 3_600_000 });
    const { batches, errors, unavailable, availableCount } = collect(source);
    await source.start();
    try {
      expect(batches).toHaveLength(1);

      server.emptyBucket(bucket);
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      await source.poll();
      await source.poll();
      expect(batches).toHaveLength(1);
      expect(unavailable.map((e) => e.message)).toEqual([expect.stringMatching(new RegExp(`^cannot list s3://${bucket}/tables: NoSuchBucket: `))]);
      expect(errors).toEqual([]);

      // back with a unchanged (same ETag), b gone for real and c new
      server.createBucket(bucket);
      await putIn('tables/a.json', definition('a'));
      await putIn('tables/c.json', definition('c'));
      await source.poll();
      expect(availableCount()).toBe(1);
      expect(batches.slice(1).map((b) => ({ changed: b.changed.map((c) => c.source), removed: b.removed }))).toEqual([
        { changed: [`s3://${bucket}/tables/c.json`], removed: [`s3://${bucket}/tables/b.json`] },
      ]);
      expect(unavailable).toHaveLength(1);
    } finally {
      await source.stop();
    }
  });

  it('keeps the catalog serving while the S3 stand-in is down, shows the tables stale, logs once, and recovers', async () => {
    const own = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
    const port = own.port;
    let current: FauxqsServer | undefined = own;
    const ownClient = createS3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, accessKeyId: 'test', secretAccessKey: 'test' });
    const fill = async () => {
      current?.createBucket('defs');
      for (const table of ['orders', 'users']) {
        await ownClient.send(new PutObjectCommand({ Bucket: 'defs', Key: `tables/${table}.json`, Body: definition(table) }));
      }
    };
    await fill();
    const source = new S3Source('s3://defs/tables', { client: ownClient, pollIntervalMs: 3_600_000 });
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const catalog = new Catalog({ source, defaultSchema: 'public', logger });
    const events: string[] = [];
    catalog.on('table-added', (t) => events.push(`added ${t.tableName}`));
    catalog.on('table-changed', (t) => events.push(`changed ${t.tableName}`));
    catalog.on('table-removed', (t) => events.push(`removed ${t.tableName}`));
    let statusUpdates = 0;
    catalog.on('changes', () => statusUpdates++);
    await catalog.start();
    try {
      expect(events).toEqual(['added orders', 'added users']);
      statusUpdates = 0;

      await own.stop();
      current = undefined;
      await source.poll();
      await source.poll();
      expect(events).toEqual(['added orders', 'added users']);
      expect(catalog.tables().map((t) => t.tableName)).toEqual(['orders', 'users']);
      const rows = catalog.status();
      expect(rows.map((r) => [r.tableName, r.status])).toEqual([
        ['orders', 'stale'],
        ['users', 'stale'],
      ]);
      for (const row of rows) expect(row.error).toMatch(/^cannot list s3:\/\/defs\/tables: .*ECONNREFUSED/);
      const warnings = lines.filter((l) => l['level'] === 40 && l['location'] === 's3://defs/tables');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.['msg']).toMatch(/ECONNREFUSED/);
      expect(statusUpdates).toBe(1);

      current = await startFauxqs({ port, host: '127.0.0.1', logger: false });
      await fill();
      await source.poll();
      expect(events).toEqual(['added orders', 'added users']);
      expect(catalog.status().map((r) => [r.tableName, r.status, r.error])).toEqual([
        ['orders', 'ok', null],
        ['users', 'ok', null],
      ]);
      expect(statusUpdates).toBe(2);
      expect(lines.filter((l) => l['msg'] === 'table definition location can be listed again')).toHaveLength(1);
    } finally {
      await catalog.stop();
      ownClient.destroy();
      await current?.stop();
    }
  }, 60_000);
});

describe('createCatalog over S3', () => {
  it('serves the tables of an s3:// location from the configuration and reports broken objects', async () => {
    await put('catalog/orders.json', definition('orders'));
    await put('catalog/broken.json', '{"tableName": "broken"');
    const config = loadConfig({
      env: { KINESQL_S3_ENDPOINT: `http://127.0.0.1:${server.port}` },
      flags: { tables: `s3://${BUCKET}/catalog` },
    });
    config.aws.accessKeyId = 'test';
    config.aws.secretAccessKey = 'test';
    const catalog = createCatalog(config, pino({ level: 'silent' }));
    await catalog.start();
    try {
      expect(catalog.tables().map((t) => `${t.schemaName}.${t.tableName}@${t.source}`)).toEqual([`public.orders@s3://${BUCKET}/catalog/orders.json`]);
      expect(catalog.status().map((s) => [s.source, s.status])).toEqual([
        [`s3://${BUCKET}/catalog/broken.json`, 'error'],
        [`s3://${BUCKET}/catalog/orders.json`, 'ok'],
      ]);
      expect(catalog.status()[0]?.error).toMatch(/^s3:\/\/definitions\/catalog\/broken.json: not valid JSON/);
    } finally {
      await catalog.stop();
    }
  });
});
