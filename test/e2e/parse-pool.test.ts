import { afterAll, describe, expect, it } from 'vitest';
import { ParsePool } from '../../src/sql/parse-pool.js';

// Worker threads, each loading the SQL grammar, against a time budget of wall-clock time: with test:e2e, not
// in the unit loop, whose tests hold no wall-clock threshold.
describe('the pool of SQL analysis workers', () => {
  // A budget far below what analysing 10 MB of SQL takes anywhere (seconds), far above what a short statement takes.
  const pool = new ParsePool(1_000, undefined, 2);

  afterAll(async () => {
    await pool.close();
  });

  it('answers a statement over its time budget with 54001 naming the key, and analyses the next one in a fresh worker', async () => {
    const huge = `select * from t where n in (${Array.from({ length: 1_500_000 }, (_, i) => i).join(', ')})`;
    const small = `select * from t where n in (${Array.from({ length: 200 }, (_, i) => i % 10).join(', ')})`;
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
