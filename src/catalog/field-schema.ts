/**
 * The valibot schema of one element of `message.fields`. What a mapping and a per-field dataFormat may be
 * depends on the message's dataFormat, so the schema is made from that format's rules (`FieldRules`).
 */
import * as v from 'valibot';
import { ColumnTypeError, parseColumnType } from './column-type.js';
import { describe } from './definition-values.js';
import { choice, compact, flag, identifier, objectOf, text } from './value-schema.js';

/** A mapping or per-field dataFormat: its value after checks, or null/undefined when it was not given. */
type OptionalText = v.GenericSchema<unknown, string | null | undefined>;

export interface FieldRules {
  /** What a mapping looks like, for messages. */
  mappingForm: string;
  /** Required (and checked) for every format that decodes fields. */
  mapping: OptionalText;
  dataFormat: OptionalText;
}

/** A Presto/Trino or PostgreSQL type name, parsed. */
const columnType = v.pipe(
  text,
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    try {
      return parseColumnType(dataset.value);
    } catch (error) {
      if (!(error instanceof ColumnTypeError)) throw error;
      addIssue({ message: error.message });
      return NEVER;
    }
  }),
);

/** A mapping as text, trimmed; a number is accepted as its digits (csv indexes are sometimes written as 0). */
function scalarText(form: string) {
  const message = (issue: v.BaseIssue<unknown>) => (issue.input === null ? `missing; expected ${form}` : `expected ${form}, found ${describe(issue.input)}`);
  return v.pipe(v.union([v.string(), v.pipe(v.number(), v.transform(String))], message), v.trim());
}

/** A required mapping of the form described. */
export function mappingText(form: string) {
  return v.pipe(scalarText(form), v.nonEmpty(`missing; expected ${form}`));
}

/** A mapping that may be absent, unchecked (the dummy format, which refuses fields anyway). */
export const anyMapping = v.nullish(scalarText('a string'));

/** A per-field dataFormat: blank is the same as absent; `known`, when given, checks and spells the rest. */
export function fieldFormat(known?: v.GenericSchema<string, string>): OptionalText {
  const blankIsAbsent = v.pipe(
    text,
    v.trim(),
    v.transform((written) => (written === '' ? undefined : written)),
  );
  return v.nullish(known === undefined ? blankIsAbsent : v.pipe(blankIsAbsent, v.optional(known)));
}

/** A per-field dataFormat that is one of `choices`, in any case. */
export function fieldFormatOf(choices: readonly string[], noun: string, fold: (written: string) => string): OptionalText {
  return fieldFormat(choice(choices, noun, fold));
}

const CUSTOM_DATE_TIME_HINT = 'missing; custom-date-time needs a Joda-Time pattern such as "yyyy-MM-dd HH:mm:ss"';

export function fieldSchema(rules: FieldRules) {
  return v.pipe(
    objectOf(
      'a field object with name, type and mapping',
      {
        name: identifier,
        type: columnType,
        mapping: rules.mapping,
        dataFormat: rules.dataFormat,
        formatHint: v.nullish(text),
        hidden: v.nullish(flag, false),
        comment: v.nullish(text),
      },
      {
        name: 'a string (the column name)',
        type: 'a string (the column type, such as BIGINT or VARCHAR(20))',
        mapping: rules.mappingForm,
      },
    ),
    v.forward(
      v.check((field) => field.dataFormat !== 'custom-date-time' || (field.formatHint ?? '').trim() !== '', CUSTOM_DATE_TIME_HINT),
      ['formatHint'],
    ),
    v.transform(compact),
  );
}

export type FieldFile = v.InferOutput<ReturnType<typeof fieldSchema>>;
