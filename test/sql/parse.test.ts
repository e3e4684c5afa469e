import { beforeAll, describe, expect, it } from 'vitest';
import { initParser, isParseFailure, parseStatements } from '../../src/sql/parse.js';
import type { ParsedStatement } from '../../src/sql/parse.js';

beforeAll(async () => {
  await initParser();
});

function statements(sql: string): ParsedStatement[] {
  const parsed = parseStatements(sql);
  if (isParseFailure(parsed)) throw new Error(parsed.error.message);
  return parsed;
}

describe('parseStatements', () => {
  it('splits a multi-statement string into each statement’s own text', () => {
    const sql = '/* lead */ SELECT 1; -- note\n  show timezone ;;BEGIN READ ONLY';
    const parsed = statements(sql);
    expect(parsed.map((s) => s.text)).toEqual(['SELECT 1', 'show timezone', 'BEGIN READ ONLY']);
    expect(parsed.map((s) => s.nodeType)).toEqual(['SelectStmt', 'VariableShowStmt', 'TransactionStmt']);
    for (const s of parsed) expect(sql.slice(s.textOffset, s.textOffset + s.text.length)).toBe(s.text);
  });

  it('slices by UTF-8 byte offsets, so text after multi-byte characters stays whole', () => {
    const sql = "select 'é€😀' as ünïcode; select '日本' from \"täble\"";
    const parsed = statements(sql);
    expect(parsed.map((s) => s.text)).toEqual(["select 'é€😀' as ünïcode", 'select \'日本\' from "täble"']);
    expect(sql.slice(parsed[1]!.textOffset)).toBe(parsed[1]!.text);
  });

  it('names statements with PostgreSQL command tags', () => {
    const tags = statements(
      `select 1; insert into t values (1); create table x (a int); drop view v; select * into n from t;
       select * from t for share; start transaction; rollback to s; reset all; set x = 1; fetch 10 c;
       move c; close c; discard all; create table y as select 1; analyze; vacuum; grant select on t to u`,
    ).map((s) => s.commandTag);
    expect(tags).toEqual([
      'SELECT',
      'INSERT',
      'CREATE TABLE',
      'DROP VIEW',
      'SELECT INTO',
      'SELECT FOR SHARE',
      'START TRANSACTION',
      'ROLLBACK',
      'RESET',
      'SET',
      'FETCH',
      'MOVE',
      'CLOSE CURSOR',
      'DISCARD ALL',
      'CREATE TABLE AS',
      'ANALYZE',
      'VACUUM',
      'GRANT',
    ]);
  });

  it('gives no statements for empty input or only comments and semicolons', () => {
    expect(statements('')).toEqual([]);
    expect(statements('  -- nothing\n ; /* x */ ;')).toEqual([]);
  });

  it('reports a syntax error with PostgreSQL’s message and 1-based character position', () => {
    const sql = 'SELECT * FORM t';
    const parsed = parseStatements(sql);
    expect(isParseFailure(parsed)).toBe(true);
    if (!isParseFailure(parsed)) return;
    expect(parsed.error.sqlstate).toBe('42601');
    expect(parsed.error.message).toBe('syntax error at or near "FORM"');
    expect(parsed.error.position).toBe(sql.indexOf('FORM') + 1);
  });

  it('counts the error position in characters, not bytes', () => {
    const sql = "select 'ééé' frm frm";
    const parsed = parseStatements(sql);
    if (!isParseFailure(parsed)) throw new Error('expected a syntax error');
    expect(parsed.error.message).toBe('syntax error at or near "frm"');
    expect(parsed.error.position).toBe(sql.lastIndexOf('frm') + 1);
  });

  it('reports a statement nested too deep to parse as too complex, not as a crash', () => {
    const parsed = parseStatements(`select ${'1 + '.repeat(50000)}1`);
    expect(parsed).toEqual({ error: { message: 'stack depth limit exceeded', sqlstate: '54001' } });
  });

  it('points at the end of input for an unfinished statement', () => {
    const sql = 'select 1 from';
    const parsed = parseStatements(sql);
    if (!isParseFailure(parsed)) throw new Error('expected a syntax error');
    expect(parsed.error.message).toBe('syntax error at end of input');
    expect(parsed.error.position).toBe(sql.length + 1);
  });
});
