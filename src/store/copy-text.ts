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

const textDecoder = new TextDecoder('utf-8');

/**
 * A message's bytes as PostgreSQL text: invalid UTF-8 replaced, NUL bytes (which text cannot hold) dropped, a
 * leading byte order mark left out (as TextDecoder does).
 */
export function messageText(payload: Uint8Array): string {
  const text = textDecoder.decode(payload);
  return text.includes('\u0000') ? text.replaceAll('\u0000', '') : text;
}

/** Where COPY text goes, value by value: bytes (CopyWriter) or the values themselves (a row to look at again). */
export interface CopyRowSink {
  /** A value, escaped as COPY text needs; null is \N. */
  text(value: string | null): void;
  /** A value known to hold only ASCII characters COPY text does not escape (digits, a timestamp, t or f). */
  plain(value: string): void;
  /** A message's bytes as text, as messageText reads them. */
  message(payload: Uint8Array): void;
  endRow(): void;
}

/** Characters of COPY text gathered before they become one chunk of bytes for the copy stream. */
const CHUNK_CHARS = 1 << 16;

/**
 * COPY text as a list of byte chunks of about 64 KiB, written value by value: a batch never becomes one
 * string, nor one buffer, and no row becomes an array of its values first. The chunks go into the copy
 * stream as they are.
 */
export class CopyWriter implements CopyRowSink {
  readonly chunks: Buffer[] = [];
  /** Bytes in the chunks. */
  bytes = 0;
  private pending = '';
  private rowStarted = false;

  text(value: string | null): void {
    this.plain(value === null ? '\\N' : NEEDS_ESCAPE.test(value) ? copyField(value) : value);
  }

  plain(value: string): void {
    if (this.rowStarted) this.pending += '\t';
    this.pending += value;
    this.rowStarted = true;
  }

  message(payload: Uint8Array): void {
    this.text(messageText(payload));
  }

  endRow(): void {
    this.pending += '\n';
    this.rowStarted = false;
    if (this.pending.length >= CHUNK_CHARS) this.flush();
  }

  /** The chunks, with what was written last. */
  done(): Buffer[] {
    this.flush();
    return this.chunks;
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const chunk = Buffer.from(this.pending, 'utf8');
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
    this.pending = '';
  }
}
