import pg from 'pg';
import Cursor from 'pg-cursor';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startTradesHarness, TRADE_COUNT } from './fixture.js';

/**
 * On Citus a stream table's expressions are computed on the workers, in backends that do not have the session's
 * TimeZone (docs/scaling.md, a distributed engine): timestamptz as text is then in the workers' zone, not checked here.
 */
const onCitus = process.env['KINESQL_TEST_ENGINE'] === 'citus';

describe('node-postgres', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startTradesHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('runs simple and parameterised queries with types parsed right', async () => {
    const client = await harness.connect();
    try {
      await client.query("set time zone 'America/New_York'");
      const result = await client.query(
        `select trade_id, price, executed, executed::text as executed_text, buy, meta, '\\x0102ff'::bytea as bytes,
                array[trade_id, trade_id * 2] as ids from market.trades where trade_id = $1 and symbol = $2`,
        [7, 'BBB'],
      );
      expect(result.rows).toEqual([
        {
          trade_id: '7',
          price: '10.5000',
          executed: new Date(Date.UTC(2026, 0, 2, 3, 4, 7)),
          executed_text: onCitus ? expect.any(String) : '2026-01-01 22:04:07-05',
          buy: false,
          meta: { venue: 'v3' },
          bytes: Buffer.from([1, 2, 255]),
          ids: ['7', '14'],
        },
      ]);
      expect((await client.query('select count(*)::int as n from market.trades')).rows).toEqual([{ n: TRADE_COUNT }]);
    } finally {
      await client.end();
    }
  });

  it('serves a pg.Pool of concurrent clients with the same prepared-statement name on each', async () => {
    const pool = new pg.Pool({ ...harness.connection, max: 6 });
    try {
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          pool.query({ name: 'by-id', text: 'select symbol, trade_id from market.trades where trade_id = $1', values: [i + 1] }),
        ),
      );
      expect(answers.map((answer) => answer.rows[0])).toEqual(
        Array.from({ length: 30 }, (_, i) => ({ symbol: ['AAA', 'BBB', 'CCC'][(i + 1) % 3], trade_id: String(i + 1) })),
      );
    } finally {
      await pool.end();
    }
  });

  it('reads a result in pieces with pg-cursor while another client keeps working', async () => {
    const client = await harness.connect();
    const other = await harness.connect();
    try {
      const cursor = client.query(new Cursor('select trade_id from market.trades order by trade_id'));
      const first = await cursor.read(100);
      const second = await cursor.read(100);
      await cursor.close();
      expect([...first, ...second].map((row) => Number(row.trade_id))).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect((await other.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      expect((await client.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
    } finally {
      await client.end();
      await other.end();
    }
  });

  it('exports with COPY table TO STDOUT (pg-copy-streams) the rows the session selects, in its window', async () => {
    const client = await harness.connect();
    const exported = async (sql: string): Promise<string[]> => {
      const chunks: Buffer[] = [];
      for await (const chunk of client.query(copyTo(sql))) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks)
        .toString('utf8')
        .split('\n')
        .filter((line) => line !== '');
    };
    const selected = async (): Promise<string[]> =>
      (await client.query({ text: 'select trade_id, symbol, price from market.trades', rowMode: 'array' })).rows.map((row: unknown[]) => row.join(','));
    try {
      const rows = await exported('COPY market.trades (trade_id, symbol, price) TO STDOUT WITH (FORMAT csv)');
      expect(rows).toHaveLength(TRADE_COUNT);
      expect(rows.sort()).toEqual((await selected()).sort());
      // A window that starts after every record: the export is as empty as the select.
      await client.query("set kinesis.iter_start_timestamp = '2100-01-01T00:00:00Z'");
      expect(await selected()).toEqual([]);
      expect(await exported('COPY market.trades TO STDOUT')).toEqual([]);
    } finally {
      await client.end();
    }
  });
});
