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

  it('dumps the schema with row security on, without partitions or private tables, when the engine is its major version', async () => {
    if (engineMajor !== 15) {
      // pg_dump refuses any server newer than itself: with the embedded PostgreSQL 18 engine it says so.
      await expect(dump('--schema-only', '--enable-row-security')).rejects.toMatchObject({ stderr: expect.stringContaining('server version mismatch') });
      return;
    }
    // Reading the table first loads its rows, and with them its time partitions: kinesql's way of storing the
    // table, which the catalog clients read does not list, so the dump neither locks nor shows them.
    const psql = (command: string) =>
      run('psql', ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', String(harness.server.port), '-U', 'dumper', '-d', 'kinesql', '-c', command]);
    const data = await psql('\\copy market.trades to stdout');
    expect(data.stdout.trimEnd().split('\n')).toHaveLength(TRADE_COUNT);
    const partitions = await harness.server.engine.query(
      "select relname from pg_class where relnamespace = 'kinesql_partitions'::regnamespace and relkind = 'r'",
    );
    expect(partitions.rows.length).toBeGreaterThan(0);
    const schema = await dump('--schema-only', '--enable-row-security');
    expect(schema.stdout).toContain('CREATE TABLE market.trades');
    expect(schema.stdout).toContain('CREATE POLICY kinesql_visible ON market.trades');
    expect(schema.stdout).not.toContain(String(partitions.rows[0]!['relname']));
    expect(schema.stdout).not.toMatch(/CREATE TABLE kinesql_state\./);
    // Nor kinesql's internal schemas, nor their default privileges.
    expect(schema.stdout).toContain('CREATE SCHEMA market;');
    expect(schema.stdout).not.toMatch(/CREATE SCHEMA kinesql_|IN SCHEMA kinesql_/);
    // Its rows: pg_dump copies the table, which kinesql runs as a copy of what the session's SELECT sees.
    const rows = await dump('--data-only', '--enable-row-security', '--table=market.trades');
    const copied = rows.stdout.slice(rows.stdout.indexOf('COPY market.trades'), rows.stdout.indexOf('\\.\n'));
    expect(copied.trimEnd().split('\n')).toHaveLength(TRADE_COUNT + 1);
  });

  it('says how to dump when asked to turn row security off', async () => {
    const failure = await dump('--schema-only').then(
      () => undefined,
      (error: { stderr: string }) => error.stderr,
    );
    expect(failure).toContain(engineMajor === 15 ? '--enable-row-security' : 'server version mismatch');
  });
});
