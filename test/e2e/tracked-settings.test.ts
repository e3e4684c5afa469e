import pg from 'pg';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { dataRow, RawClient } from '../support/raw-client.js';

const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };

/**
 * No follower: a session with kinesql.max_staleness answers from what is loaded, a strict one reads the new
 * records first. Which of the two a statement gets shows the max_staleness kinesql planned its catch-up with,
 * kept by kinesql from the statements that passed, under PostgreSQL's transaction rules.
 */
describe('session settings kept by kinesql', () => {
  let harness: Harness;
  let written = 0;

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'ticks', shards: 2 }], definitions: { 'ticks.json': definition } });
  });

  afterAll(async () => {
    await harness?.close();
  });

  /** Puts one record, then counts: whether the session saw it (a strict catch-up) or not (answered from what was loaded). */
  const seesNewRecord = async (client: pg.Client): Promise<boolean> => {
    await harness.put('ticks', [{ n: written }]);
    written += 1;
    const { rows } = await client.query('select count(*)::int as n from ticks');
    return rows[0].n === written;
  };

  /** A strict statement of another session loads everything, so the next stale answer is complete again. */
  const loadAll = async (): Promise<void> => {
    const other = await harness.connect();
    try {
      await other.query('select count(*) from ticks');
    } finally {
      await other.end();
    }
  };

  it('follows SET, SET LOCAL, RESET, set_config, COMMIT, ROLLBACK and savepoints', async () => {
    const client = await harness.connect();
    const run = async (...statements: string[]): Promise<void> => {
      for (const statement of statements) await client.query(statement);
    };
    try {
      expect(await seesNewRecord(client)).toBe(true);
      await run(`SET kinesql.max_staleness = '1h'`);
      expect(await seesNewRecord(client)).toBe(false);

      // A SET inside a block that rolls back is undone.
      await run('BEGIN', 'SET kinesql.max_staleness = 0');
      expect(await seesNewRecord(client)).toBe(true);
      await run('ROLLBACK');
      expect(await seesNewRecord(client)).toBe(false);
      await loadAll();

      // SET LOCAL lasts until the block ends, committed or not.
      await run('BEGIN', 'SET LOCAL kinesql.max_staleness = 0');
      expect(await seesNewRecord(client)).toBe(true);
      await run('COMMIT');
      expect(await seesNewRecord(client)).toBe(false);
      await loadAll();

      // ROLLBACK TO a savepoint undoes what was set after it; what was set before it stays when the block commits.
      await run('BEGIN', 'SET kinesql.max_staleness = 0', 'SAVEPOINT before_stale', `SET kinesql.max_staleness = '1h'`);
      expect(await seesNewRecord(client)).toBe(false);
      await run('ROLLBACK TO SAVEPOINT before_stale');
      expect(await seesNewRecord(client)).toBe(true);
      await run('COMMIT');
      expect(await seesNewRecord(client)).toBe(true);

      // A statement string that fails outside a block leaves nothing of it set.
      await expect(client.query(`SET kinesql.max_staleness = '1h'; select 1/0`)).rejects.toMatchObject({ code: '22012' });
      expect(await seesNewRecord(client)).toBe(true);

      // COMMIT of a failed block rolls it back.
      await run('BEGIN', `SET kinesql.max_staleness = '1h'`);
      await expect(client.query('select 1/0')).rejects.toMatchObject({ code: '22012' });
      await run('COMMIT');
      expect(await seesNewRecord(client)).toBe(true);

      await run(`select set_config('kinesql.max_staleness', '1h', false)`);
      expect(await seesNewRecord(client)).toBe(false);
      await run('RESET kinesql.max_staleness');
      expect(await seesNewRecord(client)).toBe(true);

      // A value the text does not tell: read back from the engine.
      await run(`select set_config('kinesql.max_staleness', v, false) from (values ('1h')) as t(v)`);
      expect(await seesNewRecord(client)).toBe(false);
      await run('DISCARD ALL');
      expect(await seesNewRecord(client)).toBe(true);
    } finally {
      await client.end();
    }
  });

  it('starts from the startup packet, which RESET and RESET ALL go back to', async () => {
    const client = new pg.Client({ ...harness.connection, options: '-c kinesql.max_staleness=1h' });
    await client.connect();
    try {
      await loadAll();
      expect(await seesNewRecord(client)).toBe(false);
      await client.query('SET kinesql.max_staleness = 0');
      expect(await seesNewRecord(client)).toBe(true);
      await client.query('RESET ALL');
      expect(await seesNewRecord(client)).toBe(false);
    } finally {
      await client.end();
    }
  });

  it('plans with the search_path the session set', async () => {
    const client = await harness.connect();
    try {
      await client.query('SET search_path = pg_catalog');
      await expect(client.query('select count(*) from ticks')).rejects.toMatchObject({ code: '42P01' });
      await harness.put('ticks', [{ n: written }]);
      written += 1;
      await client.query('BEGIN');
      await client.query('SET LOCAL search_path = public');
      expect((await client.query('select count(*)::int as n from ticks')).rows).toEqual([{ n: written }]);
      await client.query('COMMIT');
      await expect(client.query('select count(*) from ticks')).rejects.toMatchObject({ code: '42P01' });
    } finally {
      await client.end();
    }
  });
});

/** PostgreSQL has one namespace of prepared statements: protocol Parse and SQL PREPARE name the same statements. */
describe('prepared statements, however they were made, catch up', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'ticks', shards: 2 }], definitions: { 'ticks.json': definition } });
    await harness.put('ticks', [{ n: 0 }, { n: 1 }]);
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('a Bind of a statement made by SQL PREPARE sees a record put just before', async () => {
    const client = await RawClient.startup(harness.server.port);
    const countOnce = async (): Promise<string | null | undefined> => {
      client.write(Buffer.concat([serialize.bind({ statement: 'counted' }), serialize.execute(), serialize.sync()]));
      const replies = await client.readUntilReady();
      const row = replies.find((message) => message.type === 'D');
      return row ? dataRow(row.body)[0] : undefined;
    };
    try {
      client.write(serialize.query('PREPARE counted AS select count(*)::int from ticks'));
      await client.readUntilReady();
      expect(await countOnce()).toBe('2');
      await harness.put('ticks', [{ n: 2 }]);
      expect(await countOnce()).toBe('3');
    } finally {
      client.close();
    }
  });

  it('an EXECUTE of a statement made by a protocol Parse sees a record put just before', async () => {
    const client = await harness.connect();
    try {
      const before = (await client.query({ name: 'parsed', text: 'select count(*)::int as n from ticks' })).rows[0].n as number;
      await harness.put('ticks', [{ n: 100 }]);
      expect((await client.query('EXECUTE parsed')).rows).toEqual([{ n: before + 1 }]);
      await harness.put('ticks', [{ n: 101 }]);
      // And run again by the protocol (a Bind without a Parse, as node-postgres sends for a statement it prepared).
      expect((await client.query({ name: 'parsed', text: 'select count(*)::int as n from ticks' })).rows).toEqual([{ n: before + 2 }]);
    } finally {
      await client.end();
    }
  });
});
