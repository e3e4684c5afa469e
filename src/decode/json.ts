/**
 * The `json` decoder. Values are looked up by slash paths; numbers keep the exact digits they were written
 * with (JSON.parse would round integers beyond 2^53 such as tweet ids), subtrees keep their JSON text. A
 * schema registry's header (JSON Schema serializers of Confluent and Glue) is skipped: JSON needs no schema.
 */
import { isLosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import type { MessageDefinition } from '../catalog/definition.js';
import type { DecodedRow, MappingMatches, MessageDecoder } from './decoder.js';
import { createFieldConverter } from './field-decoder.js';
import { followPath, parseFieldPath, type PathStep } from './field-path.js';
import { type Converted, INVALID, type SourceValue } from './source-value.js';
import { type Converter, createScalarConverters, type ScalarConverters } from './convert.js';
import { jsonDatum } from './registry-framing.js';

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Whether the text may hold a number token that a binary double does not hold exactly: a run of 16 or more
 * digits (dots included, to be safe), or a digit followed by an exponent letter. Only payloads where this
 * holds pay for the slower lossless parser. A loop, not the regular expression /[0-9.]{16}|[0-9][eE]/ it
 * stands for: that took about a third of JSON.parse's time on the bench's records.
 */
export function mayHoldLossyNumber(text: string): boolean {
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x30 && code <= 0x39) {
      if (++run >= 16) return true;
      const next = text.charCodeAt(i + 1);
      if (next === 0x65 || next === 0x45) return true;
    } else if (code === 0x2e) {
      if (++run >= 16) return true;
    } else run = 0;
  }
  return false;
}

/** What parseJson gives for text that is not JSON. */
const NOT_JSON = Symbol('not JSON');

/** The text parsed; numbers as LosslessNumber when `lossless`, else as doubles. */
function parseJson(text: string, lossless: boolean): unknown {
  try {
    return lossless ? parseLossless(text, null, { onDuplicateKey: ({ newValue }) => newValue }) : JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}

function toSourceValue(node: unknown, lossless: boolean): SourceValue | null | undefined {
  switch (typeof node) {
    case 'string':
      return { kind: 'string', value: node };
    case 'number':
      return { kind: 'number', text: String(node) };
    case 'boolean':
      return { kind: 'boolean', value: node };
    case 'undefined':
      return undefined;
    case 'object':
      if (node === null) return null;
      if (lossless && isLosslessNumber(node)) return { kind: 'number', text: node.value };
      return { kind: 'json', text: lossless ? (stringifyLossless(node) ?? 'null') : JSON.stringify(node) };
    default:
      return undefined;
  }
}

interface JsonField {
  path: PathStep[];
  convert: Converter;
  /** The same conversion for a double or a string as JSON.parse gives them, where one is quicker. */
  scalar: ScalarConverters;
}

export function createJsonDecoder(message: MessageDefinition): MessageDecoder {
  const fields: JsonField[] = message.fields.map((field) => ({
    path: parseFieldPath(field.name, field.mapping ?? field.name),
    convert: createFieldConverter(field),
    scalar: createScalarConverters(field.type),
  }));
  const invalidRow = (): DecodedRow => ({ values: fields.map(() => null), valid: false });
  return {
    decode(payload: Uint8Array, matches?: MappingMatches): DecodedRow {
      let text = utf8.decode(jsonDatum(payload));
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      const lossless = mayHoldLossyNumber(text);
      const root = parseJson(text, lossless);
      if (root === NOT_JSON) return invalidRow();
      const values: (string | null)[] = new Array<string | null>(fields.length);
      let valid = true;
      if (matches) matches.messages += 1;
      for (let i = 0; i < fields.length; i++) {
        const field = fields[i] as JsonField;
        const node = followPath(root, field.path);
        if (matches && node !== undefined) matches.perField[i]! += 1;
        let converted: Converted;
        // JSON.parse gives numbers as doubles only when the text is not lossless.
        if (typeof node === 'number' && field.scalar.number) converted = field.scalar.number(node);
        else if (typeof node === 'string' && field.scalar.string) converted = field.scalar.string(node);
        else {
          const source = toSourceValue(node, lossless);
          if (source === undefined || source === null) {
            values[i] = null; // a missing path or JSON null is NULL, and the row stays valid
            continue;
          }
          converted = field.convert(source);
        }
        if (converted === INVALID) {
          values[i] = null;
          valid = false;
        } else values[i] = converted;
      }
      return { values, valid };
    },
  };
}
