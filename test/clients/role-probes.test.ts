import pg from 'pg';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAllowedCorpus } from '../sql/readonly-corpus.js';
import { startHarness, type Harness } from '../support/harness.js';
import { errorFields, RawClient, types } from '../support/raw-client.js';

/**
 * The read-only corpus's role probes (test/data/readonly-allowed.sql, "role probe"), each written about the
 * role `bob` and the OID 4242424242, run by alice about bob (a login of kinesql's, with a session open) and about
 * a role that does not exist: each must answer the same, the role's name and OID aside.
 */
const PROBES = loadAllowedCorpus().filter((entry) => entry.label.startsWith('role probe'));
const PROBE_NAME = /\bbob\b/g;
const PROBE_OID = /4242424242/g;

type Outcome = { rows: unknown[] } | { error: Record<string, unknown> };

describe("another user's login, probed through catalog functions, casts and views, is a role that does not exist", () => {
  let harness: Harness;
  let bobSession: pg.Client;
  const oids: Record<string, number> = {};
  let missingOid = 0;
  const missingName = 'nobody_logs_in_as_this';

  /** What `sql` answers alice, with the probed role's name and OID (none: '') put in and then taken out again. */
  const probe = async (sql: string, name: string, oid: number, user = 'alice'): Promise<Outcome> => {
    const client = new pg.Client({ ...harness.connection, user });
    await client.connect();
    try {
      const result = await client.query(name === '' ? sql : sql.replace(PROBE_NAME, name).replace(PROBE_OID, String(oid)));
      const results = Array.isArray(result) ? (result as pg.QueryResult[]) : [result];
      return normalized({ rows: results.flatMap((each) => each.rows) }, name, oid);
    } catch (error) {
      const { message, code, detail, hint, where, position } = error as pg.DatabaseError;
      return normalized({ error: { message, code, detail, hint, where, position } }, name, oid);
    } finally {
      await client.end();
    }
  };
  const normalized = (outcome: Outcome, name: string, oid: number): Outcome =>
    name === '' ? outcome : (JSON.parse(JSON.stringify(outcome).replaceAll(name, '<role>').replaceAll(String(oid), '<oid>')) as Outcome);
  const scalar = async (sql: string, user = 'alice'): Promise<unknown> => {
    const outcome = await probe(sql, '', 0, user);
    if ('error' in outcome) throw new Error(`${sql}: ${JSON.stringify(outcome.error)}`);
    return Object.values(outcome.rows[0] as object)[0];
  };

  beforeAll(async () => {
    harness = await startHarness({ streams: [], definitions: {} });
    bobSession = new pg.Client({ ...harness.connection, user: 'bob' });
    await bobSession.connect();
    // alice's first login creates her role.
    await scalar('select 1');
    const { rows } = await harness.server.engine.query("select rolname, oid::int8 as oid from pg_roles where rolname in ('alice', 'bob')");
    for (const row of rows) oids[String(row['rolname'])] = Number(row['oid']);
    const free = await harness.server.engine.query(`select coalesce(max(oid::int8), 0) + 1000 as oid, bool_or(rolname = $1) as taken from pg_roles`, [
      missingName,
    ]);
    missingOid = Number(free.rows[0]?.['oid']);
    expect(free.rows[0]?.['taken']).toBe(false);
  });

  afterAll(async () => {
    await bobSession?.end();
    await harness?.close();
  });

  it('has the probes to run, and both users are logins of the engine', () => {
    expect(PROBES.length).toBeGreaterThanOrEqual(30);
    expect(Object.keys(oids).sort()).toEqual(['alice', 'bob']);
  });

  it.each(PROBES.filter((entry) => !entry.label.startsWith('role probe, OID to name')).map((entry) => [entry.label, entry.sql] as const))(
    'answers as for a missing role: %s',
    async (_label, sql) => {
      const asMissing = await probe(sql, missingName, missingOid);
      const asBob = await probe(sql, 'bob', oids['bob']!);
      expect(asBob).toEqual(asMissing);
    },
  );

  it("refuses to make another user's OID a regrole or an aclitem (whose text would name the role), as for no role", async () => {
    for (const entry of PROBES.filter((each) => each.label.startsWith('role probe, OID to name'))) {
      expect(await probe(entry.sql, missingName, missingOid)).toMatchObject({ rows: [{}] });
      const asBob = await probe(entry.sql, 'bob', oids['bob']!);
      expect(asBob).toMatchObject({ error: { code: '42704', message: 'role with OID <oid> does not exist' } });
    }
  });

  it('refuses a Parse that declares a regrole parameter (the engine would read it with the unchecked regrole input), before the engine sees it', async () => {
    const client = await RawClient.startup(harness.server.port, { user: 'alice' });
    try {
      for (const type of [4096, 4097]) {
        client.write(Buffer.concat([serialize.parse({ name: '', text: 'select $1', types: [type] }), serialize.sync()]));
        const answer = await client.readUntilReady();
        expect(types(answer)).toBe('EZ');
        expect(errorFields(answer[0]!.body)).toMatchObject({ C: '0A000', M: 'kinesql does not accept parameters declared regrole' });
      }
      client.write(
        Buffer.concat([
          serialize.parse({ name: '', text: 'select $1::regrole::text', types: [25] }),
          serialize.bind({ values: ['bob'] }),
          serialize.execute({}),
          serialize.sync(),
        ]),
      );
      const answer = await client.readUntilReady();
      expect(errorFields(answer.find((message) => message.type === 'E')!.body)).toMatchObject({ C: '42704', M: 'role "bob" does not exist' });
    } finally {
      client.close();
    }
  });

  it("resolves the user's own role, kinesql's reader role and the system roles as PostgreSQL does", async () => {
    const alice = oids['alice']!;
    expect(await scalar(`select pg_get_userbyid(${alice})`)).toBe('alice');
    expect(await scalar(`select pg_catalog.pg_get_userbyid(${alice}::oid)::text || '/' || ${alice}::oid::regrole::text`)).toBe('alice/alice');
    expect(await scalar(`select 'alice'::regrole::oid::int8`)).toBe(String(alice));
    expect(await scalar(`select cast('{alice,kinesql_reader,pg_read_all_data}' as regrole[])::text`)).toBe('{alice,kinesql_reader,pg_read_all_data}');
    expect(await scalar(`select to_regrole('kinesql_reader')::text`)).toBe('kinesql_reader');
    expect(await scalar(`select regrole 'pg_monitor' = 'pg_monitor'::regrole`)).toBe(true);
    expect(await scalar(`select has_table_privilege('alice', 'kinesql.checkpoints', 'SELECT')`)).toBe(true);
    expect(await scalar(`select has_table_privilege(${alice}::oid, 'kinesql.checkpoints', 'SELECT')`)).toBe(true);
    expect(await scalar(`select pg_has_role('alice', 'kinesql_reader', 'MEMBER')`)).toBe(true);
    expect(await scalar(`select pg_catalog.pg_has_role(${alice}::oid, 'kinesql_reader', 'MEMBER')`)).toBe(true);
    expect(await scalar(`select string_agg(r::text, ',') from json_to_record('{"r": "alice"}') as t(r regrole)`)).toBe('alice');
    // The owner of pg_class, the bootstrap superuser, has a name like any system role.
    expect(
      await scalar(`select pg_get_userbyid(relowner) = (select rolname from pg_roles where oid = 10) from pg_class where oid = 'pg_class'::regclass`),
    ).toBe(true);
    // bob is no secret to bob.
    expect(await scalar(`select 'bob'::regrole::text || ':' || pg_get_userbyid(${oids['bob']!})`, 'bob')).toBe('bob:bob');
    // The engine itself, asked by kinesql's administrator, still knows both.
    const { rows } = await harness.server.engine.query(`select pg_get_userbyid($1) as name`, [oids['bob']]);
    expect(rows[0]?.['name']).toBe('bob');
  });
});
