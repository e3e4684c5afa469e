/**
 * Field paths into nested messages: slash-separated names with optional array indexes, e.g. `a/b/c`,
 * `items[0]/sku`, `matrix[1][2]`. A numeric name also indexes an array (`items/0/sku`), as JSON Pointer does.
 */
export type PathStep = { key: string } | { index: number };

const SEGMENT = /^([^[\]]*)((?:\[\d+\])*)$/;

/** Parses a mapping; throws an Error naming the field when the syntax is wrong. */
export function parseFieldPath(fieldName: string, mapping: string): PathStep[] {
  const trimmed = mapping.startsWith('/') ? mapping.slice(1) : mapping;
  if (trimmed.length === 0) throw new Error(`field "${fieldName}": empty mapping path`);
  const steps: PathStep[] = [];
  for (const segment of trimmed.split('/')) {
    const match = SEGMENT.exec(segment);
    if (!match || (match[1] === '' && match[2] === '')) {
      throw new Error(`field "${fieldName}": bad mapping "${mapping}"; expected a slash path such as a/b/c or items[0]/sku`);
    }
    if (match[1] !== '') steps.push({ key: match[1] as string });
    for (const index of (match[2] ?? '').matchAll(/\[(\d+)\]/g)) {
      const value = Number(index[1]);
      if (!Number.isSafeInteger(value)) throw new Error(`field "${fieldName}": array index too large in mapping "${mapping}"`);
      steps.push({ index: value });
    }
  }
  return steps;
}
