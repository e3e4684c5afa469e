import { beforeAll, describe, expect, it } from 'vitest';
import { initParser } from '../../src/sql/parse.js';
import { analyzeText, prepareText, type StarContext } from '../../src/sql/statement-text.js';

const context: StarContext = {
  searchPath: ['public'],
  tables: [{ schema: 'public', name: 'clicks', visible: ['user_id', 'page', 'Odd Name', 'user'] }],
  renameOldCatalogColumns: false,
};

function rewrite(sql: string): string {
  const { analysis } = analyzeText(sql);
  if (analysis.refusal) throw new Error(analysis.refusal.message);
  return prepareText(sql, analysis, context);
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
    for (const sql of [
      'select * from other',
      'select count(*) from clicks',
      'select a * 2 from clicks',
      // With a join, an unqualified star's columns depend on USING merging: not rewritten.
      'select * from clicks join other using (page)',
      "select '*' , x.* from other x",
      // A table of that name in a schema not on the search_path.
      'select * from elsewhere.clicks',
    ]) {
      expect(rewrite(sql)).toBe(sql);
    }
  });

  it('turns COPY table TO into COPY (SELECT …) TO: the visible columns, or those listed', () => {
    expect(rewrite('COPY clicks TO STDOUT WITH (FORMAT csv, HEADER)')).toBe(
      'COPY (SELECT "user_id", "page", "Odd Name", "user" FROM "clicks") TO STDOUT WITH (FORMAT csv, HEADER)',
    );
    expect(rewrite('copy public . clicks ( page , "Odd Name" ) to stdout; copy other to stdout binary')).toBe(
      'copy (SELECT "page", "Odd Name" FROM "public"."clicks") to stdout; copy (SELECT * FROM "other") to stdout binary',
    );
    for (const sql of ['copy (select page from clicks) to stdout', 'copy binary clicks to stdout']) expect(rewrite(sql)).toBe(sql);
  });
});
