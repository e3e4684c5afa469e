import { parseLines } from 'dot-properties';

/** One `key=value` entry of a .properties file, with the 1-based line it starts on (for messages). */
export interface PropertyEntry {
  key: string;
  value: string;
  line: number;
}

/**
 * Parses Java .properties text (comments with # and !, `key=value`, `key: value`, `key value`, trailing
 * backslash continuations, \uXXXX escapes) into its entries in file order. Repeated keys are all returned;
 * the caller decides (Java's Properties keeps the last). Values are trimmed at the end too, because a
 * trailing space in `kinesis.batch-size=100 ` is never meant.
 */
export function parseProperties(text: string): PropertyEntry[] {
  const withoutBom = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lineStarts = lineStartOffsets(withoutBom);
  const entries: PropertyEntry[] = [];
  for (const node of parseLines(withoutBom, true)) {
    if (node.type !== 'PAIR') continue;
    const pair = node as unknown as { key: string; value: string; range: [number, number, number, number] };
    entries.push({ key: pair.key, value: pair.value.trimEnd(), line: lineOf(lineStarts, pair.range[0]) });
  }
  return entries;
}

function lineStartOffsets(text: string): number[] {
  const starts = [0];
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (char === '\n' || (char === '\r' && text[index + 1] !== '\n')) starts.push(index + 1);
  }
  return starts;
}

function lineOf(starts: number[], offset: number): number {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if ((starts[middle] ?? 0) <= offset) low = middle;
    else high = middle - 1;
  }
  return low + 1;
}
