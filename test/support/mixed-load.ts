/** The mixed query load of the wire load test and benchmark: every answer is checked against the fixture. */
import pg from 'pg';
import { trade, TRADE_COUNT } from '../clients/fixture.js';

export interface Check {
  sql: string;
  params?: unknown[];
  name?: string;
  expect: (rows: Record<string, unknown>[]) => boolean;
}

export function mixedQuery(i: number): Check {
  const id = (i % TRADE_COUNT) + 1;
  switch (i % 5) {
    case 0:
      return { sql: 'select count(*)::int as n from market.trades', expect: (rows) => rows[0]?.['n'] === TRADE_COUNT };
    case 1:
      return {
        name: 'by-id',
        sql: 'select symbol from market.trades where trade_id = $1',
        params: [id],
        expect: (rows) => rows[0]?.['symbol'] === trade(id)['symbol'],
      };
    case 2:
      return {
        sql: 'select symbol, count(*)::int as n from market.trades group by 1 order by 1',
        expect: (rows) => rows.length === 3 && rows[0]?.['n'] === 100,
      };
    case 3:
      return { sql: `select ${id} + 1 as v`, expect: (rows) => rows[0]?.['v'] === id + 1 };
    default:
      return {
        sql: 'select max(price)::text as m from market.trades where buy = $1',
        params: [id % 2 === 0],
        expect: (rows) => typeof rows[0]?.['m'] === 'string',
      };
  }
}

/** `clients` concurrent node-postgres clients each running `queries` mixed queries; latencies in ms. */
export async function runMixedLoad(
  connection: pg.ClientConfig,
  clients: number,
  queries: number,
): Promise<{ latencies: number[]; failures: number; errors: string[] }> {
  const latencies: number[] = [];
  const errors: string[] = [];
  let failures = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const client = new pg.Client(connection);
      await client.connect();
      try {
        for (let q = 0; q < queries; q += 1) {
          const check = mixedQuery(c * queries + q);
          const t0 = performance.now();
          try {
            const result = await client.query({ text: check.sql, values: check.params, ...(check.name ? { name: check.name } : {}) });
            latencies.push(performance.now() - t0);
            if (!check.expect(result.rows)) {
              failures += 1;
              errors.push(`wrong answer to ${check.sql}: ${JSON.stringify(result.rows).slice(0, 200)}`);
            }
          } catch (error) {
            failures += 1;
            errors.push(`${check.sql}: ${(error as Error).message}`);
          }
        }
      } finally {
        await client.end();
      }
    }),
  );
  return { latencies, failures, errors };
}
