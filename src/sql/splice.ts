/** A replacement of bytes [start, end) of a statement's UTF-8 text (the offsets libpg-query reports). */
export interface ByteEdit {
  start: number;
  end: number;
  text: string;
}

/** Applies non-overlapping edits, given in byte offsets of sql's UTF-8 encoding, copying the text once. */
export function spliceUtf8(sql: string, edits: readonly ByteEdit[]): string {
  if (edits.length === 0) return sql;
  const bytes = Buffer.from(sql, 'utf8');
  const pieces: Buffer[] = [];
  let at = 0;
  for (const edit of [...edits].sort((a, b) => a.start - b.start)) {
    pieces.push(bytes.subarray(at, edit.start), Buffer.from(edit.text, 'utf8'));
    at = edit.end;
  }
  pieces.push(bytes.subarray(at));
  return Buffer.concat(pieces).toString('utf8');
}
