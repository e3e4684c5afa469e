/**
 * A GetRecords answer (JSON 1.1) read straight from the body's bytes into what the shard readers use: each
 * record's Data decoded from base64 into one buffer for the whole answer (every record a view of it), its
 * arrival time read as a number of seconds and rounded to milliseconds as the SDK rounds it. The SDK's own
 * reading turns the whole body into a string, parses it, walks the result against the operation's schema and
 * decodes every Data into a buffer of its own. Members the readers do not use (EncryptionType, ChildShards,
 * any Kinesis adds) are stepped over; a body that is not JSON, or not the shape Kinesis answers with, is a
 * MalformedAnswerError naming the byte where it went wrong.
 */
import type { StreamRecord } from './records.js';

export interface GetRecordsAnswer {
  /** Data a view of the answer's one buffer; an absent PartitionKey '', an absent arrival time the epoch. */
  records: StreamRecord[];
  nextShardIterator: string | undefined;
  millisBehindLatest: number | undefined;
}

/** A body that is not a GetRecords answer (a proxy's page, an answer cut short): worth another try, like the SDK's SyntaxError. */
export class MalformedAnswerError extends Error {
  override readonly name = 'MalformedAnswerError';
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const EQUALS = 0x3d;

/** Member names as the bytes they are written with, and as text (for a name written with escapes). */
interface MemberNames {
  bytes: Buffer[];
  texts: string[];
}
const memberNames = (...texts: string[]): MemberNames => ({ bytes: texts.map((text) => Buffer.from(text, 'latin1')), texts });
const ANSWER_KEYS = memberNames('Records', 'NextShardIterator', 'MillisBehindLatest');
const RECORD_KEYS = memberNames('Data', 'SequenceNumber', 'PartitionKey', 'ApproximateArrivalTimestamp');
const NO_KEYS = memberNames();
const [RECORDS, NEXT_ITERATOR, MILLIS_BEHIND] = [0, 1, 2];
const [DATA, SEQUENCE, PARTITION_KEY, ARRIVAL] = [0, 1, 2, 3];

/** The value of each base64 character, -1 for a byte that is not one. */
const BASE64_VALUES = (() => {
  const values = new Int8Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i;
  return values;
})();

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const WORDS: Record<string, number[]> = { t: [...Buffer.from('true')], f: [...Buffer.from('false')], n: [...Buffer.from('null')] };

const EMPTY = Buffer.alloc(0);

/**
 * The body being read, copied together from the chunks it arrived in; each Data is decoded in place, into
 * the bytes already read, and the decoded bytes then copied into a buffer of their own. Reused (as long as
 * the longest answer read so far): answers are read one at a time, and a buffer this size, freshly allocated
 * for every answer, cost more to fill than the reading itself.
 */
let scratch = Buffer.allocUnsafe(0);

/** Reads one GetRecords answer from its body, whole or in the chunks it arrived in (which are left as they are). */
export function readGetRecordsAnswer(body: Uint8Array | readonly Uint8Array[]): GetRecordsAnswer {
  const chunks = body instanceof Uint8Array ? [body] : body;
  let length = 0;
  for (const chunk of chunks) length += chunk.byteLength;
  if (scratch.length < length) scratch = Buffer.allocUnsafe(length);
  let offset = 0;
  for (const chunk of chunks) {
    scratch.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new AnswerReader(scratch.subarray(0, length)).answer();
}

class AnswerReader {
  private pos = 0;

  constructor(private readonly body: Buffer) {}

  answer(): GetRecordsAnswer {
    let records: StreamRecord[] = [];
    let nextShardIterator: string | undefined;
    let millisBehindLatest: number | undefined;
    this.open(OPEN_OBJECT, 'the answer object');
    if (!this.closes(CLOSE_OBJECT)) {
      do {
        const key = this.key(ANSWER_KEYS);
        if (this.isNull()) continue;
        if (key === RECORDS) records = this.records();
        else if (key === NEXT_ITERATOR) nextShardIterator = this.string();
        else if (key === MILLIS_BEHIND) millisBehindLatest = this.number();
        else this.skipValue(0);
      } while (this.next(CLOSE_OBJECT));
    }
    if (this.peek() !== -1) this.fail('the end of the answer');
    return { records, nextShardIterator, millisBehindLatest };
  }

  /** The Records list: each record's Data decoded in place, then all of it copied into one buffer of its size. */
  private records(): StreamRecord[] {
    const sequences: string[] = [];
    const partitionKeys: string[] = [];
    const arrivals: number[] = [];
    /** Where each record's decoded data ends in the body (it starts where the one before ends). */
    const ends: number[] = [];
    let decoded = 0;
    this.open(OPEN_ARRAY, 'the Records list');
    if (!this.closes(CLOSE_ARRAY)) {
      do {
        let sequence: string | undefined;
        let partitionKey = '';
        let arrival = 0;
        let dataEnd = decoded;
        this.open(OPEN_OBJECT, 'a record');
        if (!this.closes(CLOSE_OBJECT)) {
          do {
            const key = this.key(RECORD_KEYS);
            if (this.isNull()) continue;
            if (key === DATA) dataEnd = this.base64(decoded);
            else if (key === SEQUENCE) sequence = this.string();
            else if (key === PARTITION_KEY) partitionKey = this.string();
            else if (key === ARRIVAL) arrival = this.epochMs();
            else this.skipValue(0);
          } while (this.next(CLOSE_OBJECT));
        }
        if (sequence === undefined) this.fail('a record with a SequenceNumber');
        sequences.push(sequence);
        partitionKeys.push(partitionKey);
        arrivals.push(arrival);
        ends.push(dataEnd);
        decoded = dataEnd;
      } while (this.next(CLOSE_ARRAY));
    }
    const data = decoded === 0 ? EMPTY : Buffer.allocUnsafe(decoded);
    this.body.copy(data, 0, 0, decoded);
    const records: StreamRecord[] = new Array(sequences.length);
    let offset = 0;
    for (let i = 0; i < sequences.length; i++) {
      const end = ends[i]!;
      records[i] = {
        sequenceNumber: sequences[i]!,
        partitionKey: partitionKeys[i]!,
        data: data.subarray(offset, end),
        arrivalTimestamp: new Date(arrivals[i]!),
      };
      offset = end;
    }
    return records;
  }

  /**
   * Decodes a base64 string into the body at `offset`: three bytes for every four characters read, so the
   * bytes written never reach what is still to be read. Returns where the decoded bytes end.
   */
  private base64(offset: number): number {
    this.open(QUOTE, 'the base64 text of Data');
    const { body } = this;
    const out = body;
    let at = this.pos;
    let write = offset;
    while (at + 4 <= body.length) {
      const bits =
        (BASE64_VALUES[body[at]!]! << 18) | (BASE64_VALUES[body[at + 1]!]! << 12) | (BASE64_VALUES[body[at + 2]!]! << 6) | BASE64_VALUES[body[at + 3]!]!;
      // A byte that is no base64 character is -1, which makes the whole group negative.
      if (bits < 0) break;
      out[write++] = bits >> 16;
      out[write++] = (bits >> 8) & 0xff;
      out[write++] = bits & 0xff;
      at += 4;
    }
    if (body[at] !== QUOTE && at + 4 < body.length && body[at + 3] === EQUALS && body[at + 4] === QUOTE) {
      const first = BASE64_VALUES[body[at]!]!;
      const second = BASE64_VALUES[body[at + 1]!]!;
      const third = body[at + 2] === EQUALS ? 0 : BASE64_VALUES[body[at + 2]!]!;
      if ((first | second | third) >= 0) {
        const bits = (first << 18) | (second << 12) | (third << 6);
        out[write++] = bits >> 16;
        if (body[at + 2] !== EQUALS) out[write++] = (bits >> 8) & 0xff;
        at += 4;
      }
    }
    if (body[at] !== QUOTE) {
      this.pos = at;
      this.fail('base64 text (groups of four characters, then the closing quote)');
    }
    this.pos = at + 1;
    return write;
  }

  /** A member's name and its colon: the index of the name in `known`, -1 for any other. */
  private key(known: MemberNames): number {
    if (this.peek() !== QUOTE) this.fail('a member name');
    const start = this.pos + 1;
    const end = this.stringEnd(start);
    let index = -1;
    if (end.escaped) {
      index = known.texts.indexOf(this.decodeEscaped(start, end.at));
    } else {
      for (let i = 0; i < known.bytes.length; i++) {
        if (this.bytesAre(start, end.at, known.bytes[i]!)) {
          index = i;
          break;
        }
      }
    }
    this.pos = end.at + 1;
    this.open(COLON, "':' after a member name");
    return index;
  }

  private bytesAre(start: number, end: number, bytes: Buffer): boolean {
    if (end - start !== bytes.length) return false;
    for (let i = 0; i < bytes.length; i++) if (this.body[start + i] !== bytes[i]) return false;
    return true;
  }

  private string(): string {
    if (this.peek() !== QUOTE) this.fail('a string');
    const start = this.pos + 1;
    const end = this.stringEnd(start);
    this.pos = end.at + 1;
    if (end.escaped) return this.decodeEscaped(start, end.at);
    return end.ascii ? this.body.toString('latin1', start, end.at) : this.body.toString('utf8', start, end.at);
  }

  /** Where the string whose text starts at `start` has its closing quote. */
  private stringEnd(start: number): { at: number; escaped: boolean; ascii: boolean } {
    const { body } = this;
    let escaped = false;
    let ascii = true;
    for (let at = start; at < body.length; at++) {
      const byte = body[at]!;
      if (byte === QUOTE) return { at, escaped, ascii };
      if (byte === BACKSLASH) {
        escaped = true;
        at++;
      } else if (byte < 0x20) {
        this.pos = at;
        this.fail('a character a JSON string may hold');
      } else if (byte >= 0x80) ascii = false;
    }
    this.pos = body.length;
    return this.fail('the end of a string');
  }

  private decodeEscaped(start: number, end: number): string {
    try {
      return JSON.parse(this.body.toString('utf8', start - 1, end + 1)) as string;
    } catch {
      this.pos = start;
      return this.fail('a string with valid escapes');
    }
  }

  private number(): number {
    this.peek();
    const start = this.pos;
    const { body } = this;
    let at = start;
    for (; at < body.length; at++) {
      const byte = body[at]!;
      // Digits, '+', '-', '.', 'e', 'E'.
      if (!((byte >= 0x30 && byte <= 0x39) || byte === 0x2b || byte === 0x2d || byte === 0x2e || byte === 0x65 || byte === 0x45)) break;
    }
    const text = this.numberText(body.toString('latin1', start, at));
    this.pos = at;
    return Number(text);
  }

  /** An epoch timestamp in seconds, a number or its text (as the SDK takes it), as milliseconds. */
  private epochMs(): number {
    const at = this.pos;
    const seconds = this.peek() === QUOTE ? Number(this.numberText(this.string())) : this.number();
    if (!Number.isFinite(seconds)) {
      this.pos = at;
      this.fail('a finite epoch timestamp');
    }
    return Math.round(seconds * 1000);
  }

  private numberText(text: string): string {
    if (!JSON_NUMBER.test(text)) this.fail('a number');
    return text;
  }

  /** Steps over a value of any kind; `depth` keeps a hostile nesting from exhausting the stack. */
  private skipValue(depth: number): void {
    if (depth > 64) this.fail('a value nested less deeply');
    const byte = this.peek();
    if (byte === QUOTE) {
      this.pos = this.stringEnd(this.pos + 1).at + 1;
    } else if (byte === OPEN_OBJECT) {
      this.pos++;
      if (this.closes(CLOSE_OBJECT)) return;
      do {
        this.key(NO_KEYS);
        this.skipValue(depth + 1);
      } while (this.next(CLOSE_OBJECT));
    } else if (byte === OPEN_ARRAY) {
      this.pos++;
      if (this.closes(CLOSE_ARRAY)) return;
      do this.skipValue(depth + 1);
      while (this.next(CLOSE_ARRAY));
    } else if (byte === 0x74 || byte === 0x66 || byte === 0x6e) {
      const word = WORDS[String.fromCharCode(byte)]!;
      for (let i = 0; i < word.length; i++) if (this.body[this.pos + i] !== word[i]) this.fail('true, false or null');
      this.pos += word.length;
    } else {
      this.number();
    }
  }

  private isNull(): boolean {
    if (this.peek() !== 0x6e) return false;
    this.skipValue(0);
    return true;
  }

  /** The next byte that is not white space (pos left on it), -1 at the end of the body. */
  private peek(): number {
    const { body } = this;
    while (this.pos < body.length) {
      const byte = body[this.pos]!;
      if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return byte;
      this.pos++;
    }
    return -1;
  }

  private open(byte: number, what: string): void {
    if (this.peek() !== byte) this.fail(what);
    this.pos++;
  }

  /** Whether an object or list closes right after it opened. */
  private closes(close: number): boolean {
    if (this.peek() !== close) return false;
    this.pos++;
    return true;
  }

  /** After a member or element: true at a comma (another follows), false at `close`. */
  private next(close: number): boolean {
    const byte = this.peek();
    this.pos++;
    if (byte === COMMA) return true;
    if (byte === close) return false;
    this.pos--;
    return this.fail(`',' or '${String.fromCharCode(close)}'`);
  }

  private fail(expected: string): never {
    const at = Math.min(this.pos, this.body.length);
    const found = at < this.body.length ? `'${String.fromCharCode(this.body[at]!)}'` : 'the end of the body';
    throw new MalformedAnswerError(
      `GetRecords answer is not the JSON Kinesis sends: expected ${expected} at byte ${at} of ${this.body.length}, found ${found}`,
    );
  }
}
