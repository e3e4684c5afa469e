/**
 * Messages forwarded together, as one buffer. Messages that arrived in one read lie side by side in memory:
 * then the buffer is a view over them, with nothing copied.
 */
export function joinedBytes(parts: readonly Buffer[]): Buffer {
  const first = parts[0];
  if (first === undefined) return Buffer.alloc(0);
  let end = first.byteOffset + first.length;
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    if (part.buffer !== first.buffer || part.byteOffset !== end) return Buffer.concat(parts);
    end += part.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
}
