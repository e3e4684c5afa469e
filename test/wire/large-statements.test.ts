import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initParser } from '../../src/sql/parse.js';
import { ParsePool } from '../../src/sql/parse-pool.js';
import { analyzeText, prepareText } from '../../src/sql/statement-text.js';
import { startHarness, type Harness } from '../support/harness.js';

const definition = {
  tableName: 'ticks',
  streamName: 'ticks',
  message: {
    dataFormat: 'json',
    fields: [
      { name: 'n', type: 'INTEGER', mapping: 'n' },
      { name: 'secret', type: 'VARCHAR', mapping: 'secret', hidden: 'true' },
    ],
  },
};

/** An IN list long enough to make the statement several megabytes. */
const manyNumbers = (count: number) => Array.from({ length: count }, (_, i) => i).join(', ');

describe('SQL too large to parse on the main thread', () => {
  it('gets the same analysis from the worker as on the main thread, and the same text from it', async () => {
    await initParser();
    const pool = new ParsePool(60_000, undefined, 2);
    try {
      for (const sql of [
        `select * from ticks where n in (1, 2, 3)`,
        `prepare q as select n from s.t; execute q; set kinesis.max_batches = 3; deallocate all`,
        `insert into ticks values (1)`,
        `select version(), inet_server_port()`,
      ]) {
        const result = await pool.analyze(sql, {}, Date.now());
        if (!('analysis' in result)) throw new Error(result.refusal.message);
        const { analysis } = result.analysis;
        expect(analysis).toEqual(analyzeText(sql).analysis);
        const context = { searchPath: ['public'], tables: [{ schema: 'public', name: 'ticks', visible: ['n'] }], renameOldCatalogColumns: true };
        expect(prepareText(sql, analysis, context)).toBe(prepareText(sql, analyzeText(sql).analysis, context));
      }
    } finally {
      await pool.close();
    }
  });

  describe('over the wire', () => {
    let harness: Harness;

    beforeAll(async () => {
      // Statements of megabytes, analysed on a machine that may be busy: a budget that does not cut them off.
      harness = await startHarness({
        streams: [{ name: 'ticks', shards: 2 }],
        definitions: { 'ticks.json': definition },
        configure: (config) => ({ ...config, engine: { ...config.engine, parseTimeoutMs: 120_000 } }),
      });
      await harness.put(
        'ticks',
        Array.from({ length: 20 }, (_, n) => ({ n, secret: `s${n}` })),
      );
    });

    afterAll(async () => {
      await harness?.close();
    });

    it('answers, refuses and hides columns for statements of megabytes as for small ones, while other sessions go on', async () => {
      const client = await harness.connect();
      const other = await harness.connect();
      try {
        const inList = manyNumbers(400_000);
        const big = client.query(`select count(*)::int as n from ticks where n in (${inList})`);
        const meanwhile = await other.query('select 1 as one');
        expect(meanwhile.rows).toEqual([{ one: 1 }]);
        expect((await big).rows).toEqual([{ n: 20 }]);

        const star = await client.query(`select * from ticks where n in (${inList}) order by n limit 1`);
        expect(star.fields.map((field) => field.name)).not.toContain('secret');
        expect(star.rows[0]).toMatchObject({ n: 0 });

        await expect(client.query(`insert into ticks (n) values ${Array.from({ length: 200_000 }, (_, i) => `(${i})`).join(', ')}`)).rejects.toMatchObject({
          code: '25006',
        });
        expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      } finally {
        await client.end();
        await other.end();
      }
      // Three statements of megabytes, each parsed by kinesql and the engine: a minute is not enough on a busy machine.
    }, 300_000);
  });
});
