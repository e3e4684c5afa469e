/** A replacement of bytes [start, end) of a statement's UTF-8 text (the offsets libpg-query reports). */
export interface ByteEdit {
  start: number;
  end: number;
  text: string;
}

/** Applies non-overlapping edits, given in byte offsets of sql's UTF-8 encoding. */
export function spliceUtf8(sql: string, edits: readonly ByteEdit[]): string {
  let out = Buffer.from(sql, 'utf8');
  for (const edit of [...edits].sort((a, b) => b.start - a.start)) {
    out = Buffer.concat([out.subarray(0, edit.start), Buffer.from(edit.text, 'utf8'), out.subarray(edit.end)]);
  }
  return out.toString('utf8');
}
