import type { PathStep } from '../catalog/field-path.js';

export { parseFieldPath, type PathStep } from '../catalog/field-path.js';

/** Follows a path through parsed JSON-like data (objects, arrays); undefined when any step is missing. */
export function followPath(root: unknown, steps: PathStep[]): unknown {
  let node: unknown = root;
  for (const step of steps) {
    if (node === null || typeof node !== 'object') return undefined;
    if ('index' in step) {
      if (!Array.isArray(node)) return undefined;
      node = node[step.index];
    } else if (Array.isArray(node)) {
      if (!/^\d+$/.test(step.key)) return undefined;
      node = node[Number(step.key)];
    } else {
      if (!Object.hasOwn(node, step.key)) return undefined;
      node = (node as Record<string, unknown>)[step.key];
    }
  }
  return node;
}
