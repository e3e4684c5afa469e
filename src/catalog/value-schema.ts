/**
 * Valibot building blocks for the values of a table definition file, with messages in one style: what was
 * expected and what was found (`expected a string, found number 42`), or `missing; expected …`. A JSON `null`
 * reads as an absent key everywhere, as the Trino connector's files rely on.
 */
import * as v from 'valibot';
import { describe, isObject } from './definition-values.js';

/** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes). */
const MAX_IDENTIFIER_BYTES = 63;

type Issue = v.BaseIssue<unknown>;

/** The message of a value of the wrong kind. */
export function found(expected: string): (issue: Issue) => string {
  return (issue) => `expected ${expected}, found ${describe(issue.input)}`;
}

/** The message of an object schema when a required key is missing: `missing` maps a key to what belongs there. */
export function missingKey(missing: Readonly<Record<string, string>>): (issue: Issue) => string {
  return (issue) => {
    const item = issue.path?.at(-1);
    if (item?.origin === 'key') return `missing; expected ${missing[String(item.key)] ?? 'a value'}`;
    return `expected an object, found ${describe(issue.input)}`;
  };
}

/** A string; a required one that is null is missing. */
export const text = v.string((issue) => (issue.input === null ? 'missing; expected a string' : found('a string')(issue)));

/** A string that is not blank, trimmed. */
export const nonBlankText = v.pipe(
  v.string(found('a non-empty string')),
  v.check((written) => written.trim() !== '', found('a non-empty string')),
  v.trim(),
);

/**
 * A JSON object, not an array (valibot's object schemas take both); put before an object or variant schema,
 * which then only reports missing keys.
 */
export function jsonObject(expected: string) {
  return v.custom<Record<string, unknown>>(isObject, found(expected));
}

/** An object with `entries`, described as `expected` when it is not one; `missing` says what a missing key should hold. */
export function objectOf<const TEntries extends v.ObjectEntries>(expected: string, entries: TEntries, missing: Readonly<Record<string, string>> = {}) {
  return v.pipe(jsonObject(expected), v.object(entries, missingKey(missing)));
}

/** A table, schema or column name, folded to lower case as Trino did. */
export const identifier = v.pipe(
  text,
  v.trim(),
  v.nonEmpty('must not be empty; expected an identifier'),
  v.excludes('\u0000', 'contains a NUL character; expected an identifier'),
  v.maxBytes(
    MAX_IDENTIFIER_BYTES,
    (issue) =>
      `"${issue.input}" is ${Buffer.byteLength(issue.input, 'utf8')} bytes long; expected at most ${MAX_IDENTIFIER_BYTES} bytes (PostgreSQL's identifier limit)`,
  ),
  v.toLowerCase(),
);

/** true or false, or the strings "true"/"false" in any case (the Trino connector's files quote them). */
export const flag = v.union(
  [
    v.boolean(),
    v.pipe(
      v.string(),
      v.trim(),
      v.toLowerCase(),
      v.picklist(['true', 'false']),
      v.transform((written) => written === 'true'),
    ),
  ],
  found('true or false (or the strings "true"/"false")'),
);

/** A string compared case-insensitively with `choices`, as `noun "written"` when it is none of them; `fold` spells it as the choices do. */
export function choice<const TChoice extends string>(choices: readonly TChoice[], noun: string, fold: (written: string) => string) {
  return v.pipe(
    text,
    v.trim(),
    v.check(
      (written) => (choices as readonly string[]).includes(fold(written)),
      (issue) => `unknown ${noun} "${issue.input}"; expected one of ${choices.join(', ')}`,
    ),
    v.transform((written) => fold(written) as TChoice),
  );
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type PresentKeys<T> = { [K in keyof T]: undefined extends T[K] ? never : null extends T[K] ? never : K }[keyof T];
/** T with every key whose value may be null or undefined made optional and non-null. */
export type Compact<T> = Simplify<{ [K in PresentKeys<T>]: T[K] } & { [K in Exclude<keyof T, PresentKeys<T>>]?: NonNullable<T[K]> }>;

/**
 * Drops keys whose value is null or undefined, keeping the order of the others: a parsed definition holds
 * only what was given, and its JSON (the fingerprint a built table is compared by) does not change with it.
 */
export function compact<T extends object>(value: T): Compact<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined && entry !== null)) as Compact<T>;
}
