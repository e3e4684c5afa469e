import { beforeAll, describe, expect, it } from 'vitest';
import { initParser, isParseFailure, parseStatements } from '../../src/sql/parse.js';
import type { ParsedStatement } from '../../src/sql/parse.js';
import { fieldsOf, stringsOf, walk, type Node } from '../../src/sql/parse-tree.js';
import { checkStatement, checkStatements } from '../../src/sql/readonly-gate.js';
import { analyzeText, prepareText } from '../../src/sql/statement-text.js';
import { ROLE_PROBE_FUNCTIONS } from '../../src/engine/role-probes.js';
import { corpusCeilings, loadAllowedCorpus, loadRefusedCorpus } from './readonly-corpus.js';

beforeAll(async () => {
  await initParser();
});

const refused = loadRefusedCorpus();
const allowed = loadAllowedCorpus();
const ceilings = corpusCeilings();

function one(sql: string): ParsedStatement {
  const parsed = parseStatements(sql);
  if (isParseFailure(parsed) || parsed.length !== 1) throw new Error(`expected one statement: ${sql}`);
  return parsed[0]!;
}

describe('read-only corpus', () => {
  it('holds at least 200 refused and 80 allowed entries', () => {
    expect(refused.length).toBeGreaterThanOrEqual(200);
    expect(allowed.length).toBeGreaterThanOrEqual(80);
  });

  it.each(refused.map((c) => [`line ${c.line}: ${c.sql}`, c] as const))('refuses %s', (_name, c) => {
    const verdict = checkStatements(c.sql, { ceilings });
    expect(verdict.allowed).toBe(false);
    if (verdict.allowed) return;
    expect(verdict.sqlstate).toBe(c.sqlstate);
    expect(verdict.message.toLowerCase()).toContain(c.mentions.toLowerCase());
    // Why: kinesql is read-only, or the operator's limit (which the message names).
    if (c.sqlstate !== '42601') expect(verdict.message).toMatch(/kinesql is read-only|the operator's limit is|reach back at most .* \(kinesql\.max-window\)/);
  });

  it.each(allowed.map((c) => [c.label, c] as const))('allows %s', (_name, c) => {
    const verdict = checkStatements(c.sql, { ceilings });
    expect(verdict).toMatchObject({ allowed: true });
    if (verdict.allowed) expect(verdict.statements.length).toBeGreaterThan(0);
  });
});

describe('checkStatement', () => {
  it('names the command in PostgreSQL’s words', () => {
    expect(checkStatement(one('create temp table x (a int)'))).toEqual({
      allowed: false,
      sqlstate: '25006',
      message: 'cannot execute CREATE TABLE: kinesql is read-only',
    });
  });

  it('names a denied function as the client wrote it, schema included', () => {
    expect(checkStatement(one("select 1 from t where pg_catalog.pg_ls_dir('.') is null"))).toEqual({
      allowed: false,
      sqlstate: '42501',
      message: 'permission denied for function pg_catalog.pg_ls_dir: kinesql is read-only',
    });
  });

  it('allows extra settings the caller names, and only those', () => {
    const stmt = one("set my.setting = 'x'");
    expect(checkStatement(stmt).allowed).toBe(false);
    expect(checkStatement(stmt, { allowedSettings: ['MY.SETTING'] }).allowed).toBe(true);
    expect(checkStatement(one("select set_config('my.setting', 'x', false)"), { allowedSettings: ['my.setting'] })).toEqual({ allowed: true });
  });
});

describe('checkStatements', () => {
  it('returns the parsed statements when every one is allowed', () => {
    const verdict = checkStatements('set timezone = utc; select 1');
    expect(verdict.allowed).toBe(true);
    if (verdict.allowed) expect(verdict.statements.map((s) => s.commandTag)).toEqual(['SET', 'SELECT']);
  });

  it('refuses the whole string when a later statement is refused, saying which one', () => {
    const verdict = checkStatements('select 1; select 2; truncate t; select 3');
    expect(verdict).toMatchObject({ allowed: false, sqlstate: '25006', statementIndex: 2 });
  });

  it('reports a syntax error with its position before checking anything', () => {
    const sql = 'select 1; delete form t';
    const verdict = checkStatements(sql);
    expect(verdict).toMatchObject({ allowed: false, sqlstate: '42601', position: sql.indexOf('form') + 1 });
  });

  it('finds a denied function at the bottom of a deeply nested expression', () => {
    const verdict = checkStatements(`select ${'a + '.repeat(5000)}pg_read_file('x') from t`);
    expect(verdict).toMatchObject({ allowed: false, sqlstate: '42501' });
  });

  it('treats an empty string as nothing to run', () => {
    expect(checkStatements('  ')).toEqual({ allowed: true, statements: [] });
  });
});

describe('node kinds the gate does not know (what a newer libpg-query than its types could make)', () => {
  /** A statement whose tree is built here: kinds the types do not have can only be written by hand. */
  function statement(tree: object): ParsedStatement {
    return { node: tree as Node, nodeType: Object.keys(tree)[0]!, commandTag: '', text: '', textOffset: 0 };
  }

  it('refuses a statement of an unknown kind as a write, whatever it holds', () => {
    expect(checkStatement(statement({ FutureStmt: {} }))).toEqual({
      allowed: false,
      sqlstate: '25006',
      message: 'cannot execute FUTURE: kinesql is read-only',
    });
    expect(checkStatement(statement({ FutureStmt: { query: one('select 1').node } })).allowed).toBe(false);
  });

  it('finds a denied call inside an expression of an unknown kind, wrapped or bare', () => {
    const call = fieldsOf(fieldsOf(one("select pg_read_file('x')").node, 'SelectStmt')?.targetList?.[0], 'ResTarget')?.val;
    expect(call).toHaveProperty('FuncCall');
    const select = (val: object): ParsedStatement => statement({ SelectStmt: { targetList: [{ ResTarget: { val } }], op: 'SETOP_NONE' } });
    expect(checkStatement(select({ A_Const: { ival: { ival: 1 } } }))).toEqual({ allowed: true });
    expect(checkStatement(select({ FutureExpr: { arg: call } }))).toMatchObject({
      allowed: false,
      sqlstate: '42501',
      message: expect.stringContaining('pg_read_file'),
    });
    expect(checkStatement(select({ FutureExpr: { spec: { kind: 'X', args: [call] } } }))).toMatchObject({ allowed: false, sqlstate: '42501' });
  });

  it('finds a write inside an unknown expression kind and in a field of a known kind it does not know', () => {
    const write = one('delete from t returning *').node;
    expect(checkStatement(statement({ SelectStmt: { targetList: [{ ResTarget: { val: { FutureExpr: { args: [write] } } } }] } }))).toMatchObject({
      allowed: false,
      message: 'cannot execute DELETE: kinesql is read-only',
    });
    expect(checkStatement(statement({ SelectStmt: { futureClause: write, op: 'SETOP_NONE' } }))).toMatchObject({ allowed: false, sqlstate: '25006' });
    expect(checkStatement(statement({ ExplainStmt: { query: { FutureStmt: {} } } }))).toMatchObject({ allowed: false, sqlstate: '25006' });
  });
});

describe("role probes of the corpus (issue 20): what the engine gets asks kinesql's versions", () => {
  const probes = allowed.filter((c) => c.label.startsWith('role probe'));

  /** Every call of a function that takes or gives a role, and every use of the regrole type, in a statement string's trees. */
  function roleQuestions(sql: string): string[] {
    const parsed = parseStatements(sql);
    if (isParseFailure(parsed)) throw new Error(parsed.error.message);
    const found: string[] = [];
    walk(
      parsed.map((p) => p.node),
      undefined,
      {
        FuncCall: (call) => {
          const names = stringsOf(call.funcname);
          if (ROLE_PROBE_FUNCTIONS.includes(names.at(-1)!)) found.push(`call ${names.join('.')}`);
          return undefined;
        },
        TypeCast: (cast) => {
          const to = stringsOf(cast.typeName?.names).join('.');
          const from = stringsOf(fieldsOf(cast.arg, 'TypeCast')?.typeName?.names).join('.');
          if (/regrole$/.test(to)) found.push(`cast ${from} to ${to}`);
          return undefined;
        },
        ColumnDef: (column) => {
          found.push(`column of ${stringsOf(column.typeName?.names).join('.')}`);
          return undefined;
        },
        PrepareStmt: (prepare) => {
          for (const type of prepare.argtypes ?? []) found.push(`parameter of ${stringsOf(fieldsOf(type, 'TypeName')?.names).join('.')}`);
          return undefined;
        },
      },
    );
    return found;
  }

  it.each(probes.map((c) => [c.label, c.sql] as const))('%s', (_label, sql) => {
    const { analysis } = analyzeText(sql, { ceilings });
    expect(analysis.refusal).toBeUndefined();
    const engineText = prepareText(sql, analysis, { searchPath: ['public'], tables: [], renameOldCatalogColumns: false });
    for (const question of roleQuestions(engineText)) {
      // A call goes to kinesql's version; a cast to regrole comes from kinesql's checked role reference; a column
      // or parameter is one.
      expect(question).toMatch(/^call kinesql\.|^cast kinesql\.role_reference to pg_catalog\.regrole$|of kinesql\.role_reference$/);
    }
    if (roleQuestions(sql).some((question) => /regrole|^call/.test(question))) expect(engineText).not.toBe(sql);
  });
});
