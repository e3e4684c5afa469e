import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startTradesHarness, trade, TRADE_COUNT } from './fixture.js';

// Debian's modules live with Debian's interpreter, not a pyenv python3 that may come first on PATH.
const PYTHON = '/usr/bin/python3';

/**
 * psycopg 3 with its defaults: not autocommit, so every statement runs inside a transaction block it opens
 * implicitly (BEGIN through the extended protocol) and that stays open between statements. Each line on
 * stdin asks for one more count in the same block.
 */
const SCRIPT = `
import json, sys
import psycopg
conn = psycopg.connect(host='127.0.0.1', port=int(sys.argv[1]), user='notebook', dbname='kinesql')
cur = conn.cursor()
for line in sys.stdin:
    cur.execute('select count(*), max(trade_id) from market.trades where symbol = any(%s)', (['AAA', 'BBB', 'CCC'],))
    count, last = cur.fetchone()
    print(json.dumps({'count': count, 'last': last, 'status': str(conn.info.transaction_status.name)}), flush=True)
with conn.cursor(name='server_side') as named:
    named.itersize = 50
    named.execute('select trade_id from market.trades order by trade_id')
    ids = [row[0] for row in named]
print(json.dumps({'named_cursor_rows': len(ids), 'first': ids[0]}), flush=True)
conn.rollback()
# Pipeline mode: several statements sent before any answer is read.
with conn.pipeline():
    first = conn.execute('select count(*) from market.trades where symbol = %s', ('AAA',))
    second = conn.execute('select max(trade_id) from market.trades')
    third = conn.execute('select 1 + %s', (41,))
pipelined = [first.fetchone()[0], second.fetchone()[0], third.fetchone()[0]]
# COPY … TO STDOUT, read row by row.
copied = []
with conn.cursor().copy('copy (select trade_id, symbol from market.trades order by trade_id limit 3) to stdout') as copy:
    for row in copy.rows():
        copied.append(list(row))
print(json.dumps({'pipelined': pipelined, 'copied': copied}), flush=True)
conn.close()
`;

describe('psycopg 3 (Debian python3-psycopg) with its default, non-autocommit connection', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startTradesHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('sees each new record on the next statement inside its implicit transaction block; named cursors, pipeline mode, COPY TO', async () => {
    const python = spawn(PYTHON, ['-c', SCRIPT, String(harness.server.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    python.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const lines = createInterface({ input: python.stdout })[Symbol.asyncIterator]();
    const next = async (): Promise<Record<string, unknown>> => {
      const line = await lines.next();
      if (line.done) throw new Error(`psycopg script ended early: ${stderr}`);
      return JSON.parse(line.value) as Record<string, unknown>;
    };
    try {
      python.stdin.write('count\n');
      expect(await next()).toEqual({ count: TRADE_COUNT, last: TRADE_COUNT, status: 'INTRANS' });
      for (let extra = 1; extra <= 3; extra++) {
        await harness.put('trades', [trade(TRADE_COUNT + extra)]);
        python.stdin.write('count\n');
        expect(await next()).toEqual({ count: TRADE_COUNT + extra, last: TRADE_COUNT + extra, status: 'INTRANS' });
      }
      python.stdin.end();
      expect(await next()).toEqual({ named_cursor_rows: TRADE_COUNT + 3, first: 1 });
      const aaa = Array.from({ length: TRADE_COUNT + 3 }, (_, i) => trade(i + 1)).filter((row) => row['symbol'] === 'AAA').length;
      expect(await next()).toEqual({
        pipelined: [aaa, TRADE_COUNT + 3, 42],
        copied: [
          ['1', 'BBB'],
          ['2', 'CCC'],
          ['3', 'AAA'],
        ],
      });
    } finally {
      python.kill();
    }
  });
});
