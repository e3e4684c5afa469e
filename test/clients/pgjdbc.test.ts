import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startTradesHarness, trade, TRADE_COUNT } from './fixture.js';

const run = promisify(execFile);
const JDBC_JAR = '/usr/share/java/postgresql.jar';
const source = new URL('./jdbc/JdbcProbe.java', import.meta.url).pathname;

describe('pgjdbc (Debian libpostgresql-jdbc-java)', () => {
  let harness: Harness;
  let classes: string;
  let output: Record<string, string>;

  beforeAll(async () => {
    classes = await mkdtemp(join(tmpdir(), 'kinesql-jdbc-'));
    const [, started] = await Promise.all([run('javac', ['-cp', JDBC_JAR, '-d', classes, source]), startTradesHarness()]);
    harness = started;
    // The table's first read loads its rows, and with them its time partitions, which no listing may show.
    const reader = await harness.connect();
    await reader.query('select count(*) from market.trades');
    await reader.end();
    const url = `jdbc:postgresql://${harness.server.host}:${harness.server.port}/kinesql`;
    const { stdout } = await run('java', ['-cp', `${JDBC_JAR}:${classes}`, 'JdbcProbe', url], { timeout: 120_000 });
    output = Object.fromEntries(
      stdout
        .trim()
        .split('\n')
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
  }, 180_000);

  afterAll(async () => {
    await harness?.close();
    await rm(classes, { recursive: true, force: true });
  });

  it('lists the stream tables, their columns, schemas and types through DatabaseMetaData', () => {
    // A stream table is a table to its clients; its time partitions and kinesql's private tables are no client's.
    expect(output['tables']).toBe('[market.trades:TABLE]');
    const all = (output['allTables'] ?? '').replace(/^\[|\]$/g, '').split(', ');
    expect(all).toContain('market.trades');
    expect(all).toEqual(expect.arrayContaining(['kinesql.streams', 'kinesql.shards', 'kinesql.checkpoints']));
    expect(all.filter((name) => !name.startsWith('market.') && !name.startsWith('kinesql.'))).toEqual([]);
    expect(output['columns']).toMatch(/^\[trade_id:int8, symbol:text, price:numeric, executed:timestamptz, buy:bool, meta:jsonb, _shard_id:text/);
    expect(output['schemas']).toBe('true');
    // kinesql's internal schemas (its state, the time partitions) are no client's.
    expect(output['schemaList']).not.toMatch(/kinesql_/);
    expect(output['schemaList']).toContain('kinesql');
    expect(output['primaryKeys']).toBe('0');
    expect(output['typeInfo']).toBe('true');
  });

  it('runs a PreparedStatement ten times (named statement, binary results) with the right values', () => {
    const expected = Array.from({ length: 10 }, (_, i) => {
      const t = trade(i + 1);
      return `${String(t.symbol)}/${Number(t.price).toFixed(4)}/${new Date(String(t.at)).toISOString().replace('.000Z', 'Z')}`;
    });
    expect(output['prepared']).toBe(expected.join(','));
  });

  it('fetches in portions with autocommit off, cancels a long query and goes on', () => {
    expect(output['fetched']).toBe(`${TRADE_COUNT}:${(TRADE_COUNT * (TRADE_COUNT + 1)) / 2}`);
    expect(output['cancel']).toBe('57014');
    expect(output['afterCancel']).toBe(String(TRADE_COUNT));
  });

  it('replays Metabase’s connect and sync sequence with the table selectable', () => {
    expect(output['isolation']).toBe('read uncommitted');
    expect(output['timezone']).toBe('Europe/Berlin');
    expect(output['selectable']).toBe('true');
    expect(output['fields']).toMatch(/^\[trade_id:int8, symbol:text, price:numeric, executed:timestamptz, buy:bool, meta:jsonb/);
    expect(output['probe']).toBe('false');
    expect(output['sampled']).toBe(String(TRADE_COUNT));
  });
});
