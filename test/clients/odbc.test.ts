import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startTradesHarness, TRADE_COUNT } from './fixture.js';

const run = promisify(execFile);

describe('psqlODBC (Debian odbc-postgresql + unixodbc) with UseDeclareFetch=1', () => {
  let harness: Harness;
  let dir: string;
  /** isql's output for lines of SQL (and isql commands), comma-separated. */
  const isql = async (sql: string): Promise<string> => {
    const { stdout } = await run('sh', ['-c', `printf '%s' "$SQL" | isql -b -d, kinesql`], {
      env: { ...process.env, ODBCINI: join(dir, 'odbc.ini'), ODBCSYSINI: dir, SQL: sql },
      timeout: 60_000,
    });
    return stdout;
  };
  beforeAll(async () => {
    harness = await startTradesHarness();
    dir = await mkdtemp(join(tmpdir(), 'kinesql-odbc-'));
    await writeFile(
      join(dir, 'odbc.ini'),
      `[kinesql]\nDriver=/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so\nServername=127.0.0.1\nPort=${harness.server.port}\nDatabase=kinesql\nUsername=odbc\nUseDeclareFetch=1\nFetch=40\n`,
    );
  });
  afterAll(async () => {
    await harness?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a whole table through DECLARE/FETCH cursors and runs an aggregate', async () => {
    const stdout = await isql('select trade_id from market.trades order by trade_id\nselect count(*) from market.trades where buy\n');
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => line.trim());
    expect(lines.slice(0, TRADE_COUNT)).toEqual(Array.from({ length: TRADE_COUNT }, (_, i) => String(i + 1)));
    expect(lines[TRADE_COUNT]).toBe(String(TRADE_COUNT / 2));
  });

  it('lists through SQLTables (isql help) the stream table and the status tables, nothing internal', async () => {
    // After a read, so the table's time partitions exist.
    const stdout = await isql('select count(*) from market.trades\nhelp\n');
    const tables = stdout
      .split('\n')
      .map((line) => line.split(','))
      .filter((fields) => fields.length >= 4 && fields[3] === 'TABLE')
      .map((fields) => `${fields[1]}.${fields[2]}`);
    expect(tables).toContain('market.trades');
    expect(tables).toEqual(expect.arrayContaining(['kinesql.streams', 'kinesql.shards']));
    expect(tables.filter((name) => !name.startsWith('market.') && !name.startsWith('kinesql.'))).toEqual([]);
  });
});
