import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startTradesHarness, TRADE_COUNT } from './fixture.js';

/**
 * postgres.js: every tagged-template query is a named prepared statement (extended protocol), a cursor reads
 * a portal in pieces with Execute row limits and Flush (no Sync between pieces), and `.simple()` sends one
 * simple-query string.
 */
describe('postgres.js', () => {
  let harness: Harness;
  let sql: postgres.Sql;
  beforeAll(async () => {
    harness = await startTradesHarness();
    sql = postgres({ host: harness.server.host, port: harness.server.port, user: 'analyst', database: 'kinesql', max: 5, onnotice: () => {} });
  });
  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    await harness?.close();
  });

  it('runs tagged-template queries with parameters, types parsed right', async () => {
    const rows = await sql`
      select trade_id, symbol, price, buy, executed, meta from market.trades
      where symbol = ${'BBB'} and trade_id <= ${10} order by trade_id`;
    expect(rows.count).toBe(4);
    expect([...rows]).toEqual(
      [1, 4, 7, 10].map((id) => ({
        trade_id: String(id),
        symbol: 'BBB',
        price: (id * 1.5).toFixed(4),
        buy: id % 2 === 0,
        executed: new Date(Date.UTC(2026, 0, 2, 3, 4, id)),
        meta: { venue: `v${id % 4}` },
      })),
    );
    const [counted] = await sql`select count(*)::int as n from market.trades where symbol = any(${['AAA', 'CCC']})`;
    expect(counted).toEqual({ n: (TRADE_COUNT / 3) * 2 });
  });

  it('describes a statement without running it', async () => {
    const described = await sql`select trade_id, symbol, price from market.trades where trade_id = ${1} and symbol = ${'AAA'}`.describe();
    expect(described.types).toEqual([20, 25]);
    expect(described.columns.map((column) => [column.name, column.type])).toEqual([
      ['trade_id', 20],
      ['symbol', 25],
      ['price', 1700],
    ]);
  });

  it('reads a result in pieces with a cursor, and can stop early', async () => {
    const pieces: number[][] = [];
    for await (const rows of sql`select trade_id from market.trades where trade_id > ${50} order by trade_id`.cursor(100)) {
      pieces.push(rows.map((row) => Number(row['trade_id'])));
    }
    expect(pieces.map((piece) => piece.length)).toEqual([100, 100, 50]);
    expect(pieces.flat()).toEqual(Array.from({ length: TRADE_COUNT - 50 }, (_, i) => i + 51));

    const early: number[] = [];
    for await (const rows of sql`select trade_id from market.trades order by trade_id`.cursor(10)) {
      early.push(...rows.map((row) => Number(row['trade_id'])));
      if (early.length >= 30) break;
    }
    expect(early).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
  });

  // pg_backend_pid() tells the pool's connections apart; on Citus it is computed on the workers, whose backends it
  // names instead (docs/scaling.md, a distributed engine).
  it.skipIf(process.env['KINESQL_TEST_ENGINE'] === 'citus')('spreads concurrent queries over a pool of up to five connections', async () => {
    const answers = await Promise.all(
      Array.from({ length: 25 }, (_, i) => sql`select pg_backend_pid() as pid, symbol from market.trades where trade_id = ${i + 1}`),
    );
    expect(answers.map((rows) => rows[0]!['symbol'])).toEqual(Array.from({ length: 25 }, (_, i) => ['AAA', 'BBB', 'CCC'][(i + 1) % 3]));
    const backends = new Set(answers.map((rows) => rows[0]!['pid']));
    expect(backends.size).toBeGreaterThan(1);
    expect(backends.size).toBeLessThanOrEqual(5);
  });

  it('runs sql.begin blocks: one transaction, committed, or rolled back on an error', async () => {
    const result = await sql.begin('isolation level repeatable read', async (tx) => {
      const [first] = await tx`select now() as at, current_setting('transaction_isolation') as isolation`;
      const [count] = await tx`select count(*)::int as n from market.trades where buy = ${true}`;
      await tx`select pg_sleep(0.02)`;
      const [second] = await tx`select now() as at`;
      return { same: first!['at'].getTime() === second!['at'].getTime(), isolation: first!['isolation'], n: count!['n'] };
    });
    expect(result).toEqual({ same: true, isolation: 'repeatable read', n: TRADE_COUNT / 2 });

    await expect(
      sql.begin(async (tx) => {
        await tx`set local application_name = 'inside'`;
        await tx`select 1 / ${0}::int`;
      }),
    ).rejects.toMatchObject({ code: '22012' });

    const saved = await sql.begin(async (tx) => {
      const failed = await tx.savepoint(async (inner) => inner`select 1 / ${0}::int`).catch((error: { code?: string }) => error.code);
      const [row] = await tx`select count(*)::int as n from market.trades`;
      return [failed, row!['n']];
    });
    expect(saved).toEqual(['22012', TRADE_COUNT]);
  });

  it('runs several statements in one simple-query string', async () => {
    const results = (await sql`
      set application_name = 'simple-js';
      select count(*)::int as n from market.trades where symbol = 'CCC';
      show application_name
    `.simple()) as unknown as Record<string, unknown>[][];
    expect(results.map((rows) => [...rows])).toEqual([[], [{ n: TRADE_COUNT / 3 }], [{ application_name: 'simple-js' }]]);
  });
});
