/**
 * Parses date/time text with a Joda-Time pattern (the `custom-date-time` format of the Trino connector,
 * whose `formatHint` is a Joda DateTimeFormat pattern). Supported letters: G y Y u M d D H h k K m s S a E Z z
 * and quoted literals. Text without a zone is taken as UTC, as in the Trino connector.
 */
import { daysFromCivil, daysInMonth, isLeapYear, makeInstant, type Instant } from './civil-time.js';

type Token = { kind: 'literal'; text: string } | { kind: 'field'; letter: string; count: number };

const SUPPORTED = 'GyYuMdDHhkKmsSaEZz';
const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
/** Zone abbreviations accepted for `z`; abbreviations are ambiguous in general, these are the common fixed ones. */
const ZONE_ABBREVIATIONS: Record<string, number> = {
  UTC: 0,
  GMT: 0,
  UT: 0,
  Z: 0,
  EST: -300,
  EDT: -240,
  CST: -360,
  CDT: -300,
  MST: -420,
  MDT: -360,
  PST: -480,
  PDT: -420,
  CET: 60,
  CEST: 120,
  BST: 60,
  IST: 330,
  JST: 540,
};

export class DatePatternError extends Error {}

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i] as string;
    if (ch === "'") {
      let text = '';
      i++;
      for (;;) {
        if (i >= pattern.length) throw new DatePatternError(`unterminated quote in date pattern "${pattern}"`);
        if (pattern[i] === "'") {
          if (pattern[i + 1] === "'") {
            text += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += pattern[i];
        i++;
      }
      tokens.push({ kind: 'literal', text: text.length === 0 ? "'" : text });
    } else if (/[A-Za-z]/.test(ch)) {
      let count = 1;
      while (pattern[i + count] === ch) count++;
      if (!SUPPORTED.includes(ch)) throw new DatePatternError(`unsupported letter "${ch}" in date pattern "${pattern}"`);
      tokens.push({ kind: 'field', letter: ch, count });
      i += count;
    } else {
      tokens.push({ kind: 'literal', text: ch });
      i++;
    }
  }
  return tokens;
}

interface Parsed {
  year: number;
  month: number;
  day: number;
  dayOfYear?: number;
  hour: number;
  hour12?: number;
  pm?: boolean;
  minute: number;
  second: number;
  micros: number;
  offsetMinutes?: number;
  zoneId?: string;
}

const NUMERIC = new Set(['y', 'Y', 'u', 'M', 'd', 'D', 'H', 'h', 'k', 'K', 'm', 's', 'S']);

function isNumericToken(token: Token | undefined): boolean {
  return token !== undefined && token.kind === 'field' && NUMERIC.has(token.letter) && !(token.letter === 'M' && token.count >= 3);
}

function matchName(text: string, at: number, names: string[]): { index: number; length: number } | undefined {
  const rest = text.slice(at).toLowerCase();
  let best: { index: number; length: number } | undefined;
  names.forEach((name, index) => {
    for (const candidate of [name, name.slice(0, 3)]) {
      if (rest.startsWith(candidate) && (!best || candidate.length > best.length)) best = { index, length: candidate.length };
    }
  });
  return best;
}

/** Offset of an IANA zone at a UTC instant, in minutes, via Intl; undefined for an unknown zone. */
function zoneOffsetMinutes(zoneId: string, epochMillis: number): number | undefined {
  try {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone: zoneId,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    }).formatToParts(new Date(epochMillis));
    const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
    const local = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
    return Math.round((local - Math.floor(epochMillis / 1000) * 1000) / 60000);
  } catch {
    return undefined;
  }
}

export type JodaParser = (text: string) => Instant | undefined;

/** Compiles a Joda pattern; throws DatePatternError for a pattern it cannot serve. */
export function compileJodaPattern(pattern: string): JodaParser {
  if (pattern.trim().length === 0) throw new DatePatternError('empty date pattern');
  const tokens = tokenize(pattern);
  return (input) => {
    const text = input.trim();
    const parsed: Parsed = { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, micros: 0 };
    let at = 0;
    for (let t = 0; t < tokens.length; t++) {
      const token = tokens[t] as Token;
      if (token.kind === 'literal') {
        if (/^\s+$/.test(token.text)) {
          const spaces = /^\s+/.exec(text.slice(at));
          if (!spaces) return undefined;
          at += spaces[0].length;
        } else {
          if (text.slice(at, at + token.text.length).toLowerCase() !== token.text.toLowerCase()) return undefined;
          at += token.text.length;
        }
        continue;
      }
      const { letter, count } = token;
      if (NUMERIC.has(letter) && !(letter === 'M' && count >= 3)) {
        // Adjacent numeric fields (yyyyMMdd) take exactly their width, as in Joda; otherwise digits are greedy.
        const fixed = isNumericToken(tokens[t + 1]);
        const signed = (letter === 'y' || letter === 'Y' || letter === 'u') && count !== 2;
        let start = at;
        if (signed && (text[at] === '-' || text[at] === '+')) start++;
        const maxDigits = fixed ? count : letter === 'S' ? 9 : letter === 'y' || letter === 'Y' || letter === 'u' ? 9 : Math.max(count, letter === 'D' ? 3 : 2);
        let end = start;
        while (end < text.length && end - start < maxDigits && text.charCodeAt(end) >= 48 && text.charCodeAt(end) <= 57) end++;
        const digits = text.slice(start, end);
        if (digits.length === 0 || (fixed && digits.length !== count)) return undefined;
        const value = Number(text.slice(at, end));
        at = end;
        switch (letter) {
          case 'y':
          case 'Y':
          case 'u':
            parsed.year = count === 2 && digits.length === 2 ? (value < 50 ? 2000 + value : 1900 + value) : value;
            break;
          case 'M':
            parsed.month = value;
            break;
          case 'd':
            parsed.day = value;
            break;
          case 'D':
            parsed.dayOfYear = value;
            break;
          case 'H':
            parsed.hour = value;
            break;
          case 'k':
            parsed.hour = value === 24 ? 0 : value;
            if (value > 24) return undefined;
            break;
          case 'h':
            parsed.hour12 = value;
            if (value < 1 || value > 12) return undefined;
            break;
          case 'K':
            parsed.hour12 = value;
            if (value > 11) return undefined;
            break;
          case 'm':
            parsed.minute = value;
            break;
          case 's':
            parsed.second = value;
            break;
          case 'S':
            parsed.micros = Math.floor(Number(`0.${digits}`) * 1e6 + 1e-7);
            break;
        }
        continue;
      }
      switch (letter) {
        case 'M': {
          const found = matchName(text, at, MONTHS);
          if (!found) return undefined;
          parsed.month = found.index + 1;
          at += found.length;
          break;
        }
        case 'E': {
          const found = matchName(text, at, WEEKDAYS);
          if (!found) return undefined;
          at += found.length;
          break;
        }
        case 'a': {
          const marker = text.slice(at, at + 2).toUpperCase();
          if (marker !== 'AM' && marker !== 'PM') return undefined;
          parsed.pm = marker === 'PM';
          at += 2;
          break;
        }
        case 'G': {
          const era = text.slice(at, at + 2).toUpperCase();
          if (era !== 'AD' && era !== 'CE') return undefined;
          at += 2;
          break;
        }
        case 'Z': {
          if (count >= 3) {
            const id = /^[A-Za-z][A-Za-z0-9_+\-/]*/.exec(text.slice(at));
            if (!id) return undefined;
            parsed.zoneId = id[0];
            at += id[0].length;
            break;
          }
          const offset = /^(?:Z|([+-])(\d{2}):?(\d{2})?)/.exec(text.slice(at));
          if (!offset) return undefined;
          parsed.offsetMinutes = offset[1] === undefined ? 0 : (offset[1] === '-' ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3] ?? '0'));
          at += offset[0].length;
          break;
        }
        case 'z': {
          const abbreviation = /^[A-Za-z]+/.exec(text.slice(at));
          const minutes = abbreviation ? ZONE_ABBREVIATIONS[abbreviation[0].toUpperCase()] : undefined;
          if (!abbreviation || minutes === undefined) return undefined;
          parsed.offsetMinutes = minutes;
          at += abbreviation[0].length;
          break;
        }
      }
    }
    if (at !== text.length) return undefined;
    return resolve(parsed);
  };
}

function resolve(parsed: Parsed): Instant | undefined {
  let { hour } = parsed;
  if (parsed.hour12 !== undefined) hour = (parsed.hour12 % 12) + (parsed.pm ? 12 : 0);
  else if (parsed.pm !== undefined && hour < 12 && parsed.pm) hour += 12;
  const { year, minute, second } = parsed;
  let { month, day } = parsed;
  if (parsed.dayOfYear !== undefined) {
    if (parsed.dayOfYear < 1 || parsed.dayOfYear > (isLeapYear(year) ? 366 : 365)) return undefined;
    const days = daysFromCivil(year, 1, 1) + parsed.dayOfYear - 1;
    month = 0;
    day = days;
  }
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let days: number;
  if (month === 0) days = day;
  else {
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
    days = daysFromCivil(year, month, day);
  }
  const localSeconds = days * 86_400 + hour * 3600 + minute * 60 + second;
  let offsetMinutes = parsed.offsetMinutes ?? 0;
  if (parsed.zoneId !== undefined) {
    const fixed = ZONE_ABBREVIATIONS[parsed.zoneId.toUpperCase()];
    if (fixed !== undefined) offsetMinutes = fixed;
    else {
      // Two passes settle the offset around DST transitions.
      const first = zoneOffsetMinutes(parsed.zoneId, localSeconds * 1000);
      if (first === undefined) return undefined;
      offsetMinutes = zoneOffsetMinutes(parsed.zoneId, (localSeconds - first * 60) * 1000) ?? first;
    }
  }
  return makeInstant(localSeconds - offsetMinutes * 60, parsed.micros);
}
