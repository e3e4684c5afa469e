/**
 * Conversions from message values to PostgreSQL text input for each column kind. Every non-null string
 * returned here is accepted by PostgreSQL for the column's type; a value that cannot be represented gives
 * INVALID (the row then gets NULL for the column and _message_valid = false).
 */
import type { ColumnType } from '../catalog/column-type.js';
import { formatDate, formatTime, formatTimestamp, MICROS_PER_DAY, type Instant } from './civil-time.js';
import { createDateParser, type DateParser } from './date-format.js';
import { decimalToBigInt, decimalToNumericText, parseDecimal } from './decimal.js';
import { INVALID, type Converted, type SourceValue } from './source-value.js';
import { toWellFormed } from './text.js';

export type Converter = (value: SourceValue) => Converted;

const INTEGER_RANGE = {
  smallint: [-32768n, 32767n],
  integer: [-2147483648n, 2147483647n],
  bigint: [-9223372036854775808n, 9223372036854775807n],
} as const;

const REAL_MAX = 3.4028234663852886e38;
const utf8 = new TextDecoder('utf-8', { fatal: false });

function hex(bytes: Uint8Array): string {
  return `\\x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`;
}

/** The value as text, for text-like columns and for parsing; undefined for kinds that have no text form. */
function asText(value: SourceValue): string | undefined {
  switch (value.kind) {
    case 'string':
      return value.value;
    case 'number':
      return value.text;
    case 'float':
      return formatFloat(value.value, value.single);
    case 'boolean':
      return value.value ? 'true' : 'false';
    case 'json':
      return value.text;
    case 'bytes':
      return utf8.decode(value.value);
    default:
      return undefined;
  }
}

function formatFloat(value: number, single: boolean): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  if (!single) return String(value);
  // A float32 printed with double-precision digits would show noise (0.1f → 0.10000000149011612):
  // print the fewest digits that read back as the same float32.
  for (let precision = 1; precision < 9; precision++) {
    const candidate = Number(value.toPrecision(precision));
    if (Math.fround(candidate) === value) return String(candidate);
  }
  return String(Number(value.toPrecision(9)));
}

/** Text that PostgreSQL accepts in a text column: well-formed Unicode without NUL. */
function cleanText(text: string): string | undefined {
  if (text.includes('\u0000')) return undefined;
  return toWellFormed(text);
}

const SMALL_INTEGER = /^-?\d{1,15}$/;

function toInteger(value: SourceValue, kind: 'smallint' | 'integer' | 'bigint'): Converted {
  if (value.kind === 'number' && SMALL_INTEGER.test(value.text)) {
    // Fast path: exact as a double; bigint range holds every 15-digit integer.
    const n = Number(value.text);
    if (kind === 'bigint') return String(n);
    const [min, max] = INTEGER_RANGE[kind];
    return n < Number(min) || n > Number(max) ? INVALID : String(n);
  }
  let result: bigint | undefined;
  if (value.kind === 'number' || value.kind === 'string') {
    const decimal = parseDecimal(value.kind === 'number' ? value.text : value.value.trim());
    result = decimal && decimalToBigInt(decimal);
  } else if (value.kind === 'float') {
    result = Number.isInteger(value.value) ? BigInt(value.value) : undefined;
  } else if (value.kind === 'boolean') {
    result = value.value ? 1n : 0n;
  }
  if (result === undefined) return INVALID;
  const [min, max] = INTEGER_RANGE[kind];
  return result < min || result > max ? INVALID : result.toString();
}

const SPECIAL_FLOATS: Record<string, number> = {
  nan: NaN,
  infinity: Infinity,
  '+infinity': Infinity,
  '-infinity': -Infinity,
  inf: Infinity,
  '+inf': Infinity,
  '-inf': -Infinity,
};

/** A number token that is a plain decimal a double reads as PostgreSQL would (no exponent, no special value). */
const PLAIN_DECIMAL = /^-?\d{1,15}(?:\.\d{1,15})?$/;

function parseFloatValue(value: SourceValue): number | undefined {
  if (value.kind === 'float') return value.value;
  if (value.kind === 'number' && PLAIN_DECIMAL.test(value.text)) return Number(value.text);
  if (value.kind === 'boolean') return undefined;
  if (value.kind !== 'number' && value.kind !== 'string') return undefined;
  const text = value.kind === 'number' ? value.text : value.value.trim();
  const special = SPECIAL_FLOATS[text.toLowerCase()];
  if (special !== undefined) return special;
  if (!parseDecimal(text)) return undefined;
  const parsed = Number(text);
  // A finite decimal that overflows a double is out of range for PostgreSQL too.
  return Number.isFinite(parsed) ? parsed : undefined;
}

function toDouble(value: SourceValue): Converted {
  const parsed = parseFloatValue(value);
  return parsed === undefined ? INVALID : formatFloat(parsed, false);
}

function toReal(value: SourceValue): Converted {
  const parsed = parseFloatValue(value);
  if (parsed === undefined) return INVALID;
  if (Number.isFinite(parsed) && Math.abs(parsed) > REAL_MAX) return INVALID;
  return formatFloat(Math.fround(parsed), true);
}

function toNumeric(value: SourceValue, type: ColumnType): Converted {
  const constrained = type.precision !== undefined;
  let text: string;
  if (value.kind === 'float') {
    if (Number.isNaN(value.value)) return 'NaN';
    if (!Number.isFinite(value.value)) return constrained ? INVALID : value.value > 0 ? 'Infinity' : '-Infinity';
    text = String(value.value);
  } else if (value.kind === 'number') text = value.text;
  else if (value.kind === 'string') {
    text = value.value.trim();
    const special = SPECIAL_FLOATS[text.toLowerCase()];
    if (special !== undefined) {
      if (Number.isNaN(special)) return 'NaN';
      return constrained ? INVALID : special > 0 ? 'Infinity' : '-Infinity';
    }
  } else return INVALID;
  const decimal = parseDecimal(text);
  const result = decimal && decimalToNumericText(decimal, type.precision, type.scale);
  return result ?? INVALID;
}

const TRUE_WORDS = new Set(['true', 't', 'yes', 'y', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'f', 'no', 'n', 'off', '0']);

function toBoolean(value: SourceValue): Converted {
  if (value.kind === 'boolean') return value.value ? 'true' : 'false';
  if (value.kind === 'string' || value.kind === 'number') {
    const word = (value.kind === 'string' ? value.value : value.text).trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return 'true';
    if (FALSE_WORDS.has(word)) return 'false';
  }
  if (value.kind === 'float' && (value.value === 0 || value.value === 1)) return value.value === 1 ? 'true' : 'false';
  return INVALID;
}

/** varchar(n)/char(n): like PostgreSQL, excess characters are only dropped when they are all spaces. */
function toBoundedText(value: SourceValue, length: number | undefined): Converted {
  return boundedText(asText(value), length);
}

function boundedText(raw: string | undefined, length: number | undefined): Converted {
  const text = raw === undefined ? undefined : cleanText(raw);
  if (text === undefined) return INVALID;
  if (length === undefined || text.length <= length) return text; // UTF-16 length bounds the character count
  const characters = Array.from(text);
  if (characters.length <= length) return text;
  if (characters.slice(length).every((ch) => ch === ' ')) return characters.slice(0, length).join('');
  return INVALID;
}

function toBytea(value: SourceValue): Converted {
  if (value.kind === 'bytes') return hex(value.value);
  const text = asText(value);
  return text === undefined ? INVALID : hex(Buffer.from(text, 'utf8'));
}

function toJson(value: SourceValue): Converted {
  let text: string;
  switch (value.kind) {
    case 'json':
      text = value.text;
      break;
    case 'number':
      text = value.text;
      break;
    case 'boolean':
      text = value.value ? 'true' : 'false';
      break;
    case 'float':
      if (!Number.isFinite(value.value)) return INVALID;
      text = String(value.value);
      break;
    case 'string':
      text = JSON.stringify(toWellFormed(value.value));
      break;
    case 'bytes':
      text = JSON.stringify(utf8.decode(value.value));
      break;
    default:
      return INVALID;
  }
  // PostgreSQL's jsonb rejects \u0000 (it cannot be stored in text) and escapes of unpaired surrogates; a raw
  // NUL is not JSON either.
  return text.includes('\\u0000') || text.includes('\u0000') || hasUnpairedSurrogateEscape(text) ? INVALID : text;
}

/** Does JSON text hold a \uD800–\uDFFF escape that is not a high surrogate directly followed by a low one? */
function hasUnpairedSurrogateEscape(text: string): boolean {
  if (!/\\u[dD][89a-fA-F]/.test(text)) return false;
  const hexAt = (at: number): number => (text[at] === '\\' && text[at + 1] === 'u' ? Number.parseInt(text.slice(at + 2, at + 6), 16) : Number.NaN);
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') continue;
    if (text[i + 1] !== 'u') {
      i += 1;
      continue;
    }
    const code = hexAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const low = hexAt(i + 6);
      if (!(low >= 0xdc00 && low <= 0xdfff)) return true;
      i += 11;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      return true;
    } else {
      i += 5;
    }
  }
  return false;
}

const UUID = /^\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;

function toUuid(value: SourceValue): Converted {
  if (value.kind === 'bytes' && value.value.length !== 16) return toUuid({ kind: 'string', value: utf8.decode(value.value) });
  if (value.kind === 'bytes') {
    const h = Buffer.from(value.value).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  if (value.kind !== 'string') return INVALID;
  const match = UUID.exec(value.value.trim());
  if (!match) return INVALID;
  const braced = value.value.trim().startsWith('{');
  if (braced !== value.value.trim().endsWith('}')) return INVALID;
  return match.slice(1, 6).join('-').toLowerCase();
}

function toTemporal(value: SourceValue, kind: 'date' | 'time' | 'timestamp' | 'timestamptz', parse: DateParser): Converted {
  if (value.kind === 'timeOfDay') {
    if (kind !== 'time' || value.micros < 0 || value.micros >= MICROS_PER_DAY) return INVALID;
    return formatTime({ seconds: Math.floor(value.micros / 1e6), micros: value.micros % 1e6 }) ?? INVALID;
  }
  const instant: Instant | undefined = parse(value);
  if (!instant) return INVALID;
  let text: string | undefined;
  switch (kind) {
    case 'date':
      text = formatDate(instant);
      break;
    case 'time':
      text = formatTime(instant);
      break;
    case 'timestamp':
      text = formatTimestamp(instant);
      break;
    case 'timestamptz':
      text = formatTimestamp(instant);
      if (text) text += '+00';
      break;
  }
  return text ?? INVALID;
}

/**
 * The converter for one field. `dateParser` applies to date/time kinds; without one, ISO 8601 text is
 * expected. Throws (naming the field) only for definitions it cannot serve.
 */
export function createConverter(fieldName: string, type: ColumnType, dateParser?: DateParser): Converter {
  switch (type.kind) {
    case 'smallint':
    case 'integer':
    case 'bigint': {
      const kind = type.kind;
      return (value) => toInteger(value, kind);
    }
    case 'real':
      return toReal;
    case 'double':
      return toDouble;
    case 'numeric':
      return (value) => toNumeric(value, type);
    case 'boolean':
      return toBoolean;
    case 'text':
      return (value) => toBoundedText(value, undefined);
    case 'varchar':
    case 'char':
      return (value) => toBoundedText(value, type.length);
    case 'bytea':
      return toBytea;
    case 'json':
    case 'jsonb':
      return toJson;
    case 'uuid':
      return toUuid;
    case 'date':
    case 'time':
    case 'timestamp':
    case 'timestamptz': {
      const kind = type.kind;
      const parse = dateParser ?? createDateParser(fieldName, undefined, undefined);
      return (value) => toTemporal(value, kind, parse);
    }
  }
}

/**
 * The conversions of a field for a number or a string as JSON.parse reads them, without a SourceValue: what
 * the field's Converter gives for `{ kind: 'number', text: String(n) }` and `{ kind: 'string', value }`, for
 * the kinds where the way round the SourceValue costs most (a number printed, read back and printed again).
 * Undefined for the others.
 */
export interface ScalarConverters {
  number?: (value: number) => Converted;
  string?: (value: string) => Converted;
}

/** Integers a double holds exactly and prints without an exponent, in at most 15 digits (SMALL_INTEGER). */
const SMALL_INTEGER_MAGNITUDE = 1e15;

export function createScalarConverters(type: ColumnType): ScalarConverters {
  const viaText = (convert: Converter) => (value: number) => convert({ kind: 'number', text: String(value) });
  switch (type.kind) {
    case 'smallint':
    case 'integer':
    case 'bigint': {
      const kind = type.kind;
      const [min, max] = INTEGER_RANGE[kind];
      const general = viaText((value) => toInteger(value, kind));
      return {
        number: (value) => {
          if (!Number.isInteger(value) || Math.abs(value) >= SMALL_INTEGER_MAGNITUDE) return general(value);
          return kind !== 'bigint' && (value < Number(min) || value > Number(max)) ? INVALID : String(value);
        },
      };
    }
    case 'double':
      // The text of a finite double reads back as the same double, which prints as that text again.
      return { number: (value) => (Number.isFinite(value) ? String(value) : toDouble({ kind: 'number', text: String(value) })) };
    case 'real':
      return {
        number: (value) => {
          if (!Number.isFinite(value)) return toReal({ kind: 'number', text: String(value) });
          return Math.abs(value) > REAL_MAX ? INVALID : formatFloat(Math.fround(value), true);
        },
      };
    case 'text':
      return { string: (value) => boundedText(value, undefined) };
    case 'varchar':
    case 'char':
      return { string: (value) => boundedText(value, type.length) };
    default:
      return {};
  }
}
