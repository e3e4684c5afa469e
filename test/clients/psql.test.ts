import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { startTradesHarness, TRADE_COUNT } from './fixture.js';

const run = promisify(execFile);

describe('psql', () => {
  let harness: Harness;
  let dir: string;
  const psql = async (input: string, user = 'tester'): Promise<string> => {
    const { stdout } = await run('sh', ['-c', 'printf "%s" "$INPUT" | psql -X -A -q -v ON_ERROR_STOP=1'], {
      env: {
        ...process.env,
        INPUT: input,
        PGHOST: harness.server.host,
        PGPORT: String(harness.server.port),
        PGUSER: user,
        PGDATABASE: 'kinesql',
        PGCONNECT_TIMEOUT: '10',
      },
      cwd: dir,
    });
    return stdout;
  };

  beforeAll(async () => {
    harness = await startTradesHarness();
    dir = await mkdtemp(join(tmpdir(), 'kinesql-psql-'));
  });
  afterAll(async () => {
    await harness?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('describes: \\l, \\dt, \\d, \\d+, \\dn, \\df', async () => {
    // psql 15 (Debian 12) asks for pg_database.daticulocale, which PostgreSQL 17 renamed: kinesql translates it.
    const out = await psql('\\l\n\\dt market.*\n\\d market.trades\n\\d+ market.trades\n\\dn\n\\df market.*\n');
    expect(out).toMatch(/^postgres\|/m);
    // A stream table is a table to its clients (its time partitions are kinesql's way of storing it).
    expect(out).toMatch(/^market\|trades\|table\|/m);
    expect(out).not.toMatch(/kinesql_partitions\.|Partition key:|Partitions:|Number of partitions/);
    expect(out).toContain('trade_id|bigint');
    expect(out).toContain('price|numeric(12,4)');
    expect(out).toMatch(/^market\|/m);
  });

  // On a Citus coordinator its own views are there for every user (public.citus_tables, columnar.stripe, …).
  const extensionViews = process.env['KINESQL_TEST_ENGINE'] === 'citus' ? /^(public\.citus_|columnar\.)/ : /^$/;

  it('lists schemas and tables as a user should see them, without internal ones: \\dn, \\dt *.*, pg_tables, information_schema.tables', async () => {
    // The table's first read loads its rows, and with them its time partitions.
    await psql('select count(*) from market.trades;\n');
    const schemas = await psql('\\dn\n');
    const schemaNames = schemas
      .split('\n')
      .filter((line) => line.includes('|') && !line.startsWith('Name|'))
      .map((line) => line.split('|')[0]);
    expect(schemaNames).toEqual(expect.arrayContaining(['kinesql', 'market', 'public']));
    expect(schemaNames.filter((name) => name!.startsWith('kinesql_'))).toEqual([]);
    // No catalog row a client reads names a schema pg_namespace leaves out (pg_dump stops at one that does).
    const dangling = await psql(
      "select format('select %L || '':'' || count(*) from %I where %I not in (select oid from pg_namespace)', c.relname, c.relname, a.attname)" +
        ' from pg_attribute a join pg_class c on c.oid = a.attrelid' +
        " where c.relnamespace = 'pg_catalog'::regnamespace and c.relkind = 'r' and a.attname ~ 'namespace$' and a.atttypid = 'oid'::regtype order by 1 \\gexec\n",
    );
    const counts = dangling.split('\n').filter((line) => /^pg_\w+:\d+$/.test(line));
    expect(counts).toEqual(expect.arrayContaining(['pg_class:0', 'pg_type:0', 'pg_proc:0', 'pg_default_acl:0', 'pg_constraint:0']));
    expect(counts.filter((line) => !line.endsWith(':0'))).toEqual([]);
    const listed = await psql(
      '\\dt *.*\n' +
        "select 'pg_tables:' || schemaname || '.' || tablename from pg_tables where schemaname !~ '^pg_' and schemaname <> 'information_schema' order by 1;\n" +
        "select 'information_schema:' || table_schema || '.' || table_name from information_schema.tables where table_schema not in ('pg_catalog', 'information_schema') order by 1;\n",
    );
    expect(listed).not.toMatch(/kinesql_state|kinesql_partitions/);
    expect(listed).toMatch(/^market\|trades\|table\|/m);
    for (const view of ['pg_tables', 'information_schema']) {
      const names = listed
        .split('\n')
        .filter((line) => line.startsWith(`${view}:`))
        .map((line) => line.slice(view.length + 1));
      expect(names).toContain('market.trades');
      expect(names).toEqual(expect.arrayContaining(['kinesql.streams', 'kinesql.shards', 'kinesql.checkpoints']));
      expect(names.filter((name) => !name.startsWith('market.') && !name.startsWith('kinesql.') && !extensionViews.test(name))).toEqual([]);
    }
  });

  it("lists the user's own role and kinesql's reader role, never another user's login: \\du, pg_roles, pg_user, pg_group, pg_auth_members, pg_stat_activity", async () => {
    const roles =
      '\\du\n' +
      "select 'roles:' || rolname from pg_roles order by 1;\n" +
      "select 'users:' || usename from pg_catalog.pg_user order by 1;\n" +
      "select 'group:' || groname || ':' || array_length(grolist, 1) from pg_group where groname = 'kinesql_reader';\n" +
      "select 'member:' || pg_get_userbyid(member) || ':' || pg_get_userbyid(roleid) from pg_auth_members order by 1;\n";
    // Each lists the sessions while the other holds one open.
    const sessions = "select 'session:' || usename from pg_stat_activity where usename is not null order by 1;\n";
    const hold = async (user: string) => {
      const client = new pg.Client({ ...harness.connection, user });
      await client.connect();
      return client;
    };
    const bob = await hold('bob');
    const engineSessions = await harness.server.engine.query("select count(*)::int as n from pg_stat_activity where usename = 'bob'");
    expect(engineSessions.rows[0]?.['n']).toBeGreaterThan(0);
    const asAlice = await psql(roles + sessions, 'alice').finally(() => bob.end());
    const alice = await hold('alice');
    const asBob = await psql(roles + sessions, 'bob').finally(() => alice.end());
    // Both logins are roles of the engine, members of the reader role.
    const engineRoles = await harness.server.engine.query(
      "select rolname from pg_roles where pg_has_role(oid, 'kinesql_reader', 'member') and rolname in ('alice', 'bob') order by 1",
    );
    expect(engineRoles.rows.map((row) => row['rolname'])).toEqual(['alice', 'bob']);
    for (const [own, other, out] of [
      ['alice', 'bob', asAlice],
      ['bob', 'alice', asBob],
    ] as const) {
      expect(out).toMatch(new RegExp(`^${own}\\|`, 'm'));
      expect(out).toMatch(/^kinesql_reader\|/m);
      expect(out).toContain(`roles:${own}\n`);
      expect(out).toContain('roles:kinesql_reader\n');
      expect(out).toContain('roles:pg_read_all_data\n');
      expect(out).toContain(`users:${own}\n`);
      expect(out).toContain('group:kinesql_reader:1\n');
      expect(out).toContain(`member:${own}:kinesql_reader\n`);
      expect(out).toContain(`session:${own}\n`);
      expect(out).not.toMatch(new RegExp(`\\b${other}\\b|\\btester\\b`));
    }
    for (const catalog of ['pg_authid', 'pg_shadow']) {
      await expect(psql(`select count(*) from ${catalog};\n`, 'alice')).rejects.toMatchObject({ stderr: expect.stringContaining('permission denied') });
    }
  });

  it('\\x, \\copy (select …) to file and \\set FETCH_COUNT 100', async () => {
    const out = await psql(
      '\\x\nselect trade_id, symbol from market.trades where trade_id = 3;\n\\x\n' +
        '\\copy (select trade_id, symbol from market.trades order by trade_id) to out.tsv\n' +
        '\\set FETCH_COUNT 100\nselect trade_id from market.trades order by trade_id;\n',
    );
    expect(out).toContain('trade_id|3\nsymbol|AAA');
    const copied = (await readFile(join(dir, 'out.tsv'), 'utf8')).trim().split('\n');
    expect(copied).toHaveLength(TRADE_COUNT);
    expect(copied[1]).toBe('2\tCCC');
    const fetched = out.split('\n').filter((line) => /^\d+$/.test(line));
    expect(fetched.map(Number)).toEqual(Array.from({ length: TRADE_COUNT }, (_, i) => i + 1));
  });

  it('\\copy table to file exports the rows a select sees, all columns or those listed', async () => {
    const out = await psql(
      '\\copy market.trades to whole.csv csv header\n' +
        '\\copy market.trades (trade_id, symbol) to listed.tsv\n' +
        'copy market.trades (trade_id) to stdout;\n' +
        '\\copy (select * from market.trades) to selected.csv csv header\n',
    );
    const whole = (await readFile(join(dir, 'whole.csv'), 'utf8')).trim().split('\n');
    const selected = (await readFile(join(dir, 'selected.csv'), 'utf8')).trim().split('\n');
    expect(whole[0]).toBe(selected[0]);
    expect(whole[0]).toMatch(/^trade_id,symbol,price,executed,buy,meta,/);
    expect(whole).toHaveLength(TRADE_COUNT + 1);
    expect(whole.slice(1).sort()).toEqual(selected.slice(1).sort());
    const listed = (await readFile(join(dir, 'listed.tsv'), 'utf8')).trim().split('\n');
    expect(listed.sort()).toEqual(Array.from({ length: TRADE_COUNT }, (_, i) => `${i + 1}\t${['AAA', 'BBB', 'CCC'][(i + 1) % 3]}`).sort());
    const ids = out.split('\n').filter((line) => /^\d+$/.test(line));
    expect(ids.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: TRADE_COUNT }, (_, i) => i + 1));
  });
});
