/**
 * Exact decimal arithmetic on number text, so that integers beyond 2^53 and numeric(p,s) values never
 * pass through a binary float.
 */

/** value = (negative ? -1 : 1) × digits × 10^exponent; digits has no leading zeros ('' for zero). */
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
  let digits = (whole + fraction).replace(/^0+/, '');
  let exponent = Number(match[4] ?? '0') - fraction.length;
  const trailingZeros = /0*$/.exec(digits)?.[0].length ?? 0;
  if (trailingZeros > 0) {
    digits = digits.slice(0, digits.length - trailingZeros);
    exponent += trailingZeros;
  }
  if (digits.length === 0) exponent = 0;
  return { negative: match[1] === '-' && digits.length > 0, digits, exponent };
}

/** The integer value of a decimal, or undefined when it has a fractional part or more than maxDigits digits. */
export function decimalToBigInt(value: Decimal, maxDigits = 40): bigint | undefined {
  if (value.digits.length === 0) return 0n;
  if (value.exponent < 0) return undefined; // trailing zeros were folded into the exponent: a real fraction remains
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
  if (digits.length === 0) return '0';
  const integerDigits = Math.max(0, digits.length + exponent);
  const fractionDigits = Math.max(0, -exponent);
  if (integerDigits > MAX_INTEGER_DIGITS || fractionDigits > MAX_FRACTION_DIGITS) return undefined;
  if (precision !== undefined && integerDigits > precision - (scale ?? 0)) return undefined;
  let text: string;
  if (exponent >= 0) text = digits + '0'.repeat(exponent);
  else if (digits.length > fractionDigits) text = `${digits.slice(0, digits.length - fractionDigits)}.${digits.slice(digits.length - fractionDigits)}`;
  else text = `0.${'0'.repeat(fractionDigits - digits.length)}${digits}`;
  return value.negative ? `-${text}` : text;
}
