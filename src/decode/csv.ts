/**
 * The `csv` decoder: one RFC 4180 record per message (comma-separated, double-quoted fields with ""
 * escapes and embedded line breaks). A field's mapping is its 0-based column index; an empty cell or a
 * column past the end of the record is NULL.
 */
import type { MessageDefinition } from '../catalog/definition.js';
import type { Converter } from './convert.js';
import type { DecodedRow, MappingMatches, MessageDecoder } from './decoder.js';
import { createFieldConverter } from './field-decoder.js';
import { INVALID } from './source-value.js';

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Splits one CSV record into its cells; undefined when the text is not exactly one well-formed record
 * (an unterminated quote, text after a closing quote, or a second record). One trailing line break is allowed.
 */
export function parseCsvRecord(text: string): string[] | undefined {
  const cells: string[] = [];
  let i = 0;
  const n = text.length;
  for (;;) {
    let cell = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        const quote = text.indexOf('"', i);
        if (quote < 0) return undefined;
        cell += text.slice(i, quote);
        if (text[quote + 1] === '"') {
          cell += '"';
          i = quote + 2;
        } else {
          i = quote + 1;
          break;
        }
      }
    } else {
      let end = i;
      while (end < n) {
        const ch = text.charCodeAt(end);
        if (ch === 44 /* , */ || ch === 10 /* \n */ || ch === 13 /* \r */) break;
        end++;
      }
      cell = text.slice(i, end);
      i = end;
    }
    cells.push(cell);
    if (i >= n) return cells;
    const ch = text[i];
    if (ch === ',') {
      i++;
      continue;
    }
    if (ch === '\r' && text[i + 1] === '\n') i += 2;
    else if (ch === '\n' || ch === '\r') i++;
    else return undefined; // text after a closing quote
    return i >= n ? cells : undefined;
  }
}

interface CsvField {
  index: number;
  convert: Converter;
}

function parseColumnIndex(fieldName: string, mapping: string | undefined): number {
  if (mapping === undefined || !/^\s*\d+\s*$/.test(mapping)) {
    throw new Error(`field "${fieldName}": csv mapping must be a 0-based column index, got ${mapping === undefined ? 'none' : `"${mapping}"`}`);
  }
  return Number(mapping);
}

export function createCsvDecoder(message: MessageDefinition): MessageDecoder {
  const fields: CsvField[] = message.fields.map((field) => ({
    index: parseColumnIndex(field.name, field.mapping),
    convert: createFieldConverter(field),
  }));
  return {
    decode(payload: Uint8Array, matches?: MappingMatches): DecodedRow {
      let text = utf8.decode(payload);
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      const cells = parseCsvRecord(text);
      if (!cells) return { values: fields.map(() => null), valid: false };
      let valid = true;
      if (matches) matches.messages += 1;
      const values = fields.map((field, i) => {
        const cell = cells[field.index];
        if (matches && cell !== undefined) matches.perField[i]! += 1;
        if (cell === undefined || cell === '') return null;
        const converted = field.convert({ kind: 'string', value: cell });
        if (converted === INVALID) {
          valid = false;
          return null;
        }
        return converted;
      });
      return { values, valid };
    },
  };
}
