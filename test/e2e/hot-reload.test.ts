import { execFile } from 'node:child_process';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

const run = promisify(execFile);

function clicksDefinition(fields: { name: string; type: string; mapping: string }[], tableName = 'clicks') {
  return { tableName, streamName: 'clicks', message: { dataFormat: 'json', fields } };
}

const v1 = clicksDefinition([
  { name: 'user_id', type: 'BIGINT', mapping: 'user' },
  { name: 'page', type: 'VARCHAR', mapping: 'page' },
]);
const v2 = clicksDefinition([
  { name: 'user_id', type: 'BIGINT', mapping: 'user' },
  { name: 'page', type: 'VARCHAR', mapping: 'page' },
  { name: 'ms', type: 'INTEGER', mapping: 'timing/ms' },
]);

describe('table definitions change while the server runs', () => {
  let harness: Harness;
  let client: pg.Client;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    harness = await startHarness({
      streams: [{ name: 'clicks', shards: 2 }],
      definitions: { 'clicks.json': v1 },
      logger: pino({ level: 'info' }, capture),
    });
    await harness.put(
      'clicks',
      Array.from({ length: 50 }, (_, i) => ({ user: i, page: `/p/${i % 7}`, timing: { ms: i * 10 } })),
    );
    client = await harness.connect();
  });

  afterAll(async () => {
    await client?.end();
    await harness?.close();
  });

  const write = (file: string, definition: unknown) =>
    writeFile(join(harness.tablesDir, file), typeof definition === 'string' ? definition : JSON.stringify(definition));
  const columns = async (table: string) =>
    (
      await client.query(`select column_name from information_schema.columns where table_name = $1 and column_name not like '\\_%' order by ordinal_position`, [
        table,
      ])
    ).rows.map((row: { column_name: string }) => row.column_name);
  const definitionRows = async () =>
    (await client.query('select table_name, source, status, error from kinesql.definitions order by source')).rows as {
      table_name: string | null;
      source: string;
      status: string;
      error: string | null;
    }[];

  it('serves a changed column list from the records already read, in the same session', async () => {
    expect((await client.query('select count(*)::int as n from clicks')).rows[0].n).toBe(50);
    await write('clicks.json', v2);
    await vi.waitFor(async () => expect(await columns('clicks')).toEqual(['user_id', 'page', 'ms']), { timeout: 20_000, interval: 100 });
    const rows = await client.query('select count(*)::int as n, sum(ms)::int as total from clicks');
    expect(rows.rows[0]).toEqual({ n: 50, total: Array.from({ length: 50 }, (_, i) => i * 10).reduce((a, b) => a + b) });
    expect(logLines.some((line) => line['msg'] === 'stream table rebuilt from loaded messages' && line['rows'] === 50)).toBe(true);
    // New records after the rebuild arrive in the new shape.
    await harness.put('clicks', [{ user: 99, page: '/new', timing: { ms: 7 } }]);
    expect((await client.query('select ms from clicks where user_id = 99')).rows).toEqual([{ ms: 7 }]);
  });

  it('keeps serving the last good version when a file breaks, shows the error, and recovers', async () => {
    await write(
      'clicks.json',
      '{"tableName": "clicks", "streamName": "clicks", "message": {"dataFormat": "json", "fields": [{"name": "x", "type": "NOPE", "mapping": "x"}]}}',
    );
    await vi.waitFor(
      async () => {
        const [row] = await definitionRows();
        expect(row).toMatchObject({ table_name: 'clicks', status: 'stale' });
        expect(row!.error).toContain('message.fields[0].type');
      },
      { timeout: 20_000, interval: 100 },
    );
    expect((await client.query('select count(*)::int as n from clicks')).rows[0].n).toBe(51);
    await write('clicks.json', v1);
    await vi.waitFor(async () => expect(await columns('clicks')).toEqual(['user_id', 'page']), { timeout: 20_000, interval: 100 });
    // kinesql.definitions is rewritten just after the table is: wait for it too.
    await vi.waitFor(async () => expect(await definitionRows()).toEqual([{ table_name: 'clicks', source: 'clicks.json', status: 'ok', error: null }]), {
      timeout: 20_000,
      interval: 100,
    });
  });

  it('adds, renames and removes tables; psql \\dt follows', async () => {
    await write('more.json', clicksDefinition([{ name: 'page', type: 'VARCHAR', mapping: 'page' }], 'pages'));
    await vi.waitFor(async () => expect((await client.query('select count(*)::int as n from pages')).rows[0].n).toBe(51), {
      timeout: 20_000,
      interval: 100,
    });
    const psqlTables = async () =>
      (await run('psql', ['-X', '-A', '-t', '-h', harness.server.host, '-p', String(harness.server.port), '-U', 'x', '-c', '\\dt'])).stdout;
    expect(await psqlTables()).toMatch(/^public\|pages\|table\|/m);

    await rename(join(harness.tablesDir, 'more.json'), join(harness.tablesDir, 'renamed.json'));
    await rm(join(harness.tablesDir, 'clicks.json'));
    await vi.waitFor(
      async () => {
        const tables = await psqlTables();
        expect(tables).not.toMatch(/\|clicks\|/);
        expect(tables).toMatch(/^public\|pages\|table\|/m);
      },
      { timeout: 20_000, interval: 100 },
    );
    await expect(client.query('select * from clicks')).rejects.toThrow(/relation "clicks" does not exist/);
    expect((await client.query('select count(*)::int as n from pages')).rows[0].n).toBe(51);
  });
});
