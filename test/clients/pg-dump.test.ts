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

  it('dumps the schema with row security on and the schema of the partitions left out, when the engine is its major version', async () => {
    if (engineMajor !== 15) {
      // pg_dump refuses any server newer than itself: with the embedded PostgreSQL 18 engine it says so.
      await expect(dump('--schema-only', '--enable-row-security')).rejects.toMatchObject({ stderr: expect.stringContaining('server version mismatch') });
      return;
    }
    // Reading the table first loads its rows, and with them its time partitions: no client's to read or lock,
    // so the dump leaves their schema out.
    const psql = (command: string) =>
      run('psql', ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', String(harness.server.port), '-U', 'dumper', '-d', 'kinesql', '-c', command]);
    const data = await psql('\\copy market.trades to stdout');
    expect(data.stdout.trimEnd().split('\n')).toHaveLength(TRADE_COUNT);
    const partitions = (await psql("select relname from pg_class where relnamespace = 'kinesql_partitions'::regnamespace and relkind = 'r'")).stdout
      .trim()
      .split('\n')
      .filter((name) => name !== '');
    expect(partitions.length).toBeGreaterThan(0);
    await expect(dump('--schema-only', '--enable-row-security')).rejects.toMatchObject({ stderr: expect.stringContaining('LOCK TABLE kinesql_partitions.') });
    const schema = await dump('--schema-only', '--enable-row-security', '--exclude-schema=kinesql_partitions');
    expect(schema.stdout).toContain('CREATE TABLE market.trades');
    expect(schema.stdout).toContain('CREATE POLICY kinesql_visible ON market.trades');
    expect(schema.stdout).not.toContain(partitions[0]);
  });

  it('says how to dump when asked to turn row security off', async () => {
    const failure = await dump('--schema-only').then(
      () => undefined,
      (error: { stderr: string }) => error.stderr,
    );
    expect(failure).toContain(engineMajor === 15 ? '--enable-row-security' : 'server version mismatch');
  });
});
