/**
 * The Trino connector's date/time field formats (field `dataFormat`): each turns a message value into an
 * Instant (UTC), or undefined when the value does not match.
 */
import { makeInstant, daysFromCivil, daysInMonth, type Instant } from './civil-time.js';
import { normalizeDecimal, parseDecimal } from './decimal.js';
import { compileJodaPattern, DatePatternError } from './joda-pattern.js';
import type { SourceValue } from './source-value.js';

export type DateParser = (value: SourceValue) => Instant | undefined;

export const DATE_FORMATS = ['iso8601', 'rfc2822', 'custom-date-time', 'seconds-since-epoch', 'milliseconds-since-epoch'] as const;

const ISO_8601 =
  /^(?:([+-]?\d{4,6})-(\d{2})-(\d{2})|([+-]?\d{4,6})(\d{2})(\d{2})(?=T))?(?:(?:^|[T ])(\d{2}):?(\d{2})(?::?(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** ISO 8601 date, date-time, or time (on 1970-01-01); no zone means UTC. Also PostgreSQL's `YYYY-MM-DD HH:MM:SS` form. */
export function parseIso8601(text: string): Instant | undefined {
  const match = ISO_8601.exec(text.trim());
  if (!match || text.trim().length === 0) return undefined;
  const yearText = match[1] ?? match[4];
  const hasTime = match[7] !== undefined;
  if (yearText === undefined && !hasTime) return undefined;
  const year = yearText === undefined ? 1970 : Number(yearText);
  const month = Number(match[2] ?? match[5] ?? '1');
  const day = Number(match[3] ?? match[6] ?? '1');
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  const hour = Number(match[7] ?? '0');
  const minute = Number(match[8] ?? '0');
  const second = Number(match[9] ?? '0');
  if (hour > 24 || minute > 59 || second > 59 || (hour === 24 && (minute > 0 || second > 0))) return undefined;
  const fraction = match[10] ?? '';
  const micros = Number(fraction.padEnd(6, '0').slice(0, 6));
  let offsetMinutes = 0;
  const zone = match[11];
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0'));
  }
  const seconds = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60;
  return makeInstant(seconds, micros);
}

/** Seconds or milliseconds since the epoch, exactly (fractions kept to the microsecond, truncated). */
function parseEpoch(value: SourceValue, unitsPerSecond: 1 | 1000): Instant | undefined {
  let text: string;
  if (value.kind === 'number') text = value.text;
  else if (value.kind === 'string') text = value.value.trim();
  else if (value.kind === 'float' && Number.isFinite(value.value)) text = String(value.value);
  else return undefined;
  const written = parseDecimal(text);
  if (!written) return undefined;
  const decimal = normalizeDecimal(written);
  // microseconds = value × 10^6 / unitsPerSecond, as an exact integer (fraction below a microsecond dropped)
  const shift = decimal.exponent + (unitsPerSecond === 1 ? 6 : 3);
  if (decimal.digits.length + shift > 22) return undefined; // far beyond any representable timestamp
  let micros: bigint;
  if (decimal.digits.length === 0) micros = 0n;
  else if (shift >= 0) micros = BigInt(decimal.digits + '0'.repeat(shift));
  else {
    const kept = decimal.digits.slice(0, Math.max(0, decimal.digits.length + shift));
    micros = kept.length === 0 ? 0n : BigInt(kept);
    if (decimal.negative && /[1-9]/.test(decimal.digits.slice(kept.length))) micros += 1n; // floor for negatives
  }
  if (decimal.negative) micros = -micros;
  const seconds = micros >= 0n ? micros / 1_000_000n : -((-micros + 999_999n) / 1_000_000n);
  return makeInstant(Number(seconds), Number(micros - seconds * 1_000_000n));
}

function textOf(value: SourceValue): string | undefined {
  return value.kind === 'string' ? value.value : undefined;
}

/**
 * The parser for a field's date format; `undefined` dataFormat means the default: ISO 8601 text (numbers are
 * rejected, since their unit would be a guess). Throws an Error naming the field for a format it cannot serve.
 */
export function createDateParser(fieldName: string, dataFormat: string | undefined, formatHint: string | undefined): DateParser {
  const format = dataFormat?.trim().toLowerCase();
  const fromText =
    (parse: (text: string) => Instant | undefined): DateParser =>
    (value) => {
      if (value.kind === 'instant') return { seconds: value.seconds, micros: value.micros };
      const text = textOf(value);
      return text === undefined ? undefined : parse(text);
    };
  switch (format) {
    case undefined:
    case '':
    case 'iso8601':
      return fromText(parseIso8601);
    case 'rfc2822': {
      // The Trino connector's "rfc2822" is Twitter's created_at form; the RFC's own form is accepted as well.
      const seedForm = compileJodaPattern('EEE MMM dd HH:mm:ss Z yyyy');
      const rfcForm = compileJodaPattern('EEE, d MMM yyyy HH:mm:ss Z');
      const rfcNoWeekday = compileJodaPattern('d MMM yyyy HH:mm:ss Z');
      return fromText((text) => seedForm(text) ?? rfcForm(text) ?? rfcNoWeekday(text));
    }
    case 'custom-date-time': {
      if (formatHint === undefined || formatHint.trim() === '') {
        throw new Error(`field "${fieldName}": dataFormat custom-date-time needs a Joda pattern in formatHint`);
      }
      try {
        return fromText(compileJodaPattern(formatHint));
      } catch (error) {
        if (error instanceof DatePatternError) throw new Error(`field "${fieldName}": ${error.message}`);
        throw error;
      }
    }
    case 'seconds-since-epoch':
      return (value) => (value.kind === 'instant' ? value : parseEpoch(value, 1));
    case 'milliseconds-since-epoch':
      return (value) => (value.kind === 'instant' ? value : parseEpoch(value, 1000));
    default:
      throw new Error(`field "${fieldName}": unknown date format "${dataFormat}"; expected one of ${DATE_FORMATS.join(', ')}`);
  }
}
