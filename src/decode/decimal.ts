/**
 * Exact decimal arithmetic on number text, so that integers beyond 2^53 and numeric(p,s) values never
 * pass through a binary float.
 */

/**
 * value = (negative ? -1 : 1) × digits × 10^exponent; digits has no leading zeros ('' for zero). Trailing
 * zeros are kept (`1.50` is digits 150, exponent -2) because an unconstrained numeric keeps the scale written.
 */
export interface Decimal {
  negative: boolean;
  digits: string;
  exponent: number;
}

const DECIMAL_TEXT = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,9}))?$/;

/** Parses decimal text (`-12.50`, `1e21`, `.5`); undefined when it is not a finite decimal number. */
export function parseDecimal(text: string): Decimal | undefined {
  const match = DECIMAL_TEXT.exec(text);
  if (!match) return undefined;
  const whole = match[2] ?? '';
  const fraction = match[3] ?? '';
  if (whole.length === 0 && fraction.length === 0) return undefined;
  const digits = (whole + fraction).replace(/^0+/, '');
  const exponent = Number(match[4] ?? '0') - fraction.length;
  return { negative: match[1] === '-' && digits.length > 0, digits, exponent };
}

/** The same value with trailing zeros folded into the exponent (zero has exponent 0). */
export function normalizeDecimal(value: Decimal): Decimal {
  if (value.digits.length === 0) return { negative: false, digits: '', exponent: 0 };
  const trailingZeros = value.digits.length - value.digits.replace(/0+$/, '').length;
  if (trailingZeros === 0) return value;
  return { negative: value.negative, digits: value.digits.slice(0, -trailingZeros), exponent: value.exponent + trailingZeros };
}

/** The integer value of a decimal, or undefined when it has a fractional part or more than maxDigits digits. */
export function decimalToBigInt(written: Decimal, maxDigits = 40): bigint | undefined {
  const value = normalizeDecimal(written);
  if (value.digits.length === 0) return 0n;
  if (value.exponent < 0) return undefined; // a non-zero fraction remains
  if (value.digits.length + value.exponent > maxDigits) return undefined;
  const magnitude = BigInt(value.digits + '0'.repeat(value.exponent));
  return value.negative ? -magnitude : magnitude;
}

/** PostgreSQL's numeric limits: digits before and after the decimal point. */
const MAX_INTEGER_DIGITS = 131072;
const MAX_FRACTION_DIGITS = 16383;

/**
 * Plain decimal text for a numeric column: rounded half away from zero to `scale` (as PostgreSQL does),
 * undefined when it does not fit numeric(precision, scale) (or PostgreSQL's unconstrained numeric limits).
 */
export function decimalToNumericText(value: Decimal, precision?: number, scale?: number): string | undefined {
  let { digits, exponent } = value;
  if (scale !== undefined && -exponent > scale) {
    const keep = digits.length - (-exponent - scale);
    const roundUp = keep >= 0 && (digits[keep] ?? '0') >= '5';
    let kept = keep > 0 ? digits.slice(0, keep) : '';
    if (roundUp) kept = (BigInt(kept === '' ? '0' : kept) + 1n).toString();
    digits = kept.replace(/^0+/, '');
    exponent = -scale;
  }
  // Fraction digits shown: the column's scale, or as written for an unconstrained numeric.
  const fractionDigits = scale ?? Math.max(0, -exponent);
  if (fractionDigits > MAX_FRACTION_DIGITS) return undefined;
  const integerDigits = Math.max(0, digits.length + exponent);
  if (integerDigits > MAX_INTEGER_DIGITS) return undefined;
  if (precision !== undefined && digits.length > 0 && integerDigits > precision - (scale ?? 0)) return undefined;
  // all digits, scaled so that the last one is at 10^-fractionDigits
  const scaled = exponent + fractionDigits >= 0 ? digits + '0'.repeat(exponent + fractionDigits) : digits.slice(0, digits.length + exponent + fractionDigits);
  const padded = scaled.padStart(fractionDigits + 1, '0');
  const text = fractionDigits === 0 ? padded : `${padded.slice(0, padded.length - fractionDigits)}.${padded.slice(padded.length - fractionDigits)}`;
  return value.negative && /[1-9]/.test(scaled) ? `-${text}` : text;
}
