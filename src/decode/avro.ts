/**
 * The `avro` decoder: one binary-encoded datum per message. Its writer schema is the one its registry framing
 * names (Confluent: 0x00 + 4-byte schema id; AWS Glue: 0x03, compression, 16-byte schema version id) when
 * that registry is in use, else the definition's (`dataSchema`, or a subject it names), the framing skipped
 * when present. Fields are slash paths into records and maps (`order/customer/id`) with array indexes
 * (`lines[0]/sku`), matched by name in whichever writer schema a record has; unions are looked through.
 */
import type { MessageDefinition } from '../catalog/definition.js';
import { formatTimestamp, makeInstant } from './civil-time.js';
import type { Converter } from './convert.js';
import type { DecodedRow, MappingMatches, MessageDecoder } from './decoder.js';
import { createFieldConverter } from './field-decoder.js';
import { parseFieldPath, type PathStep } from './field-path.js';
import { AvroSchemaError, parseAvroSchema, type AvroType } from './avro-schema.js';
import { INVALID, type SourceValue } from './source-value.js';
import type { SchemaRegistries } from '../registry/schema-registries.js';
import type { RegistrySchema } from '../registry/schema-ref.js';
import { WriterSchemas } from './writer-schemas.js';

/** A decoded datum: records and maps become Maps, arrays arrays, everything else a SourceValue (or null). */
export type AvroValue = SourceValue | null | AvroValue[] | Map<string, AvroValue>;

class AvroDataError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: false });

class BinaryReader {
  position: number;
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    start: number,
  ) {
    this.position = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.position;
  }

  /** A zig-zag varint long, as a number when it is a safe integer, else as a bigint. */
  readLong(): number | bigint {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 7; i++) {
      const byte = this.byte();
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      multiplier *= 128;
    }
    let big = BigInt(value);
    for (let shift = 49n; shift < 70n; shift += 7n) {
      const byte = this.byte();
      big |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) {
        if (big >= 1n << 64n) throw new AvroDataError('long out of range');
        const decoded = (big & 1n) === 0n ? big >> 1n : -((big + 1n) >> 1n);
        return Number.isSafeInteger(Number(decoded)) ? Number(decoded) : decoded;
      }
    }
    throw new AvroDataError('varint longer than 10 bytes');
  }

  readInt(): number {
    const value = this.readLong();
    if (typeof value !== 'number' || value < -2147483648 || value > 2147483647) throw new AvroDataError('int out of range');
    return value;
  }

  readCount(): number {
    const value = this.readLong();
    if (typeof value !== 'number') throw new AvroDataError('count out of range');
    return value;
  }

  readFixed(size: number): Uint8Array {
    if (size > this.remaining) throw new AvroDataError('datum ends early');
    const out = this.bytes.subarray(this.position, this.position + size);
    this.position += size;
    return out;
  }

  readBytes(): Uint8Array {
    const length = this.readCount();
    if (length < 0) throw new AvroDataError('negative length');
    return this.readFixed(length);
  }

  readFloat(): number {
    const bytes = this.readFixed(4);
    return this.view.getFloat32(bytes.byteOffset - this.bytes.byteOffset, true);
  }

  readDouble(): number {
    const bytes = this.readFixed(8);
    return this.view.getFloat64(bytes.byteOffset - this.bytes.byteOffset, true);
  }

  private byte(): number {
    if (this.position >= this.bytes.length) throw new AvroDataError('datum ends early');
    return this.bytes[this.position++] as number;
  }
}

/** Two's-complement big-endian bytes (Avro decimal) as decimal text with the given scale. */
function decimalText(bytes: Uint8Array, scale: number): string {
  if (bytes.length === 0) return '0';
  let unscaled = BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
  if ((bytes[0] as number) & 0x80) unscaled -= 1n << BigInt(bytes.length * 8);
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString();
  if (scale === 0) return (negative ? '-' : '') + digits;
  const padded = digits.padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${padded.slice(0, padded.length - scale)}.${padded.slice(padded.length - scale)}`;
}

function longToNumberText(value: number | bigint): string {
  return value.toString();
}

function instantFromUnits(value: number | bigint, unitsPerSecond: bigint): SourceValue {
  const big = BigInt(value);
  let seconds = big / unitsPerSecond;
  let rest = big % unitsPerSecond;
  if (rest < 0n) {
    seconds -= 1n;
    rest += unitsPerSecond;
  }
  const micros = Number((rest * 1_000_000n) / unitsPerSecond);
  const instant = makeInstant(Number(seconds), micros);
  return { kind: 'instant', seconds: instant.seconds, micros: instant.micros };
}

function readDatum(type: AvroType, reader: BinaryReader): AvroValue {
  switch (type.type) {
    case 'null':
      return null;
    case 'boolean': {
      const byte = reader.readFixed(1)[0];
      if (byte !== 0 && byte !== 1) throw new AvroDataError('boolean byte is neither 0 nor 1');
      return { kind: 'boolean', value: byte === 1 };
    }
    case 'int': {
      const value = reader.readInt();
      if (type.logicalType === 'date') return { kind: 'instant', seconds: value * 86_400, micros: 0 };
      if (type.logicalType === 'time-millis') return { kind: 'timeOfDay', micros: value * 1000 };
      return { kind: 'number', text: String(value) };
    }
    case 'long': {
      const value = reader.readLong();
      switch (type.logicalType) {
        case 'timestamp-millis':
        case 'local-timestamp-millis':
          return instantFromUnits(value, 1000n);
        case 'timestamp-micros':
        case 'local-timestamp-micros':
          return instantFromUnits(value, 1_000_000n);
        case 'timestamp-nanos':
        case 'local-timestamp-nanos':
          return instantFromUnits(value, 1_000_000_000n);
        case 'time-micros':
          return { kind: 'timeOfDay', micros: Number(value) };
        default:
          return { kind: 'number', text: longToNumberText(value) };
      }
    }
    case 'float':
      return { kind: 'float', value: reader.readFloat(), single: true };
    case 'double':
      return { kind: 'float', value: reader.readDouble(), single: false };
    case 'bytes': {
      const bytes = reader.readBytes();
      return type.logicalType === 'decimal' ? { kind: 'number', text: decimalText(bytes, type.scale ?? 0) } : { kind: 'bytes', value: bytes };
    }
    case 'string':
      return { kind: 'string', value: utf8.decode(reader.readBytes()) };
    case 'fixed': {
      const bytes = reader.readFixed(type.size);
      return type.logicalType === 'decimal' ? { kind: 'number', text: decimalText(bytes, type.scale ?? 0) } : { kind: 'bytes', value: bytes };
    }
    case 'enum': {
      const symbol = type.symbols[reader.readInt()];
      if (symbol === undefined) throw new AvroDataError(`enum index outside ${type.name}`);
      return { kind: 'string', value: symbol };
    }
    case 'union': {
      const branch = type.branches[reader.readInt()];
      if (!branch) throw new AvroDataError('union branch index out of range');
      return readDatum(branch, reader);
    }
    case 'record': {
      const record = new Map<string, AvroValue>();
      for (const field of type.fields) record.set(field.name, readDatum(field.type, reader));
      return record;
    }
    case 'array': {
      const items: AvroValue[] = [];
      readBlocks(reader, () => items.push(readDatum(type.items, reader)));
      return items;
    }
    case 'map': {
      const map = new Map<string, AvroValue>();
      readBlocks(reader, () => {
        const key = utf8.decode(reader.readBytes());
        map.set(key, readDatum(type.values, reader));
      });
      return map;
    }
  }
}

/** Array and map blocks: a count (negative: followed by the block's byte size), items, ..., a zero count. */
function readBlocks(reader: BinaryReader, readItem: () => void): void {
  for (;;) {
    let count = reader.readCount();
    if (count === 0) return;
    if (count < 0) {
      count = -count;
      reader.readCount();
    }
    // Zero-width items (null) could make a tiny datum claim billions of them.
    if (count > reader.remaining + 1024) throw new AvroDataError('block count larger than the datum');
    for (let i = 0; i < count; i++) readItem();
  }
}

/** Decodes one datum that must fill data from `start` to its end exactly. */
function decodeExactly(type: AvroType, data: Uint8Array, start: number): AvroValue | undefined {
  const reader = new BinaryReader(data, start);
  try {
    const value = readDatum(type, reader);
    return reader.remaining === 0 ? value : undefined;
  } catch (error) {
    if (error instanceof AvroDataError || error instanceof RangeError) return undefined;
    throw error;
  }
}

function followAvroPath(root: AvroValue, steps: PathStep[]): AvroValue | undefined {
  let node: AvroValue | undefined = root;
  for (const step of steps) {
    if (node instanceof Map) {
      if (!('key' in step)) return undefined;
      node = node.get(step.key);
    } else if (Array.isArray(node)) {
      const index = 'index' in step ? step.index : /^\d+$/.test(step.key) ? Number(step.key) : -1;
      node = index >= 0 ? node[index] : undefined;
    } else return undefined;
  }
  return node;
}

function leafJson(value: SourceValue): string {
  switch (value.kind) {
    case 'string':
      return JSON.stringify(value.value);
    case 'number':
      return value.text;
    case 'float':
      return Number.isFinite(value.value) ? String(value.value) : JSON.stringify(String(value.value));
    case 'boolean':
      return value.value ? 'true' : 'false';
    case 'json':
      return value.text;
    case 'bytes':
      return JSON.stringify(Buffer.from(value.value).toString('latin1')); // Avro's JSON encoding of bytes
    case 'instant':
      return JSON.stringify(formatTimestamp(value) ?? null);
    case 'timeOfDay':
      return String(value.micros);
  }
}

/** JSON text of a decoded subtree (records and maps as objects). */
export function avroValueToJson(value: AvroValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `[${value.map(avroValueToJson).join(',')}]`;
  if (value instanceof Map) {
    const members: string[] = [];
    for (const [key, member] of value) members.push(`${JSON.stringify(key)}:${avroValueToJson(member)}`);
    return `{${members.join(',')}}`;
  }
  return leafJson(value);
}

interface AvroField {
  path: PathStep[];
  convert: Converter;
}

function compileRegistrySchema(schema: RegistrySchema): AvroType {
  if (schema.format !== 'avro') throw new Error(`is a ${schema.format} schema; this table decodes avro`);
  return parseAvroSchema(schema.text, [...schema.references.values()]);
}

export function createAvroDecoder(message: MessageDefinition, registries?: SchemaRegistries): MessageDecoder {
  let pasted: AvroType | undefined;
  if (message.dataSchema !== undefined && message.dataSchema.trim() !== '') {
    try {
      pasted = parseAvroSchema(message.dataSchema);
    } catch (error) {
      if (error instanceof AvroSchemaError) throw new Error(`avro dataSchema is not a valid schema: ${error.message}`);
      throw error;
    }
  } else if (message.schemaRegistry === undefined) {
    throw new Error('avro messages need the writer schema in dataSchema, or a schemaRegistry');
  }
  const writers = new WriterSchemas(message, registries, pasted, compileRegistrySchema);
  const fields: AvroField[] = message.fields.map((field) => ({
    path: parseFieldPath(field.name, field.mapping ?? field.name),
    convert: createFieldConverter(field),
  }));
  const invalidRow = (): DecodedRow => ({ values: fields.map(() => null), valid: false });
  const decoder: MessageDecoder = {
    decode(payload: Uint8Array, matches?: MappingMatches): DecodedRow {
      const choice = writers.choose(payload);
      if (choice.kind === 'missing') return invalidRow();
      let root: AvroValue | undefined;
      if (choice.kind === 'registry') root = decodeExactly(choice.writer, payload, choice.framing.bodyStart);
      else {
        // Framing for a registry not in use is skipped; an unframed datum may start with the same byte.
        if (choice.framing) root = decodeExactly(choice.writer, payload, choice.framing.bodyStart);
        if (root === undefined) root = decodeExactly(choice.writer, payload, 0);
      }
      if (root === undefined) return invalidRow();
      let valid = true;
      if (matches) matches.messages += 1;
      const values = fields.map((field, i) => {
        const node = followAvroPath(root, field.path);
        if (matches && node !== undefined) matches.perField[i]! += 1;
        if (node === undefined || node === null) return null;
        const source: SourceValue = node instanceof Map || Array.isArray(node) ? { kind: 'json', text: avroValueToJson(node) } : node;
        const converted = field.convert(source);
        if (converted === INVALID) {
          valid = false;
          return null;
        }
        return converted;
      });
      return { values, valid };
    },
  };
  if (writers.usesRegistry) {
    decoder.schemaNeeded = (payload) => writers.refFor(payload);
    decoder.schemaProblem = (ref) => writers.problemWith(ref);
  }
  return decoder;
}
