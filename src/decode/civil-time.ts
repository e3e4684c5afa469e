/**
 * Proleptic Gregorian calendar arithmetic and PostgreSQL text forms for dates and times, done on integers
 * so that every year from 1 to 9999 works the same (no Date object, no local time zone).
 */

export const SECONDS_PER_DAY = 86_400;
export const MICROS_PER_DAY = 86_400_000_000;

/** Days since 1970-01-01 of a civil date (month 1..12). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const dayOfEra = z - era * 146097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) - Math.floor(dayOfEra / 146096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** A point in time in UTC: whole seconds since the epoch plus 0..999999 microseconds. */
export interface Instant {
  seconds: number;
  micros: number;
}

/** Normalises seconds + any (possibly negative or ≥ 1e6) micros into an Instant. */
export function makeInstant(seconds: number, micros: number): Instant {
  const carry = Math.floor(micros / 1_000_000);
  return { seconds: seconds + carry, micros: micros - carry * 1_000_000 };
}

/** Years kinesql emits: PostgreSQL accepts more, but years outside 1..9999 need BC/5-digit forms clients mishandle. */
const MIN_YEAR = 1;
const MAX_YEAR = 9999;

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function splitInstant(instant: Instant): { days: number; secondOfDay: number } | undefined {
  if (!Number.isSafeInteger(instant.seconds)) return undefined;
  const days = Math.floor(instant.seconds / SECONDS_PER_DAY);
  return { days, secondOfDay: instant.seconds - days * SECONDS_PER_DAY };
}

function formatCivilDate(days: number): string | undefined {
  const { year, month, day } = civilFromDays(days);
  if (year < MIN_YEAR || year > MAX_YEAR) return undefined;
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

function formatTimeOfDay(secondOfDay: number, micros: number): string {
  const hours = Math.floor(secondOfDay / 3600);
  const minutes = Math.floor((secondOfDay % 3600) / 60);
  return `${pad(hours, 2)}:${pad(minutes, 2)}:${pad(secondOfDay % 60, 2)}.${pad(micros, 6)}`;
}

/** `YYYY-MM-DD` of the instant's UTC date. */
export function formatDate(instant: Instant): string | undefined {
  const split = splitInstant(instant);
  return split && formatCivilDate(split.days);
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` in UTC. */
export function formatTimestamp(instant: Instant): string | undefined {
  const split = splitInstant(instant);
  const date = split && formatCivilDate(split.days);
  return date && split && `${date} ${formatTimeOfDay(split.secondOfDay, instant.micros)}`;
}

/** `HH:MM:SS.ffffff` of the instant's UTC time of day. */
export function formatTime(instant: Instant): string | undefined {
  const split = splitInstant(instant);
  return split && formatTimeOfDay(split.secondOfDay, instant.micros);
}
