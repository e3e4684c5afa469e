import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParsePool } from '../../src/sql/parse-pool.js';

const small = `select * from t where n in (${Array.from({ length: 200 }, (_, i) => i % 10).join(', ')})`;

/**
 * A budget far below what analysing 10 MB of SQL takes (seconds, thousands of times a short statement) and far
 * above what a short statement takes on this machine now: 50 times its slowest of three runs in a started worker,
 * at least 1 s.
 * A fixed budget fails the short statements when the machine is busy.
 */
async function budgetForThisMachine(): Promise<number> {
  const calibration = new ParsePool(600_000, undefined, 1);
  try {
    await calibration.analyze(small, {}, Date.now());
    let slowest = 0;
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      await calibration.analyze(small, {}, Date.now());
      slowest = Math.max(slowest, performance.now() - started);
    }
    return Math.max(1_000, Math.ceil(50 * slowest));
  } finally {
    await calibration.close();
  }
}

// Worker threads, each loading the SQL grammar, against a time budget of CPU time calibrated by wall-clock
// time: with test:e2e, not in the unit loop, whose tests hold no wall-clock threshold.
describe('the pool of SQL analysis workers', () => {
  let pool: ParsePool;

  beforeAll(async () => {
    pool = new ParsePool(await budgetForThisMachine(), undefined, 2);
  });

  afterAll(async () => {
    await pool?.close();
  });

  it('answers a statement over its time budget with 54001 naming the key, and analyses the next one in a fresh worker', async () => {
    const huge = `select * from t where n in (${Array.from({ length: 1_500_000 }, (_, i) => i).join(', ')})`;
    const late = await pool.analyze(huge, {}, Date.now());
    expect(late).toEqual({ refusal: { sqlstate: '54001', message: expect.stringContaining('kinesql.parse-timeout') } });
    for (const sql of [small, 'select 1']) {
      const result = await pool.analyze(sql, {}, Date.now());
      expect(result).not.toHaveProperty('refusal');
      expect(result).toMatchObject({ analysis: { analysis: { relations: sql === small ? [{ relation: { name: 't' }, statement: 0 }] : [] } } });
    }
  }, 60_000);

  it('refuses what the read-only gate refuses, with its SQLSTATE, like the main thread', async () => {
    const result = await pool.analyze(`insert into t values ${Array.from({ length: 1_000 }, (_, i) => `(${i})`).join(', ')}`, {}, Date.now());
    expect('analysis' in result && result.analysis.analysis.refusal?.sqlstate).toBe('25006');
  });
});
