import { createRequire } from 'node:module';
import type TypeScript from 'typescript';

/**
 * The TypeScript compiler, required: it is one CommonJS file of 9 MB, which an ES import has Node scan twice
 * more (for module syntax, then for its export names) before it runs it, in each worker that loads it.
 */
export const ts: typeof TypeScript = createRequire(import.meta.url)('typescript');
