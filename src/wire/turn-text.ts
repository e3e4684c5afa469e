/**
 * The SQL of a statement turn as the statement log tells it. SQL the client sent is kept as its bytes and
 * decoded when first needed: a log line carries only its first characters, so a statement of megabytes that
 * a worker analysed (and refused) is never decoded whole on the shared thread for its log line.
 */
import type { TextCodec } from '../pg/client-encoding.js';

/** The most bytes one character takes in a client encoding kinesql reads (four in UTF-8, one in the others). */
const MAX_BYTES_PER_CHAR = 4;

/**
 * SQL kept for later (a prepared statement's, for the log line of its Execute) shorter than this is kept as a
 * string: its bytes would hold on to the whole socket chunk they arrived in. Longer SQL stays as the client's
 * bytes (the worker that analyses it decodes it: off-thread.ts).
 */
const KEPT_AS_BYTES = 128 * 1024;

/** SQL as the client sent it, in its client encoding: decoded once, when first needed. */
export class ClientSql {
  private decoded: string | undefined;

  constructor(
    readonly bytes: Buffer,
    private readonly codec: TextCodec,
  ) {}

  get text(): string {
    this.decoded ??= this.codec.decode(this.bytes);
    return this.decoded;
  }

  /** What to keep of it for later: its text when short, itself when long. */
  kept(): string | ClientSql {
    return this.bytes.length < KEPT_AS_BYTES ? this.text : this;
  }

  /** At least its first `chars` characters (all of it, `whole`, when that takes no more decoding). */
  head(chars: number): { text: string; whole: boolean } {
    const enough = chars * MAX_BYTES_PER_CHAR;
    if (this.decoded !== undefined || this.bytes.length <= enough) return { text: this.text, whole: true };
    return { text: this.codec.decode(this.bytes.subarray(0, enough)), whole: false };
  }
}

/** A turn's SQL: its statements' texts in order, each kinesql's own string or the client's SQL. */
export type TurnText = readonly (string | ClientSql)[];

/**
 * A turn's SQL as one string, cut to `maxChars` characters with its length said after the cut: in characters,
 * or in bytes when some of it was not decoded (the client's bytes; kinesql's strings count as UTF-8).
 */
export function turnExcerpt(parts: TurnText, maxChars: number): string {
  let text = '';
  let chars = 0;
  let bytes = 0;
  let whole = true;
  for (const [index, part] of parts.entries()) {
    const separator = index > 0 ? '; ' : '';
    bytes += separator.length + (typeof part === 'string' ? Buffer.byteLength(part) : part.bytes.length);
    // Past the cut, the client's SQL is decoded no further (only counted, when it is decoded already).
    const head = typeof part === 'string' ? { text: part, whole: true } : part.head(text.length > maxChars ? 0 : maxChars);
    chars += separator.length + head.text.length;
    whole &&= head.whole;
    if (text.length <= maxChars) text += separator + head.text;
  }
  if (whole && chars <= maxChars) return text;
  return `${text.slice(0, maxChars)}… (${whole ? `${chars} characters` : `${bytes} bytes`})`;
}
