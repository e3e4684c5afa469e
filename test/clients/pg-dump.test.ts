import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startTradesHarness, TRADE_COUNT } from './fixture.js';

const run = promisify(execFile);
const PG_DUMP = '/usr/lib/postgresql/15/bin/pg_dump';

describe("Debian's pg_dump 15", () => {
  let harness: Harness;
  let engineMajor: number;
  const dump = (...args: string[]) => run(PG_DUMP, ['-h', '127.0.0.1', '-p', String(harness.server.port), '-U', 'dumper', 'kinesql', ...args]);

  beforeAll(async () => {
    harness = await startTradesHarness();
    engineMajor = Math.floor(harness.server.engine.serverVersionNum / 10_000);
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('dumps the schema with row security on when the engine is its major version; \\copy exports the rows', async () => {
    if (engineMajor !== 15) {
      // pg_dump refuses any server newer than itself: with the embedded PostgreSQL 18 engine it says so.
      await expect(dump('--schema-only', '--enable-row-security')).rejects.toMatchObject({ stderr: expect.stringContaining('server version mismatch') });
      return;
    }
    const schema = await dump('--schema-only', '--enable-row-security');
    expect(schema.stdout).toContain('CREATE TABLE market.trades');
    expect(schema.stdout).toContain('CREATE POLICY kinesql_visible ON market.trades');
    // A stream table is partitioned, and its partitions are no client's to read: pg_dump --data-only of the
    // table dumps no rows (its rows are in the partitions). Its data is exported with psql's \copy instead.
    const data = await run('psql', [
      '-X',
      '-h',
      '127.0.0.1',
      '-p',
      String(harness.server.port),
      '-U',
      'dumper',
      '-d',
      'kinesql',
      '-c',
      '\\copy (select * from market.trades) to stdout',
    ]);
    expect(data.stdout.trimEnd().split('\n')).toHaveLength(TRADE_COUNT);
  });

  it('says how to dump when asked to turn row security off', async () => {
    const failure = await dump('--schema-only').then(
      () => undefined,
      (error: { stderr: string }) => error.stderr,
    );
    expect(failure).toContain(engineMajor === 15 ? '--enable-row-security' : 'server version mismatch');
  });
});
