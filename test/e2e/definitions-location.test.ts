import { rename } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

/** Bounds waiting for the re-scan (1 s in the harness); not a speed assertion. */
const PATIENCE = { timeout: 20_000, interval: 100 };

describe('the definitions directory goes away while the server runs', () => {
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
      streams: [{ name: 'clicks', shards: 1 }],
      definitions: {
        'clicks.json': {
          tableName: 'clicks',
          streamName: 'clicks',
          message: { dataFormat: 'json', fields: [{ name: 'page', type: 'VARCHAR', mapping: 'page' }] },
        },
      },
      logger: pino({ level: 'info' }, capture),
    });
    await harness.put('clicks', [{ page: '/a' }, { page: '/b' }]);
    client = await harness.connect();
  });

  afterAll(async () => {
    await client?.end();
    await harness?.close();
  });

  const definitionRows = async () =>
    (await client.query('select table_name, status, error from kinesql.definitions order by source')).rows as {
      table_name: string | null;
      status: string;
      error: string | null;
    }[];

  it('keeps the table, shows its definition stale with the error, and resumes when the directory is back', async () => {
    const dir = harness.tablesDir;
    expect((await client.query('select count(*)::int as n from clicks')).rows[0].n).toBe(2);

    await rename(dir, `${dir}-away`);
    await vi.waitFor(async () => {
      const [row] = await definitionRows();
      expect(row).toMatchObject({ table_name: 'clicks', status: 'stale' });
      // Clients see where definitions are relative to their location, never the server's paths.
      expect(row!.error).toBe(
        `cannot list table definition directory (the definitions location): ENOENT: no such file or directory, scandir '(the definitions location)'`,
      );
    }, PATIENCE);
    expect((await client.query('select count(*)::int as n from clicks')).rows[0].n).toBe(2);
    const warnings = logLines.filter((l) => l['level'] === 40 && l['location'] === dir);
    expect(warnings).toHaveLength(1);

    await rename(`${dir}-away`, dir);
    await vi.waitFor(async () => expect(await definitionRows()).toEqual([{ table_name: 'clicks', status: 'ok', error: null }]), PATIENCE);
    expect((await client.query('select count(*)::int as n from clicks')).rows[0].n).toBe(2);
    expect(logLines.filter((l) => l['event'] === 'table-removed' || l['msg'] === 'table definition removed')).toEqual([]);
  });
});
