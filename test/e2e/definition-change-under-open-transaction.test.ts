import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

const fields = [{ name: 'n', type: 'INTEGER', mapping: 'n' }];
const v1 = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields } };
const v2 = { ...v1, message: { ...v1.message, fields: [...fields, { name: 'label', type: 'VARCHAR', mapping: 'label' }] } };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a definition change while a session holds the table in an open transaction', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'ticks', shards: 1 }], definitions: { 'ticks.json': v1 } });
    await harness.put(
      'ticks',
      Array.from({ length: 5 }, (_, n) => ({ n, label: `l${n}` })),
    );
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('keeps the old version serving everyone else, and applies the change once that transaction ends', async () => {
    const holder = await harness.connect();
    const other = await harness.connect();
    try {
      await holder.query('BEGIN');
      expect((await holder.query('select count(*)::int as n from ticks')).rows).toEqual([{ n: 5 }]);
      await writeFile(join(harness.tablesDir, 'ticks.json'), JSON.stringify(v2));
      // The change cannot take the table while the block holds it; other sessions are not queued behind it:
      // nobody ever waits for a lock on a table in the engine (the change asks for its lock with NOWAIT).
      const { host, port, user, password, database } = harness.server.engine.endpoint;
      const admin = new pg.Client({ host, port, user, password, database });
      await admin.connect();
      const lockWaits: string[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const { rows } = await admin.query(
            `SELECT a.query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND l.locktype = 'relation'`,
          );
          lockWaits.push(...rows.map((row) => String(row['query'])));
          await sleep(10);
        }
      })();
      for (let i = 0; i < 30; i++) {
        expect((await other.query('select count(*)::int as n from ticks')).rows).toEqual([{ n: 5 }]);
        await sleep(100);
      }
      sampling = false;
      await sampler;
      await admin.end();
      expect(lockWaits).toEqual([]);
      await holder.query('COMMIT');
      let labels: unknown[] | undefined;
      for (let attempt = 0; attempt < 120 && !labels; attempt++) {
        labels = await other.query('select label from ticks order by n').then(
          (result) => result.rows.map((row: { label: string }) => row.label),
          () => undefined,
        );
        if (!labels) await sleep(250);
      }
      expect(labels).toEqual(['l0', 'l1', 'l2', 'l3', 'l4']);
    } finally {
      await holder.end();
      await other.end();
    }
  });
});
