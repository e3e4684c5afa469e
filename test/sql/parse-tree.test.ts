import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type TypeScript from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { initParser, isParseFailure, parseStatements } from '../../src/sql/parse.js';
import { BARE_FIELDS, entryOf, fieldsOf, walk, type Node } from '../../src/sql/parse-tree.js';
import { ts } from '../support/typescript.js';

beforeAll(async () => {
  await initParser();
});

function tree(sql: string): Node {
  const parsed = parseStatements(sql);
  if (isParseFailure(parsed) || parsed.length !== 1) throw new Error(`expected one statement: ${sql.slice(0, 80)}`);
  return parsed[0]!.node;
}

/** The node types of the @pgsql/types that libpg-query depends on: each kind's fields and their declared types. */
function declaredKinds(): Map<string, Map<string, TypeScript.TypeNode>> {
  const fromParser = createRequire(createRequire(import.meta.url).resolve('libpg-query'));
  const file = join(dirname(fromParser.resolve('@pgsql/types/package.json')), 'types.d.ts');
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const kinds = new Map<string, Map<string, TypeScript.TypeNode>>();
  for (const statement of source.statements) {
    if (!ts.isInterfaceDeclaration(statement)) continue;
    const fields = new Map<string, TypeScript.TypeNode>();
    for (const member of statement.members) {
      if (ts.isPropertySignature(member) && member.type) fields.set(member.name.getText(source), member.type);
    }
    kinds.set(statement.name.text, fields);
  }
  const union = source.statements.find((s): s is TypeScript.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === 'Node');
  const wrapped = new Set(
    (union && ts.isUnionTypeNode(union.type) ? union.type.types : []).flatMap((member) =>
      ts.isTypeLiteralNode(member) ? member.members.map((m) => m.name?.getText(source) ?? '') : [],
    ),
  );
  expect([...kinds.keys()].filter((kind) => !wrapped.has(kind))).toEqual([]);
  return kinds;
}

describe('the node types', () => {
  const kinds = declaredKinds();

  it('are those of the libpg-query in use, with a few hundred kinds', () => {
    expect(kinds.size).toBeGreaterThan(200);
    expect(kinds.get('SelectStmt')?.has('larg')).toBe(true);
  });

  it('name every field in lower case, so a one-key object with an upper-case key is a wrapped node', () => {
    const upper = [...kinds].flatMap(([kind, fields]) => [...fields.keys()].filter((name) => /^[A-Z]/.test(name)).map((name) => `${kind}.${name}`));
    expect(upper).toEqual([]);
  });

  it('hold a node bare exactly in the fields BARE_FIELDS lists, of the kind it says', () => {
    const declared: Record<string, Record<string, string>> = {};
    for (const [kind, fields] of kinds) {
      for (const [name, type] of fields) {
        const element = ts.isArrayTypeNode(type) ? type.elementType : type;
        if (!ts.isTypeReferenceNode(element) || !ts.isIdentifier(element.typeName)) continue;
        const held = element.typeName.text;
        if (!kinds.has(held)) continue;
        declared[kind] ??= {};
        declared[kind][name] = held;
      }
    }
    expect(BARE_FIELDS).toEqual(declared);
  });
});

describe('walk', () => {
  it('visits nodes in the order the text is written, WITH first, set-operation arms as bare SELECTs', () => {
    const seen: string[] = [];
    walk(tree('with w as (select 1) select 2 from t union select 3'), undefined, {
      A_Const: (constant) => {
        seen.push(String(constant.ival?.ival));
        return undefined;
      },
      SelectStmt: (_select, _context, bare) => {
        seen.push(bare ? 'arm' : 'select');
        return undefined;
      },
    });
    expect(seen).toEqual(['select', 'select', '1', 'arm', '2', 'arm', '3']);
  });

  it('reaches nodes inside kinds it has no types for, and inside fields it does not know', () => {
    const rangeVar = fieldsOf(tree('select * from t'), 'SelectStmt')?.fromClause?.[0];
    const found: (string | undefined)[] = [];
    const visitor = {
      RangeVar: ({ relname }: { relname?: string }) => {
        found.push(relname);
        return undefined;
      },
    };
    walk({ FutureStmt: { spec: { mode: 1, items: [rangeVar] } } }, undefined, visitor);
    walk({ SelectStmt: { futureClause: [{ FutureExpr: { arg: rangeVar } }] } }, undefined, visitor);
    expect(found).toEqual(['t', 't']);
  });

  it('stops at the first result, does not look inside a skipped node, and gives fields their own context', () => {
    const node = tree('select a from t where b in (select c from u)');
    expect(walk(node, undefined, { ColumnRef: (ref) => ({ stop: ref.location }) })).toBe(7);
    const relations: string[] = [];
    walk(node, 'outer', {
      SelectStmt: (_select, context) => (context === 'outer' ? { context: 'outer', fieldContext: { whereClause: 'inner' } } : { skip: true }),
      RangeVar: (rangeVar, context) => {
        relations.push(`${context}:${rangeVar.relname}`);
        return undefined;
      },
    });
    expect(relations).toEqual(['outer:t']);
  });

  it('walks a tree nested thousands deep without recursion', () => {
    let constants = 0;
    walk(tree(`select ${'1 + '.repeat(5_000)}1`), undefined, {
      A_Const: () => {
        constants += 1;
        return undefined;
      },
    });
    expect(constants).toBe(5_001);
  });
});

describe('entryOf', () => {
  it('pairs a node’s kind with its fields', () => {
    const entry = entryOf(tree('show timezone'));
    expect(entry.kind).toBe('VariableShowStmt');
    if (entry.kind === 'VariableShowStmt') expect(entry.fields.name).toBe('timezone');
  });
});
