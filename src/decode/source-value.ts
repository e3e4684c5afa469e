/**
 * A value as found in a message, before it is converted to a column's PostgreSQL text input form.
 * Each decoder maps its format's values onto these kinds; the conversions (convert.ts) are shared.
 */
export type SourceValue =
  /** Character data: a JSON string, a CSV cell, raw VARCHAR bytes after UTF-8 decoding, an Avro string/enum. */
  | { kind: 'string'; value: string }
  /** An exact decimal number as written (JSON number token, integer read from bytes): never rounded. */
  | { kind: 'number'; text: string }
  /** A binary floating-point number (raw FLOAT/DOUBLE, Avro float/double). */
  | { kind: 'float'; value: number; single: boolean }
  | { kind: 'boolean'; value: boolean }
  /** A JSON object or array, serialized as JSON text (numbers exactly as written). */
  | { kind: 'json'; text: string }
  | { kind: 'bytes'; value: Uint8Array }
  /** A point in time, already resolved to UTC (Avro timestamp/date logical types). */
  | { kind: 'instant'; seconds: number; micros: number }
  /** A time of day without date (Avro time logical types), in microseconds since midnight. */
  | { kind: 'timeOfDay'; micros: number };

/** Returned by a conversion when a present value cannot become a value of the column's type. */
export const INVALID: unique symbol = Symbol('invalid value');
export type Converted = string | null | typeof INVALID;
