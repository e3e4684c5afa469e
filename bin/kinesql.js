#!/usr/bin/env node
// In a checkout (src/ present, dev dependencies installed) the TypeScript runs through tsx, so no build step
// is needed and a stale dist/ is never run; an image or a package without src/ runs the compiled dist/.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli.ts', import.meta.url);
const compiled = new URL('../dist/cli.js', import.meta.url);

async function loadTsx() {
  try {
    return await import('tsx/esm/api');
  } catch {
    return undefined;
  }
}

const tsx = existsSync(source) ? await loadTsx() : undefined;
if (tsx !== undefined) {
  await tsx.tsImport(source.href, import.meta.url);
} else if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  process.stderr.write('kinesql: neither dist/ (run "npm run build") nor src/ with its dev dependencies (run "npm ci") is here\n');
  process.exit(1);
}
