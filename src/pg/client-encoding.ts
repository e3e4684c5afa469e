/**
 * Client encodings kinesql can take a session's SQL in. The engine converts what it sends (rows, messages)
 * to the session's client_encoding; kinesql reads the SQL it checks in that encoding and hands it on in the
 * same one. UTF8 and SQL_ASCII (which PostgreSQL passes through unconverted) are read as UTF-8; the
 * single-byte encodings through a table of their 256 characters. Multi-byte encodings other than UTF8 are
 * refused.
 */

/** Reads a session's bytes as text and writes text back as bytes, in one client encoding. */
export interface TextCodec {
  /** PostgreSQL's name of the encoding. */
  readonly name: string;
  decode(bytes: Buffer): string;
  encode(text: string): Buffer;
}

export const UTF8_CODEC: TextCodec = {
  name: 'UTF8',
  decode: (bytes) => bytes.toString('utf8'),
  encode: (text) => Buffer.from(text, 'utf8'),
};

const SQL_ASCII_CODEC: TextCodec = { ...UTF8_CODEC, name: 'SQL_ASCII' };

const LATIN1_CODEC: TextCodec = {
  name: 'LATIN1',
  decode: (bytes) => bytes.toString('latin1'),
  encode: (text) => Buffer.from(text.replace(/[\u{100}-\u{10ffff}]/gu, '?'), 'latin1'),
};

/** PostgreSQL's single-byte encodings (by normalised name) and the WHATWG label of the same character set. */
const SINGLE_BYTE: Record<string, [string, string]> = {
  latin2: ['LATIN2', 'iso-8859-2'],
  latin3: ['LATIN3', 'iso-8859-3'],
  latin4: ['LATIN4', 'iso-8859-4'],
  iso88595: ['ISO_8859_5', 'iso-8859-5'],
  iso88596: ['ISO_8859_6', 'iso-8859-6'],
  iso88597: ['ISO_8859_7', 'iso-8859-7'],
  iso88598: ['ISO_8859_8', 'iso-8859-8'],
  latin6: ['LATIN6', 'iso-8859-10'],
  latin7: ['LATIN7', 'iso-8859-13'],
  latin8: ['LATIN8', 'iso-8859-14'],
  latin9: ['LATIN9', 'iso-8859-15'],
  win866: ['WIN866', 'ibm866'],
  win874: ['WIN874', 'windows-874'],
  win1250: ['WIN1250', 'windows-1250'],
  win1251: ['WIN1251', 'windows-1251'],
  win1252: ['WIN1252', 'windows-1252'],
  win1253: ['WIN1253', 'windows-1253'],
  win1254: ['WIN1254', 'windows-1254'],
  win1255: ['WIN1255', 'windows-1255'],
  win1256: ['WIN1256', 'windows-1256'],
  win1257: ['WIN1257', 'windows-1257'],
  win1258: ['WIN1258', 'windows-1258'],
  koi8r: ['KOI8R', 'koi8-r'],
  koi8u: ['KOI8U', 'koi8-u'],
};

/** PostgreSQL's other spellings of those names (normalised). */
const ALIASES: Record<string, string> = {
  unicode: 'utf8',
  iso88591: 'latin1',
  iso88592: 'latin2',
  iso88593: 'latin3',
  iso88594: 'latin4',
  iso885910: 'latin6',
  iso885913: 'latin7',
  iso885914: 'latin8',
  iso885915: 'latin9',
  koi8: 'koi8r',
  alt: 'win866',
  win: 'win1251',
  tcvn: 'win1258',
  tcvn5712: 'win1258',
  abc: 'win1258',
};

/** A single-byte codec from the 256 characters its decoder gives the bytes; characters outside it become '?'. */
function singleByteCodec(name: string, label: string): TextCodec | undefined {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label);
  } catch {
    return undefined;
  }
  const table = decoder.decode(Uint8Array.from({ length: 256 }, (_, i) => i));
  if (table.length !== 256) return undefined;
  const reverse = new Map<string, number>();
  for (let i = 0; i < 256; i++) if (!reverse.has(table[i]!)) reverse.set(table[i]!, i);
  return {
    name,
    decode: (bytes) => decoder.decode(bytes),
    encode: (text) => Buffer.from(Array.from(text, (char) => reverse.get(char) ?? 0x3f)),
  };
}

const codecs = new Map<string, TextCodec | undefined>();

/**
 * The codec of an encoding as PostgreSQL names it (case, `-` and `_` ignored: `utf-8`, `Latin1`,
 * `ISO_8859_1`); undefined for a name kinesql cannot convert (or no encoding at all).
 */
export function codecNamed(value: string): TextCodec | undefined {
  const normalised = value.replace(/[^A-Za-z0-9]/g, '').toLowerCase();
  const key = ALIASES[normalised] ?? normalised;
  if (key === 'utf8') return UTF8_CODEC;
  if (key === 'sqlascii') return SQL_ASCII_CODEC;
  if (key === 'latin1') return LATIN1_CODEC;
  const single = SINGLE_BYTE[key];
  if (!single) return undefined;
  if (!codecs.has(key)) codecs.set(key, singleByteCodec(...single));
  return codecs.get(key);
}
