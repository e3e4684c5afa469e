import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { corpusConfig, loadAllowedCorpus, loadRefusedCorpus } from '../sql/readonly-corpus.js';
import { startHarness, type Harness } from '../support/harness.js';

const definition = {
  tableName: 't',
  streamName: 'events',
  message: {
    dataFormat: 'json',
    fields: [
      { name: 'id', type: 'BIGINT', mapping: 'id' },
      { name: 'name', type: 'VARCHAR', mapping: 'name' },
    ],
  },
};

describe('every write and escape attempt is refused over the wire, and nothing changes', () => {
  let harness: Harness;
  let client: pg.Client;
  const refused = loadRefusedCorpus();

  const snapshot = async () => {
    const rows = await client.query(`select count(*)::int as n, coalesce(sum(id), 0)::int as ids, string_agg(name, ',' order by id) as names from t`);
    // Every relation in the engine, kinesql's internal ones included (the catalog a client reads leaves them out).
    const relations = await harness.server.engine.query(
      `select string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ',' order by 1) as objects
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')`,
    );
    const roles = await client.query("select string_agg(rolname, ',' order by rolname) as roles from pg_roles");
    const definitions = await client.query("select string_agg(table_name || status, ',') as d from kinesql.definitions");
    return { ...rows.rows[0], ...relations.rows[0], ...roles.rows[0], ...definitions.rows[0] };
  };

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'events', shards: 1 }], definitions: { 't.json': definition }, configure: corpusConfig });
    await harness.put(
      'events',
      Array.from({ length: 10 }, (_, i) => ({ id: i + 1, name: `n${i + 1}` })),
    );
    client = await harness.connect();
    // kinesql builds the table's indexes in the background after the first load: let that finish first, so
    // the snapshots below compare only what client statements could have changed.
    await client.query('select count(*) from t');
    for (let attempt = 0; attempt < 200; attempt++) {
      const { rows } = await client.query(`select count(*)::int as n from pg_indexes where tablename = 't'`);
      if (rows[0].n >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  afterAll(async () => {
    await client?.end();
    await harness?.close();
  });

  it(`refuses all ${refused.length} corpus statements with the expected SQLSTATE, over simple and extended protocol`, async () => {
    expect(refused.length).toBeGreaterThanOrEqual(200);
    const before = await snapshot();
    const mismatches: string[] = [];
    for (const [index, entry] of refused.entries()) {
      for (const extended of [false, true]) {
        if (extended && entry.sql.includes(';')) continue;
        try {
          await client.query(extended ? { text: entry.sql, values: [], name: `refused_${index}` } : entry.sql);
          mismatches.push(`line ${entry.line} ran: ${entry.sql}`);
        } catch (error) {
          const e = error as { code?: string; message: string };
          if (e.code !== entry.sqlstate || !e.message.toLowerCase().includes(entry.mentions.toLowerCase())) {
            mismatches.push(`line ${entry.line}${extended ? ' (extended)' : ''}: ${e.code} ${e.message} — ${entry.sql}`);
          }
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(await snapshot()).toEqual(before);
    expect((await client.query('select count(*)::int as n from t')).rows[0].n).toBe(10);
  });

  it('lets every client statement of the allowed corpus through the gate', async () => {
    const refusedByGate: string[] = [];
    for (const entry of loadAllowedCorpus()) {
      try {
        await client.query(entry.sql);
      } catch (error) {
        const e = error as { code?: string; message: string };
        // The engine may still reject a statement for its own reasons (an object the corpus names does not exist
        // here); what must never happen is the read-only gate refusing a client's legitimate statement.
        if (e.code === '25006' || e.code === '42501') refusedByGate.push(`${entry.label}: ${e.code} ${e.message}`);
      }
      await client.query('rollback').catch(() => undefined);
    }
    expect(refusedByGate).toEqual([]);
  });
});
