import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startTradesHarness, TRADE_COUNT } from './fixture.js';

const run = promisify(execFile);

// Debian's modules live with Debian's interpreter, not a pyenv python3 that may come first on PATH.
const PYTHON = '/usr/bin/python3';

/**
 * asyncpg speaks only the extended protocol, with named prepared statements it caches per connection, and
 * sends `client_encoding` as `'utf-8'` (quotes included) in its startup packet. A pool connection is reset on
 * every release with one simple-query string: `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;`.
 */
const SCRIPT = `
import asyncio, json, sys
import asyncpg

async def main(port):
    out = {}
    conn = await asyncpg.connect(host='127.0.0.1', port=port, user='analyst', database='kinesql')
    try:
        out['encoding'] = await conn.fetchval('show client_encoding')
        rows = await conn.fetch(
            'select trade_id, symbol, price, buy, executed, meta from market.trades where symbol = $1 and trade_id <= $2 order by trade_id',
            'BBB', 10)
        out['rows'] = [[r['trade_id'], r['symbol'], str(r['price']), r['buy'], r['executed'].isoformat(), r['meta']] for r in rows]
        row = await conn.fetchrow('select min(trade_id) as lo, max(trade_id) as hi, count(*) as n from market.trades')
        out['fetchrow'] = dict(row)
        stmt = await conn.prepare('select count(*) from market.trades where trade_id > $1 and symbol = any($2)')
        out['prepared_types'] = [t.name for t in stmt.get_parameters()]
        out['prepared_columns'] = [[a.name, a.type.name] for a in stmt.get_attributes()]
        out['prepared'] = [await stmt.fetchval(0, ['AAA', 'BBB', 'CCC']), await stmt.fetchval(240, ['AAA'])]
        ids = []
        async with conn.transaction():
            async for r in conn.cursor('select trade_id from market.trades where trade_id > $1 order by trade_id', 100, prefetch=40):
                ids.append(r['trade_id'])
            cursor = await conn.cursor('select trade_id from market.trades order by trade_id')
            first = await cursor.fetch(5)
            await cursor.forward(10)
            then = await cursor.fetchrow()
        out['cursor'] = {'rows': len(ids), 'first': ids[0], 'last': ids[-1]}
        out['cursor_pieces'] = [[r['trade_id'] for r in first], then['trade_id']]
        out['after_transaction'] = await conn.fetchval('select $1::int + 1', 41)
    finally:
        await conn.close()

    # One connection, so the second round gets the connection the first released (and reset).
    pool = await asyncpg.create_pool(host='127.0.0.1', port=port, user='analyst', database='kinesql', min_size=1, max_size=1)
    try:
        rounds = []
        for symbol in ('AAA', 'CCC'):
            async with pool.acquire() as pooled:
                before = await pooled.fetchval('show application_name')
                await pooled.execute("set application_name = 'pooled'")
                count = await pooled.fetchval('select count(*) from market.trades where symbol = $1', symbol)
                rounds.append([before, await pooled.fetchval('show application_name'), count])
        out['pool'] = rounds
    finally:
        await pool.close()
    pool = await asyncpg.create_pool(host='127.0.0.1', port=port, user='analyst', database='kinesql', min_size=1, max_size=3)
    try:
        out['pool_concurrent'] = await asyncio.gather(
            *[pool.fetchval('select count(*) from market.trades where trade_id <= $1', n) for n in (10, 20, 30, 40, 50, 60)])
    finally:
        await pool.close()
    print(json.dumps(out))

asyncio.run(main(int(sys.argv[1])))
`;

describe('asyncpg (Debian python3-asyncpg)', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startTradesHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('connects, runs parameterised and prepared queries, reads cursors in a transaction, and resets pool connections', async () => {
    const { stdout } = await run(PYTHON, ['-c', SCRIPT, String(harness.server.port)], { timeout: 60_000 }).catch((error: { stderr?: string }) => {
      throw new Error(`asyncpg script failed: ${error.stderr ?? String(error)}`);
    });
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out['encoding']).toBe('UTF8');
    expect(out['rows']).toEqual([
      [1, 'BBB', '1.5000', false, '2026-01-02T03:04:01+00:00', '{"venue": "v1"}'],
      [4, 'BBB', '6.0000', true, '2026-01-02T03:04:04+00:00', '{"venue": "v0"}'],
      [7, 'BBB', '10.5000', false, '2026-01-02T03:04:07+00:00', '{"venue": "v3"}'],
      [10, 'BBB', '15.0000', true, '2026-01-02T03:04:10+00:00', '{"venue": "v2"}'],
    ]);
    expect(out['fetchrow']).toEqual({ lo: 1, hi: TRADE_COUNT, n: TRADE_COUNT });
    expect(out['prepared_types']).toEqual(['int8', 'text[]']);
    expect(out['prepared_columns']).toEqual([['count', 'int8']]);
    expect(out['prepared']).toEqual([TRADE_COUNT, (TRADE_COUNT - 240) / 3]);
    expect(out['cursor']).toEqual({ rows: TRADE_COUNT - 100, first: 101, last: TRADE_COUNT });
    expect(out['cursor_pieces']).toEqual([[1, 2, 3, 4, 5], 16]);
    expect(out['after_transaction']).toBe(42);
    // The reset on release (RESET ALL among it) undid the first round's SET before the second round.
    expect(out['pool']).toEqual([
      ['', 'pooled', TRADE_COUNT / 3],
      ['', 'pooled', TRADE_COUNT / 3],
    ]);
    expect(out['pool_concurrent']).toEqual([10, 20, 30, 40, 50, 60]);
  });
});
