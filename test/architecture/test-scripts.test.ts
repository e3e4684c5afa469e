import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The folders and files a package.json script hands vitest. */
function pathsOf(script: string): string[] {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  return (scripts[script] ?? '').split(/\s+/).filter((word) => word.startsWith('test/'));
}

function testFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('npm run test:unit and npm run test:e2e', () => {
  it('run every test file between them, each in one of the two', () => {
    const unit = pathsOf('test:unit');
    const e2e = pathsOf('test:e2e');
    const runs = (paths: string[], file: string): boolean => paths.some((path) => file === path || file.startsWith(`${path}/`));
    const misplaced = testFiles('test').filter((file) => runs(unit, file) === runs(e2e, file));
    expect(misplaced).toEqual([]);
  });
});
