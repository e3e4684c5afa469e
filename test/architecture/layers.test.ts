import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/**
 * Each folder of src/ is a layer; a module may import its own layer and the layers below it. The files at
 * the top of src/ (the CLI and the wiring of a server) and the demo sit above them all; pg/ is the ground
 * floor every layer may use.
 */
const RANK: Record<string, number> = {
  '.': 10,
  demo: 9,
  wire: 8,
  http: 8,
  sql: 7,
  store: 6,
  kinesis: 5,
  decode: 5,
  registry: 5,
  catalog: 4,
  engine: 3,
  config: 2,
  log: 2,
  pg: 1,
};

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

/** Every relative import of every module: [importing file, imported file]. */
function imports(): [string, string][] {
  const edges: [string, string][] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)) {
      edges.push([file, resolve(dirname(file), match[1]!).replace(/\.js$/, '.ts')]);
    }
  }
  return edges;
}

describe('the layers of src/', () => {
  it('has every folder in a layer', () => {
    const folders = new Set(sourceFiles(SRC).map(layerOf));
    expect([...folders].filter((folder) => RANK[folder] === undefined)).toEqual([]);
  });

  it('has no import that points up a layer', () => {
    const upward = imports()
      .filter(([from, to]) => RANK[layerOf(from)]! < RANK[layerOf(to)]!)
      .map(([from, to]) => `${relative(SRC, from)} → ${relative(SRC, to)}`);
    expect(upward).toEqual([]);
  });

  it('has no circle of imports between modules', () => {
    const graph = new Map<string, string[]>();
    for (const [from, to] of imports()) graph.set(from, [...(graph.get(from) ?? []), to]);
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
