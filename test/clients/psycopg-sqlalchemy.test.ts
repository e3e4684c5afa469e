import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startTradesHarness } from './fixture.js';

const run = promisify(execFile);

// Debian's modules live with Debian's interpreter, not a pyenv python3 that may come first on PATH.
const PYTHON = '/usr/bin/python3';

const SCRIPT = `
import json, sys
import psycopg2
import sqlalchemy as sa
port = int(sys.argv[1])
out = {}
conn = psycopg2.connect(host='127.0.0.1', port=port, user='py', dbname='kinesql')
cur = conn.cursor()
cur.execute('select symbol, price, buy from market.trades where trade_id = %s and symbol = %s', (8, 'CCC'))
out['row'] = [str(v) for v in cur.fetchone()]
conn.rollback()
conn.close()
engine = sa.create_engine(f'postgresql+psycopg2://py@127.0.0.1:{port}/kinesql')
inspector = sa.inspect(engine)
out['schemas'] = sorted(s for s in inspector.get_schema_names() if s in ('market', 'public'))
out['tables'] = inspector.get_table_names(schema='market')
out['columns'] = [(c['name'], str(c['type'])) for c in inspector.get_columns('trades', schema='market')][:6]
with engine.connect() as connection:
    out['count'] = connection.execute(sa.text('select count(*) from market.trades where symbol = :s'), {'s': 'AAA'}).scalar()
print(json.dumps(out))
`;

describe('psycopg2 and SQLAlchemy (Debian python3-psycopg2, python3-sqlalchemy)', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startTradesHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('runs a parameterised query and reflects schemas, tables and columns', async () => {
    const { stdout } = await run(PYTHON, ['-c', SCRIPT, String(harness.server.port)], { timeout: 60_000 });
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out['row']).toEqual(['CCC', '12.0000', 'True']);
    expect(out['schemas']).toEqual(['market', 'public']);
    expect(out['tables']).toEqual(['trades']);
    expect(out['columns']).toEqual([
      ['trade_id', 'BIGINT'],
      ['symbol', 'TEXT'],
      ['price', 'NUMERIC(12, 4)'],
      ['executed', 'TIMESTAMP'],
      ['buy', 'BOOLEAN'],
      ['meta', 'JSONB'],
    ]);
    expect(out['count']).toBe(100);
  });
});
