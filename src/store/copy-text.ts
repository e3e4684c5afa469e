/**
 * COPY text format: one line per row, columns separated by tabs, NULL as \N, and backslash, tab,
 * newline and carriage return escaped.
 */
import { isUtf8 } from 'node:buffer';

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

/** A value every row of a batch has, as text and as the bytes of its COPY text (escaped once). */
export interface BatchValue {
  text: string;
  copy: Buffer;
}

export function batchValue(text: string): BatchValue {
  return { text, copy: Buffer.from(copyField(text), 'utf8') };
}

/** Where COPY text goes, value by value: bytes (CopyWriter) or the values themselves (a row to look at again). */
export interface CopyRowSink {
  /** A value, escaped as COPY text needs; null is \N. */
  text(value: string | null): void;
  /** A value known to hold no character COPY text escapes (digits, a timestamp, t or f). */
  plain(value: string): void;
  /** A value the same for every row of the batch. */
  same(value: BatchValue): void;
  /** A message's bytes as text, as messageText reads them. */
  message(payload: Uint8Array): void;
  endRow(): void;
}

/** Bytes of COPY text a chunk holds before the next one is started (a larger value gets a chunk its size). */
const CHUNK_BYTES = 1 << 16;
/**
 * Strings shorter than this are written character by character; longer ones by Buffer.write, whose call costs
 * about as much as a loop over 16 characters.
 */
const SHORT_STRING = 16;
const TAB = 0x09;
const NEWLINE = 0x0a;
const RETURN = 0x0d;
const BACKSLASH = 0x5c;
const NUL = 0x00;
const NULL_TEXT = Buffer.from('\\N', 'latin1');

function hasByteOrderMark(payload: Uint8Array): boolean {
  return payload.length >= 3 && payload[0] === 0xef && payload[1] === 0xbb && payload[2] === 0xbf;
}

/** A byte COPY text escapes, or NUL (which text cannot hold). */
function needsCare(byte: number): boolean {
  return byte === BACKSLASH || (byte < 0x20 && (byte === TAB || byte === NEWLINE || byte === RETURN || byte === NUL));
}

/** The letter of the escape of a tab, newline or carriage return. */
function escapeLetter(code: number): number {
  return code === TAB ? 0x74 : code === NEWLINE ? 0x6e : 0x72;
}

/**
 * COPY text as a list of byte chunks of about 64 KiB, written value by value straight into them: a batch
 * never becomes one string, nor one buffer, and no row becomes an array of its values first. The chunks go
 * into the copy stream as they are (a row may end in the next chunk: COPY data need not follow rows).
 */
export class CopyWriter implements CopyRowSink {
  readonly chunks: Buffer[] = [];
  /** Bytes in the chunks. */
  bytes = 0;
  private buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private at = 0;
  private rowStarted = false;

  text(value: string | null): void {
    if (value === null) this.bytesOf(NULL_TEXT);
    else if (value.length >= SHORT_STRING) this.string(NEEDS_ESCAPE.test(value) ? copyField(value) : value);
    else this.shortText(value);
  }

  plain(value: string): void {
    // Looking for characters to escape in a short string costs next to nothing, and finds none here.
    if (value.length >= SHORT_STRING) this.string(value);
    else this.shortText(value);
  }

  same(value: BatchValue): void {
    this.bytesOf(value.copy);
  }

  /**
   * A message's bytes are its text when they are UTF-8 without a byte order mark: then they are copied as
   * they are, escaped byte by byte and NUL left out (in UTF-8 these bytes stand for themselves only), which
   * is what messageText and an escape of its text would write.
   */
  message(payload: Uint8Array): void {
    if (hasByteOrderMark(payload) || !isUtf8(payload)) {
      this.text(messageText(payload));
      return;
    }
    let first = 0;
    while (first < payload.length && !needsCare(payload[first]!)) first++;
    if (first === payload.length) {
      this.bytesOf(payload);
      return;
    }
    this.field(2 * payload.length);
    const { buffer } = this;
    buffer.set(payload.subarray(0, first), this.at);
    let at = this.at + first;
    for (let i = first; i < payload.length; i++) {
      const byte = payload[i]!;
      if (!needsCare(byte)) buffer[at++] = byte;
      else if (byte === BACKSLASH) {
        buffer[at++] = BACKSLASH;
        buffer[at++] = BACKSLASH;
      } else if (byte !== NUL) {
        buffer[at++] = BACKSLASH;
        buffer[at++] = escapeLetter(byte);
      }
    }
    this.at = at;
  }

  endRow(): void {
    this.room(1);
    this.buffer[this.at++] = NEWLINE;
    this.rowStarted = false;
  }

  /** The chunks, with what was written last. */
  done(): Buffer[] {
    this.flush();
    return this.chunks;
  }

  /** Starts a value of at most `bytes` bytes: room for it and the tab before it, and the tab. */
  private field(bytes: number): void {
    this.room(bytes + 1);
    if (this.rowStarted) this.buffer[this.at++] = TAB;
    this.rowStarted = true;
  }

  private bytesOf(bytes: Uint8Array): void {
    this.field(bytes.length);
    this.buffer.set(bytes, this.at);
    this.at += bytes.length;
  }

  /** A string written as it is (escaped already, or nothing in it to escape). */
  private string(value: string): void {
    // Exact for a value that could take a chunk of its own; otherwise at most three bytes a UTF-16 unit.
    this.field(value.length > CHUNK_BYTES / 3 ? Buffer.byteLength(value, 'utf8') : 3 * value.length);
    this.at += this.buffer.write(value, this.at, 'utf8');
  }

  /** A short string, escaped character by character. */
  private shortText(value: string): void {
    // A UTF-16 unit is at most three bytes of UTF-8; an escape is two.
    this.field(3 * value.length);
    const { buffer } = this;
    let at = this.at;
    for (let i = 0; i < value.length; i++) {
      const code = value.charCodeAt(i);
      if (code >= 0x80) {
        at += buffer.write(copyField(value.slice(i)), at, 'utf8');
        break;
      }
      if (code === BACKSLASH) {
        buffer[at++] = BACKSLASH;
        buffer[at++] = BACKSLASH;
      } else if (code < 0x20 && (code === TAB || code === NEWLINE || code === RETURN)) {
        buffer[at++] = BACKSLASH;
        buffer[at++] = escapeLetter(code);
      } else buffer[at++] = code;
    }
    this.at = at;
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    this.flush();
    this.buffer = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, bytes));
  }

  private flush(): void {
    if (this.at === 0) return;
    const chunk = this.buffer.subarray(0, this.at);
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
    this.buffer = this.buffer.subarray(this.at);
    this.at = 0;
  }
}
