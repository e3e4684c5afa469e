/**
 * Values of decoded protobuf messages (protobufjs message objects) as the shared SourceValue kinds: 64-bit
 * integers exact (protobufjs gives them as Long), enums by name, google.protobuf.Timestamp as an instant,
 * wrappers as the value they wrap, Struct / Value / ListValue and other messages as JSON text.
 */
import protobuf from 'protobufjs';
import type { ProtobufStep } from '../catalog/protobuf-schema.js';
import { formatTimestamp, makeInstant, type Instant } from './civil-time.js';
import { followPath } from './field-path.js';
import type { SourceValue } from './source-value.js';

type Node = Record<string, unknown>;

const WRAPPERS = new Set(['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map((name) => `.google.protobuf.${name}Value`));
const TIMESTAMP = '.google.protobuf.Timestamp';
const DURATION = '.google.protobuf.Duration';
const ANY = '.google.protobuf.Any';
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** Reads one mapped value out of a decoded message: null for absent, undefined for a path that leads nowhere. */
export type ValueReader = (message: Node) => SourceValue | null | undefined;

/** protobufjs's 64-bit integers: two 32-bit halves (Long), or a number when it had no Long library. */
interface LongBits {
  low: number;
  high: number;
  unsigned: boolean;
}

const TWO_32 = 4294967296;

/** An integer field's value as a number when it is a safe integer, else as a bigint. */
function integerValue(value: unknown): number | bigint {
  if (typeof value === 'number') return value;
  const { low, high, unsigned } = value as LongBits;
  const top = unsigned ? high >>> 0 : high;
  // Within ±2^53 (what Long's own toString reaches by repeated division) a double holds it exactly.
  if (top >= -0x200000 && top < 0x200000) return top * TWO_32 + (low >>> 0);
  return (BigInt(top) << 32n) | BigInt(low >>> 0);
}

function integerText(value: unknown): string {
  return String(integerValue(value));
}

function timestampOf(message: Node): Instant {
  return makeInstant(Number(integerValue(message['seconds'] ?? 0)), Math.floor(Number(message['nanos'] ?? 0) / 1000));
}

/** ProtoJSON's form of a Duration: seconds with up to 9 fractional digits and an `s`. */
function durationText(message: Node): string {
  const seconds = BigInt(integerValue(message['seconds'] ?? 0));
  const nanos = Number(message['nanos'] ?? 0);
  const negative = seconds < 0n || nanos < 0;
  const whole = (seconds < 0n ? -seconds : seconds).toString();
  const fraction = Math.abs(nanos) === 0 ? '' : `.${String(Math.abs(nanos)).padStart(9, '0').replace(/0+$/, '')}`;
  return `${negative ? '-' : ''}${whole}${fraction}s`;
}

/** Which member of a google.protobuf.Value is set, as JSON text. */
function structValueJson(value: Node): string {
  if (Object.hasOwn(value, 'structValue')) return structJson(value['structValue'] as Node);
  if (Object.hasOwn(value, 'listValue')) return listJson(value['listValue'] as Node);
  if (Object.hasOwn(value, 'stringValue')) return JSON.stringify(value['stringValue']);
  if (Object.hasOwn(value, 'numberValue')) return numberJson(value['numberValue'] as number);
  if (Object.hasOwn(value, 'boolValue')) return value['boolValue'] ? 'true' : 'false';
  return 'null';
}

function structJson(struct: Node): string {
  const fields = (struct['fields'] ?? {}) as Record<string, Node>;
  return `{${Object.entries(fields)
    .map(([key, value]) => `${JSON.stringify(key)}:${structValueJson(value)}`)
    .join(',')}}`;
}

function listJson(list: Node): string {
  return `[${((list['values'] ?? []) as Node[]).map(structValueJson).join(',')}]`;
}

function numberJson(value: number): string {
  return Number.isFinite(value) ? String(value) : JSON.stringify(String(value));
}

function wellKnownJson(typeName: string, message: Node): string | undefined {
  if (typeName === TIMESTAMP) return JSON.stringify(formatTimestamp(timestampOf(message)) ?? null);
  if (typeName === DURATION) return JSON.stringify(durationText(message));
  if (typeName === '.google.protobuf.Struct') return structJson(message);
  if (typeName === '.google.protobuf.ListValue') return listJson(message);
  if (typeName === '.google.protobuf.Value') return structValueJson(message);
  if (typeName === ANY) {
    return `{"@type":${JSON.stringify(message['type_url'] ?? '')},"value":${JSON.stringify(Buffer.from((message['value'] as Uint8Array) ?? []).toString('base64'))}}`;
  }
  return undefined;
}

/** JSON text of one element of a field (a repeated field's item, a map's value, or a singular value). */
function elementJson(field: protobuf.Field, value: unknown): string {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) return JSON.stringify(resolved.valuesById[value as number] ?? value);
  if (resolved instanceof protobuf.Type) return messageJson(resolved, value as Node);
  switch (field.type) {
    case 'string':
      return JSON.stringify(value);
    case 'bool':
      return value ? 'true' : 'false';
    case 'bytes':
      return JSON.stringify(Buffer.from(value as Uint8Array).toString('base64'));
    case 'double':
    case 'float':
      return numberJson(value as number);
    default:
      return integerText(value);
  }
}

/** A map's key as text: 64-bit keys are kept by protobufjs as 8-byte hash strings. */
function mapKeyText(field: protobuf.Field, key: string): string {
  const keyType = (field as unknown as { keyType: string }).keyType;
  if (!LONG_TYPES.has(keyType)) return key;
  return protobuf.util.LongBits.fromHash(key)
    .toLong(keyType === 'uint64' || keyType === 'fixed64')
    .toString();
}

/** protobufjs's map key for a 64-bit integer: its 8 bytes, least significant first, as char codes. */
function longHash(value: bigint): string {
  let bits = BigInt.asUintN(64, value);
  let hash = '';
  for (let i = 0; i < 8; i++, bits >>= 8n) hash += String.fromCharCode(Number(bits & 0xffn));
  return hash;
}

/** JSON text of a whole field's value: an array for repeated fields, an object for maps. */
function fieldJson(field: protobuf.Field, value: unknown): string {
  if (field.map) {
    return `{${Object.entries(value as Node)
      .map(([key, item]) => `${JSON.stringify(mapKeyText(field, key))}:${elementJson(field, item)}`)
      .join(',')}}`;
  }
  if (field.repeated) return `[${(value as unknown[]).map((item) => elementJson(field, item)).join(',')}]`;
  return elementJson(field, value);
}

/** A message as JSON text: the fields it carries, by their .proto names, in declaration order. */
export function messageJson(type: protobuf.Type, message: Node): string {
  const wellKnown = wellKnownJson(type.fullName, message);
  if (wellKnown !== undefined) return wellKnown;
  if (WRAPPERS.has(type.fullName)) return elementJson(type.fields['value'] as protobuf.Field, message['value']);
  const members: string[] = [];
  for (const field of type.fieldsArray) {
    if (!Object.hasOwn(message, field.name)) continue;
    const value = message[field.name];
    if (value === null || value === undefined) continue;
    if ((field.repeated && (value as unknown[]).length === 0) || (field.map && Object.keys(value as Node).length === 0)) continue;
    members.push(`${JSON.stringify(field.name)}:${fieldJson(field, value)}`);
  }
  return `{${members.join(',')}}`;
}

type Leaf = (value: unknown) => SourceValue | null;

/** How one element of a field becomes a SourceValue, decided once per field. */
function leafOf(field: protobuf.Field): Leaf {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) return (value) => ({ kind: 'string', value: resolved.valuesById[value as number] ?? String(value) });
  if (resolved instanceof protobuf.Type) {
    const name = resolved.fullName;
    const whenSet =
      (read: (message: Node) => SourceValue | null): Leaf =>
      (value) =>
        value === null || value === undefined ? null : read(value as Node);
    if (name === TIMESTAMP) return whenSet((message) => ({ kind: 'instant', ...timestampOf(message) }));
    if (name === DURATION) return whenSet((message) => ({ kind: 'string', value: durationText(message) }));
    if (WRAPPERS.has(name)) {
      const inner = leafOf(resolved.fields['value'] as protobuf.Field);
      return whenSet((message) => inner(message['value']));
    }
    return whenSet((message) => ({ kind: 'json', text: messageJson(resolved, message) }));
  }
  switch (field.type) {
    case 'string':
      return (value) => ({ kind: 'string', value: value as string });
    case 'bool':
      return (value) => ({ kind: 'boolean', value: value as boolean });
    case 'bytes':
      return (value) => ({ kind: 'bytes', value: value as Uint8Array });
    case 'double':
      return (value) => ({ kind: 'float', value: value as number, single: false });
    case 'float':
      return (value) => ({ kind: 'float', value: value as number, single: true });
    default:
      return (value) => ({ kind: 'number', text: integerText(value) });
  }
}

function jsonSource(value: unknown): SourceValue | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  if (typeof value === 'string') return { kind: 'string', value };
  if (typeof value === 'number') return { kind: 'float', value, single: false };
  if (typeof value === 'boolean') return { kind: 'boolean', value };
  return { kind: 'json', text: JSON.stringify(value) };
}

/** An unset field with presence (proto2 optional without a default, proto3 optional, oneof members) is NULL. */
function absentMeansNull(field: protobuf.Field): boolean {
  return Boolean(field.hasPresence) && (field.options?.['default'] === undefined || field.resolvedType instanceof protobuf.Type);
}

/** A message-walking step, with what it needs worked out in advance. */
type Walk = { kind: 'field'; name: string; nullIfAbsent: boolean } | { kind: 'element'; index: number } | { kind: 'entry'; key: string };

/**
 * A reader for a resolved mapping. Steps below a Struct / Value / ListValue walk its JSON; everything else
 * walks message fields, repeated elements and map entries.
 */
export function compileReader(steps: readonly ProtobufStep[]): ValueReader {
  const jsonAt = steps.findIndex((step) => step.kind === 'json');
  const messageSteps = jsonAt < 0 ? steps : steps.slice(0, jsonAt);
  const jsonPath = jsonAt < 0 ? [] : steps.slice(jsonAt).map((step) => (step as ProtobufStep & { kind: 'json' }).step);
  const last = messageSteps.at(-1);
  const lastField = fieldBefore(messageSteps, messageSteps.length);
  const walks: Walk[] = messageSteps.map((step, at) => {
    if (step.kind === 'field') return { kind: 'field', name: step.field.name, nullIfAbsent: absentMeansNull(step.field) };
    if (step.kind === 'element') return { kind: 'element', index: step.index };
    if (step.kind === 'json') throw new Error('a JSON step among message steps');
    const keyType = (fieldBefore(messageSteps, at) as unknown as { keyType: string }).keyType;
    return { kind: 'entry', key: LONG_TYPES.has(keyType) && /^-?\d+$/.test(step.key) ? longHash(BigInt(step.key)) : step.key };
  });
  let leaf: Leaf;
  if (jsonAt >= 0) {
    const typeName = (lastField.resolvedType as protobuf.Type).fullName;
    leaf = (value) => (value === null ? null : (jsonSource(followPath(JSON.parse(wellKnownJson(typeName, value as Node) ?? 'null'), jsonPath)) ?? null));
  } else if (last?.kind === 'field' && (last.field.repeated || last.field.map)) {
    leaf = (value) => ({ kind: 'json', text: fieldJson(lastField, value) });
  } else leaf = leafOf(lastField);

  return (message) => {
    let node: unknown = message;
    for (const walk of walks) {
      if (node === null || node === undefined || typeof node !== 'object') return undefined;
      if (walk.kind === 'field') {
        if (walk.nullIfAbsent && !Object.hasOwn(node, walk.name)) return null;
        node = (node as Node)[walk.name];
      } else if (walk.kind === 'element') node = Array.isArray(node) ? node[walk.index] : undefined;
      else node = Object.hasOwn(node, walk.key) ? (node as Node)[walk.key] : undefined;
    }
    return node === undefined ? undefined : leaf(node);
  };
}

/** The field of the last field step before `end` (resolved paths start with one). */
function fieldBefore(steps: readonly ProtobufStep[], end: number): protobuf.Field {
  for (let i = end - 1; i >= 0; i--) {
    const step = steps[i] as ProtobufStep;
    if (step.kind === 'field') return step.field;
  }
  throw new Error('a mapping that starts with no field');
}
