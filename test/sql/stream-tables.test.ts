import { beforeAll, describe, expect, it } from 'vitest';
import { initParser, isParseFailure, parseStatements } from '../../src/sql/parse.js';
import { referencedRelations } from '../../src/sql/stream-tables.js';

beforeAll(async () => {
  await initParser();
});

function relations(sql: string): string[] {
  const parsed = parseStatements(sql);
  if (isParseFailure(parsed)) throw new Error(parsed.error.message);
  return parsed.flatMap((s) => referencedRelations(s.node)).map((r) => (r.schema ? `${r.schema}.${r.name}` : r.name));
}

describe('referencedRelations', () => {
  it('finds FROM items and JOINs, qualified or not', () => {
    expect(relations('select * from a join s.b on true left join "MixedCase" m using (id), c')).toEqual(['a', 's.b', 'MixedCase', 'c']);
  });

  it('folds unquoted names as PostgreSQL does', () => {
    expect(relations('SELECT * FROM SampleTable')).toEqual(['sampletable']);
  });

  it('finds tables in subqueries, sublinks, LATERAL and set operations', () => {
    const sql = `select (select max(x) from scalar_t), * from (select * from derived_t) d,
      lateral (select * from lateral_t l where l.id = d.id) z
      where exists (select 1 from exists_t) and id in (select id from in_t)
      union all select * from union_t except table except_t`;
    expect(relations(sql).sort()).toEqual(['derived_t', 'except_t', 'exists_t', 'in_t', 'lateral_t', 'scalar_t', 'union_t'].sort());
  });

  it('leaves out names that refer to a CTE, but finds the tables in CTE bodies', () => {
    expect(relations('with recent as (select * from events) select * from recent join users using (id)')).toEqual(['events', 'users']);
  });

  it('keeps a schema-qualified name even when a CTE has the same bare name', () => {
    expect(relations('with events as (select 1) select * from public.events, events')).toEqual(['public.events']);
  });

  it('limits a CTE name to its own WITH', () => {
    const sql = 'select * from (with t as (select 1) select * from t) a, t';
    expect(relations(sql)).toEqual(['t']);
  });

  it('lets a non-recursive CTE see only earlier CTEs, so a self-reference is the table', () => {
    expect(relations('with t as (select * from t) select * from t')).toEqual(['t']);
    expect(relations('with a as (select 1), b as (select * from a) select * from b')).toEqual([]);
    expect(relations('with b as (select * from a), a as (select 1) select * from b')).toEqual(['a']);
  });

  it('lets a recursive CTE see itself', () => {
    const sql = `with recursive r(n) as (select 1 union all select n + 1 from r where n < 5) select * from r`;
    expect(relations(sql)).toEqual([]);
  });

  it('sees CTEs in set-operation arms', () => {
    expect(relations('with t as (select 1) select * from t union select * from u')).toEqual(['u']);
  });

  it('looks inside EXPLAIN, DECLARE CURSOR, PREPARE and COPY (query)', () => {
    expect(relations('explain analyze select * from e1')).toEqual(['e1']);
    expect(relations('declare c cursor with hold for select * from d1')).toEqual(['d1']);
    expect(relations('prepare p(int) as select * from p1 where id = $1')).toEqual(['p1']);
    expect(relations('copy (select * from c1) to stdout')).toEqual(['c1']);
  });

  it('reports COPY table and DML targets, which are never CTE references', () => {
    expect(relations('copy s.t to stdout')).toEqual(['s.t']);
    expect(relations('with t as (select 1) delete from t')).toEqual(['t']);
  });

  it('reports each relation once', () => {
    expect(relations('select * from a, a x, b where exists (select 1 from a)')).toEqual(['a', 'b']);
  });

  it('handles expressions nested thousands deep', () => {
    const sql = `select ${'a + '.repeat(5000)}(select 1 from deep_t) from t`;
    expect(relations(sql).sort()).toEqual(['deep_t', 't']);
  });

  it('finds nothing in a statement without relations', () => {
    expect(relations('select 1; show timezone; set search_path = public')).toEqual([]);
  });
});
