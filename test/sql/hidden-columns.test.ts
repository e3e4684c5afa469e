import { beforeAll, describe, expect, it } from 'vitest';
import { hideColumnsFromStars, type VisibilityLookup } from '../../src/sql/hidden-columns.js';
import { initParser, isParseFailure, parseStatements } from '../../src/sql/parse.js';

const lookup: VisibilityLookup = (relation) =>
  relation.name === 'clicks' && (relation.schema === undefined || relation.schema === 'public')
    ? { visible: ['user_id', 'page', 'Odd Name', 'user'] }
    : undefined;

function rewrite(sql: string): string | undefined {
  const parsed = parseStatements(sql);
  if (isParseFailure(parsed)) throw new Error(parsed.error.message);
  return hideColumnsFromStars(
    sql,
    parsed.map((statement) => statement.node),
    lookup,
  );
}

describe('hidden columns are left out of SELECT *', () => {
  beforeAll(async () => {
    await initParser();
  });

  it('rewrites an unqualified star over the one table', () => {
    expect(rewrite('SELECT * FROM clicks WHERE page = $1')).toBe('SELECT "user_id", "page", "Odd Name", "user" FROM clicks WHERE page = $1');
  });

  it('rewrites qualified stars by alias, table name and schema', () => {
    expect(rewrite('select c.*, x.* from clicks c join other x on true')).toBe(
      'select "c"."user_id", "c"."page", "c"."Odd Name", "c"."user", x.* from clicks c join other x on true',
    );
    expect(rewrite('select clicks . * from clicks')).toBe('select "clicks"."user_id", "clicks"."page", "clicks"."Odd Name", "clicks"."user" from clicks');
    expect(rewrite('select public.clicks.* from public.clicks')).toBe(
      'select "public"."clicks"."user_id", "public"."clicks"."page", "public"."clicks"."Odd Name", "public"."clicks"."user" from public.clicks',
    );
  });

  it('rewrites stars in subqueries, CTEs and later statements, keeping byte offsets right after multi-byte text', () => {
    expect(rewrite(`select 'é€' as s, (select count(*) from (select * from clicks) q); with w as (select * from clicks) select * from w`)).toBe(
      `select 'é€' as s, (select count(*) from (select "user_id", "page", "Odd Name", "user" from clicks) q); with w as (select "user_id", "page", "Odd Name", "user" from clicks) select * from w`,
    );
  });

  it('leaves alone what it must not touch', () => {
    expect(rewrite('select * from other')).toBeUndefined();
    expect(rewrite('select count(*) from clicks')).toBeUndefined();
    expect(rewrite('select a * 2 from clicks')).toBeUndefined();
    // With a join, an unqualified star's columns depend on USING merging: not rewritten.
    expect(rewrite('select * from clicks join other using (page)')).toBeUndefined();
    expect(rewrite("select '*' , x.* from other x")).toBeUndefined();
  });
});
