/**
 * COPY text format: one line per row, columns separated by tabs, NULL as \N, and backslash, tab,
 * newline and carriage return escaped.
 */
const NEEDS_ESCAPE = /[\\\t\n\r]/;

export function copyField(value: string | null): string {
  if (value === null) return '\\N';
  if (!NEEDS_ESCAPE.test(value)) return value;
  let out = '';
  for (const char of value) {
    switch (char) {
      case '\\':
        out += '\\\\';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      default:
        out += char;
    }
  }
  return out;
}

export function copyLine(values: readonly (string | null)[]): string {
  let line = values.length === 0 ? '' : copyField(values[0] ?? null);
  for (let i = 1; i < values.length; i++) line += `\t${copyField(values[i] ?? null)}`;
  return `${line}\n`;
}

/** Characters of COPY text gathered before they become one chunk of bytes for the copy stream. */
const CHUNK_CHARS = 1 << 16;

/**
 * COPY text as a list of byte chunks of about 64 KiB: a batch never becomes one string, nor one buffer,
 * and the chunks go into the copy stream as they are.
 */
export class CopyChunks {
  readonly chunks: Buffer[] = [];
  /** Bytes in the chunks. */
  bytes = 0;
  private text = '';

  add(line: string): void {
    this.text += line;
    if (this.text.length >= CHUNK_CHARS) this.flush();
  }

  /** The chunks, with the text added last. */
  done(): Buffer[] {
    this.flush();
    return this.chunks;
  }

  private flush(): void {
    if (this.text.length === 0) return;
    const chunk = Buffer.from(this.text, 'utf8');
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
    this.text = '';
  }
}
