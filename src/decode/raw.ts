/**
 * The `raw` decoder: fixed byte ranges of the message. A field's mapping is `start[:end]` (0-based byte
 * offsets, end exclusive); its dataFormat is BYTE, SHORT, INT, LONG, FLOAT, DOUBLE (big-endian) or VARCHAR
 * (UTF-8 bytes, to the end of the message when end is absent). A range past the message's end is invalid.
 */
import type { FieldDefinition, MessageDefinition } from '../catalog/definition.js';
import { createConverter, type Converter } from './convert.js';
import type { DecodedRow, MappingMatches, MessageDecoder } from './decoder.js';
import { INVALID, type SourceValue } from './source-value.js';

const WIDTHS = { BYTE: 1, SHORT: 2, INT: 4, LONG: 8, FLOAT: 4, DOUBLE: 8 } as const;
type RawFormat = keyof typeof WIDTHS | 'VARCHAR';

const TEXT_KINDS = new Set(['text', 'varchar', 'char', 'bytea', 'json', 'jsonb', 'uuid']);
const NUMBER_KINDS = new Set(['smallint', 'integer', 'bigint', 'real', 'double', 'numeric', 'boolean']);

interface RawField {
  format: RawFormat;
  start: number;
  /** Exclusive; undefined = to the end of the message (VARCHAR only). */
  end: number | undefined;
  convert: Converter;
  toBoolean: boolean;
  keepNul: boolean;
}

function compileField(field: FieldDefinition): RawField {
  const kind = field.type.kind;
  if (!TEXT_KINDS.has(kind) && !NUMBER_KINDS.has(kind)) {
    throw new Error(`field "${field.name}": the raw decoder cannot fill a ${field.type.sql} column`);
  }
  const written = field.dataFormat?.trim().toUpperCase();
  const format = (written === undefined || written === '' ? (TEXT_KINDS.has(kind) ? 'VARCHAR' : 'BYTE') : written) as RawFormat;
  if (format !== 'VARCHAR' && !(format in WIDTHS)) {
    throw new Error(`field "${field.name}": unknown raw dataFormat "${field.dataFormat}"; expected BYTE, SHORT, INT, LONG, FLOAT, DOUBLE or VARCHAR`);
  }
  const mapping = (field.mapping ?? '0').trim();
  const match = /^(\d+)(?::(\d+))?$/.exec(mapping);
  if (!match) throw new Error(`field "${field.name}": raw mapping must be "start" or "start:end" byte offsets, got "${mapping}"`);
  const start = Number(match[1]);
  let end = match[2] === undefined ? undefined : Number(match[2]);
  if (end !== undefined && end < start) throw new Error(`field "${field.name}": raw mapping "${mapping}" ends before it starts`);
  if (format !== 'VARCHAR') {
    const width = WIDTHS[format];
    if (end !== undefined && end - start !== width) {
      throw new Error(`field "${field.name}": raw mapping "${mapping}" spans ${end - start} bytes but ${format} is ${width}`);
    }
    end = start + width;
    if (TEXT_KINDS.has(kind) && kind !== 'text' && kind !== 'varchar' && kind !== 'char') {
      throw new Error(`field "${field.name}": a ${format} value cannot fill a ${field.type.sql} column`);
    }
  }
  return {
    format,
    start,
    end,
    convert: createConverter(field.name, field.type),
    toBoolean: kind === 'boolean' && format !== 'VARCHAR' && format !== 'FLOAT' && format !== 'DOUBLE',
    keepNul: kind === 'bytea',
  };
}

function readValue(field: RawField, view: DataView, bytes: Uint8Array): SourceValue | undefined {
  const end = field.end ?? bytes.length;
  if (end > bytes.length || field.start > bytes.length) return undefined;
  const at = field.start;
  switch (field.format) {
    case 'BYTE':
      return { kind: 'number', text: String(view.getInt8(at)) };
    case 'SHORT':
      return { kind: 'number', text: String(view.getInt16(at)) };
    case 'INT':
      return { kind: 'number', text: String(view.getInt32(at)) };
    case 'LONG':
      return { kind: 'number', text: view.getBigInt64(at).toString() };
    case 'FLOAT':
      return { kind: 'float', value: view.getFloat32(at), single: true };
    case 'DOUBLE':
      return { kind: 'float', value: view.getFloat64(at), single: false };
    case 'VARCHAR': {
      let stop = end;
      // Fixed-width text fields are commonly NUL-padded: the padding is not part of the text.
      if (!field.keepNul) while (stop > at && bytes[stop - 1] === 0) stop--;
      return { kind: 'bytes', value: bytes.subarray(at, stop) };
    }
  }
}

export function createRawDecoder(message: MessageDefinition): MessageDecoder {
  const fields = message.fields.map(compileField);
  return {
    decode(payload: Uint8Array, matches?: MappingMatches): DecodedRow {
      const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      let valid = true;
      if (matches) matches.messages += 1;
      const values = fields.map((field, i) => {
        const source = readValue(field, view, payload);
        if (matches && source !== undefined) matches.perField[i]! += 1;
        let converted: ReturnType<typeof field.convert>;
        if (source === undefined) converted = INVALID;
        else if (field.toBoolean && source.kind === 'number') converted = source.text === '0' ? 'false' : 'true';
        else converted = field.convert(source);
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
