/** Finding nodes of a kind anywhere in a parse tree (libpg-query's JSON: `{ Kind: { …fields } }`). */

type Fields = Record<string, unknown>;

/** The fields of every node of kind `kind` in `tree`, at any depth. */
export function nodesOfKind(tree: unknown, kind: string): Fields[] {
  const found: Fields[] = [];
  const stack: unknown[] = [tree];
  while (stack.length > 0) {
    const value = stack.pop();
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      stack.push(...value);
      continue;
    }
    for (const [key, child] of Object.entries(value as Fields)) {
      if (key === kind && child !== null && typeof child === 'object') found.push(child as Fields);
      stack.push(child);
    }
  }
  return found;
}
