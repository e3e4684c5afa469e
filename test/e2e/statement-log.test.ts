import { Writable } from 'node:stream';
import { serialize } from 'pg-protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Harness, startHarness } from '../support/harness.js';
import { RawClient } from '../support/raw-client.js';

const ticks = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };

interface StatementLine {
  component?: string;
  msg: string;
  user: string;
  ms: number;
  outcome: string;
  sqlstate?: string;
  rows?: number;
  statement: string;
}

/** A harness whose log lines are kept, with kinesql.log-min-duration-statement set to `minMs`. */
async function loggedHarness(minMs: number, lines: StatementLine[]): Promise<Harness> {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as StatementLine);
      done();
    },
  });
  return startHarness({
    streams: [{ name: 'ticks', shards: 1 }],
    definitions: { 'ticks.json': ticks },
    logger: pino({ level: 'info' }, sink),
    configure: (config) => ({ ...config, wire: { ...config.wire, logMinDurationStatementMs: minMs } }),
  });
}

describe('the statement log (kinesql.log-min-duration-statement)', () => {
  const lines: StatementLine[] = [];
  let harness: Harness;

  beforeAll(async () => {
    harness = await loggedHarness(0, lines);
    await harness.put(
      'ticks',
      Array.from({ length: 12 }, (_, n) => ({ n })),
    );
  });

  afterAll(async () => {
    await harness?.close();
  });

  const logged = () => lines.filter((line) => line.msg === 'statement');

  it('logs each statement with its user, duration, rows, outcome, SQLSTATE and text', async () => {
    const client = await harness.connect();
    try {
      await client.query('select n from ticks where n < 5');
      await client.query('select n from ticks where n > $1', [8]);
      await expect(client.query('select 1/0')).rejects.toMatchObject({ code: '22012' });
      await expect(client.query('insert into ticks (n) values (1)')).rejects.toMatchObject({ code: '25006' });
    } finally {
      await client.end();
    }
    // A failed statement's promise settles at its ErrorResponse; its line is written at the ReadyForQuery after it.
    const find = (text: string) => logged().find((line) => line.user === 'tester' && line.statement === text);
    await vi.waitFor(() => {
      expect(find('select n from ticks where n < 5')).toMatchObject({ outcome: 'ok', rows: 5 });
      expect(find('select n from ticks where n > $1')).toMatchObject({ outcome: 'ok', rows: 3 });
      expect(find('select 1/0')).toMatchObject({ outcome: 'error', sqlstate: '22012' });
      expect(find('insert into ticks (n) values (1)')).toMatchObject({ outcome: 'refused', sqlstate: '25006' });
    });
    for (const line of logged()) expect(line.ms).toBeGreaterThanOrEqual(0);
  });

  it('logs a refused statement whose client hung up right after the refusal', async () => {
    const client = await RawClient.startup(harness.server.port, { user: 'hangs-up' });
    client.write(Buffer.concat([serialize.query('delete from ticks where n = 3'), serialize.end()]));
    await client.waitClosed();
    await vi.waitFor(() => {
      expect(logged().find((line) => line.user === 'hangs-up')).toMatchObject({
        outcome: 'refused',
        sqlstate: '25006',
        statement: 'delete from ticks where n = 3',
      });
    });
  });

  it('cuts a long statement text and says how long it was', async () => {
    const client = await harness.connect();
    const long = `select ${Array.from({ length: 900 }, (_, n) => n).join(' + ')} as total`;
    try {
      await client.query(long);
    } finally {
      await client.end();
    }
    const line = logged().find((entry) => entry.statement.startsWith('select 0 + 1 + 2'));
    expect(line?.statement).toMatch(new RegExp(`… \\(${long.length} characters\\)$`));
    expect(line!.statement.length).toBeLessThan(long.length);
  });

  it('logs a statement of 128 KB or more by its first characters and its size in bytes (its text is not decoded whole to be logged)', async () => {
    const client = await harness.connect();
    // 'é' takes two bytes in UTF-8: the size logged is in bytes, not characters.
    const huge = `insert into ticks (n) values ${"(1, 'é'), ".repeat(20_000)}(1, 'é')`;
    try {
      for (const text of [huge, `prepare big as ${huge}`]) {
        await expect(client.query(text)).rejects.toMatchObject({ code: '25006' });
        await expect(client.query({ text, values: [] })).rejects.toMatchObject({ code: '25006' });
      }
    } finally {
      await client.end();
    }
    const cut = (text: string) => `${text.slice(0, 2_000)}… (${Buffer.byteLength(text)} bytes)`;
    await vi.waitFor(() => {
      const statements = logged().map((entry) => entry.statement);
      expect(statements.filter((statement) => statement === cut(huge))).toHaveLength(2);
      expect(statements.filter((statement) => statement === cut(`prepare big as ${huge}`))).toHaveLength(2);
    });
  });
});

describe('the statement log above its threshold', () => {
  it('logs nothing for statements faster than kinesql.log-min-duration-statement', async () => {
    const lines: StatementLine[] = [];
    const harness = await loggedHarness(60_000, lines);
    try {
      const client = await harness.connect();
      await client.query('select 1');
      await client.query('select pg_sleep(0.05)');
      await client.end();
    } finally {
      await harness.close();
    }
    expect(lines.filter((line) => line.msg === 'statement')).toEqual([]);
  });
});
