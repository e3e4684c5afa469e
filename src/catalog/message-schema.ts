/**
 * The writer schema of an `avro` or `protobuf` definition: pasted (`dataSchema` inline), read from a file next
 * to the definition (.avsc, .proto, or a FileDescriptorSet), or taken from a schema registry
 * (`schemaRegistry`). A pasted protobuf schema is loaded here, so a schema that does not parse, a
 * `messageType` it lacks or a mapping naming a field it lacks is a definition error with its JSON path.
 */
import type { DataFormat, FieldDefinition, MessageDefinition, SchemaRegistryReference } from './definition.js';
import { describe, isObject, stripByteOrderMark, type Fail, type JsonObject } from './definition-values.js';
import { parseFieldPath } from './field-path.js';
import { loadProtobufSchema, ProtobufSchemaError, resolveProtobufPath, type ProtobufSchema } from './protobuf-schema.js';

export interface SchemaFileReaders {
  /** Reads a file relative to the definition; only directory sources pass it. */
  readRelativeFile?: (relativePath: string) => string;
  /** The same for binary files (a FileDescriptorSet). */
  readRelativeBytes?: (relativePath: string) => Uint8Array;
}

type MessageSchema = Pick<MessageDefinition, 'dataSchema' | 'descriptorSet' | 'messageType' | 'schemaRegistry'>;

/** File name endings of serialized FileDescriptorSets (`protoc --include_imports -o orders.desc`). */
const DESCRIPTOR_SET_FILE = /\.(desc|pb|binpb|protoset|dsc)$/i;

export function parseMessageSchema(
  value: JsonObject,
  dataFormat: DataFormat,
  fields: FieldDefinition[],
  fail: Fail,
  readers: SchemaFileReaders,
): MessageSchema {
  const registry = value['schemaRegistry'] === undefined || value['schemaRegistry'] === null ? undefined : parseSchemaRegistry(value['schemaRegistry'], fail);
  if (registry !== undefined && dataFormat !== 'avro' && dataFormat !== 'protobuf') {
    fail(
      'message.schemaRegistry',
      `the ${dataFormat} data format takes no schema; expected schemaRegistry only with avro or protobuf (framed JSON records need no lookup)`,
    );
  }
  const pasted = value['dataSchema'] !== undefined && value['dataSchema'] !== null;
  const named = registry !== undefined && (registry.type === 'confluent' ? registry.subject !== undefined : registry.schemaName !== undefined);
  const registryPart = registry === undefined ? {} : { schemaRegistry: registry };
  if (dataFormat === 'avro') {
    if (!pasted && registry === undefined) {
      fail('message.dataSchema', 'missing; the avro data format needs the writer schema inline, as a path to a .avsc file, or a schemaRegistry');
    }
    if (pasted && named) fail('message.schemaRegistry', 'names a writer schema, and so does dataSchema; expected one of them');
    return { ...(pasted ? { dataSchema: parseAvroDataSchema(value['dataSchema'], fail, readers) } : {}), ...registryPart };
  }
  if (dataFormat === 'protobuf') {
    const messageType = optionalText(value, 'messageType', fail);
    const own = parseProtobufSource(value, fail, readers);
    if (own === undefined && registry === undefined) {
      fail('message.dataSchema', 'missing; the protobuf data format needs .proto text inline, a path to a .proto or descriptor set file, or a schemaRegistry');
    }
    if (own !== undefined && named) fail('message.schemaRegistry', 'names a writer schema, and so does dataSchema; expected one of them');
    if (own !== undefined) checkProtobufMappings(own.schema, messageType, fields, fail);
    return { ...(own?.definition ?? {}), ...(messageType === undefined ? {} : { messageType }), ...registryPart };
  }
  return {};
}

function optionalText(value: JsonObject, key: string, fail: Fail): string | undefined {
  const written = value[key];
  if (written === undefined || written === null) return undefined;
  if (typeof written !== 'string' || written.trim() === '') fail(`message.${key}`, `expected a non-empty string, found ${describe(written)}`);
  return (written as string).trim();
}

function parseSchemaRegistry(value: unknown, fail: Fail): SchemaRegistryReference {
  const path = 'message.schemaRegistry';
  const expected = 'expected "confluent", "glue", or an object such as {"type": "confluent", "subject": "orders-value"}';
  const object = typeof value === 'string' ? { type: value } : value;
  if (!isObject(object)) return fail(path, `${expected}, found ${describe(value)}`);
  const type = typeof object['type'] === 'string' ? object['type'].trim().toLowerCase() : undefined;
  if (type !== 'confluent' && type !== 'glue') return fail(`${path}.type`, `${expected}, found ${describe(object['type'])}`);
  const text = (key: string): string | undefined => {
    const written = object[key];
    if (written === undefined || written === null) return undefined;
    if (typeof written !== 'string' || written.trim() === '') fail(`${path}.${key}`, `expected a non-empty string, found ${describe(written)}`);
    return (written as string).trim();
  };
  const writtenVersion = object['version'];
  let version: number | undefined;
  if (writtenVersion !== undefined && writtenVersion !== null && writtenVersion !== 'latest') {
    version = typeof writtenVersion === 'string' && /^\d+$/.test(writtenVersion.trim()) ? Number(writtenVersion) : (writtenVersion as number);
    if (!Number.isSafeInteger(version) || version < 1)
      fail(`${path}.version`, `expected a version number of at least 1 or "latest", found ${describe(writtenVersion)}`);
  }
  const versionPart = version === undefined ? {} : { version };
  if (type === 'confluent') {
    const subject = text('subject');
    if (version !== undefined && subject === undefined) fail(`${path}.version`, 'a version needs a subject; expected a subject too');
    return { type, ...(subject === undefined ? {} : { subject }), ...versionPart };
  }
  const registryName = text('registryName');
  const schemaName = text('schemaName');
  if ((version !== undefined || registryName !== undefined) && schemaName === undefined) {
    fail(`${path}.schemaName`, 'missing; a registryName or version needs the schema name too');
  }
  return { type, ...(registryName === undefined ? {} : { registryName }), ...(schemaName === undefined ? {} : { schemaName }), ...versionPart };
}

function readRelative<T>(path: string, file: string, read: ((file: string) => T) | undefined, fail: Fail): T {
  if (read === undefined) {
    return fail(path, `"${file}" looks like a file path; files are only resolved for definitions in a directory, expected the schema inline`);
  }
  try {
    return read(file);
  } catch (error) {
    return fail(path, `cannot read schema file "${file}" (${(error as Error).message}); expected a path relative to the definition file`);
  }
}

function parseAvroDataSchema(value: unknown, fail: Fail, readers: SchemaFileReaders): string {
  const path = 'message.dataSchema';
  if (isObject(value)) return JSON.stringify(value);
  if (typeof value !== 'string') return fail(path, `expected an Avro schema (object or JSON text) or a file path, found ${describe(value)}`);
  const trimmed = value.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[') || trimmed.startsWith('"')) {
    try {
      JSON.parse(trimmed);
    } catch (error) {
      fail(path, `inline schema is not valid JSON (${(error as Error).message}); expected an Avro schema`);
    }
    return trimmed;
  }
  const text = stripByteOrderMark(readRelative(path, trimmed, readers.readRelativeFile, fail));
  try {
    JSON.parse(text);
  } catch (error) {
    fail(path, `schema file "${trimmed}" is not valid JSON (${(error as Error).message}); expected an Avro schema`);
  }
  return text.trim();
}

interface ProtobufSourceParsed {
  definition: Pick<MessageDefinition, 'dataSchema' | 'descriptorSet'>;
  schema: ProtobufSchema;
}

/** .proto text inline or from a file, or a FileDescriptorSet from a file or inline (base64 `descriptorSet`). */
function parseProtobufSource(value: JsonObject, fail: Fail, readers: SchemaFileReaders): ProtobufSourceParsed | undefined {
  const written = value['dataSchema'];
  const writtenSet = value['descriptorSet'];
  if (writtenSet !== undefined && writtenSet !== null) {
    if (written !== undefined && written !== null) fail('message.descriptorSet', 'given together with dataSchema; expected one of them');
    if (typeof writtenSet !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(writtenSet)) {
      fail('message.descriptorSet', `expected a FileDescriptorSet in base64, found ${describe(writtenSet)}`);
    }
    const bytes = Buffer.from(writtenSet as string, 'base64');
    return { definition: { descriptorSet: bytes.toString('base64') }, schema: loadOrFail('message.descriptorSet', { descriptorSet: bytes }, fail) };
  }
  if (written === undefined || written === null) return undefined;
  const path = 'message.dataSchema';
  if (typeof written !== 'string' || written.trim() === '') return fail(path, `expected .proto text or a file path, found ${describe(written)}`);
  const trimmed = written.trim();
  const inline = /[\n;{]/.test(trimmed);
  if (!inline && DESCRIPTOR_SET_FILE.test(trimmed)) {
    const bytes = readRelative(path, trimmed, readers.readRelativeBytes, fail);
    return { definition: { descriptorSet: Buffer.from(bytes).toString('base64') }, schema: loadOrFail(path, { descriptorSet: bytes }, fail) };
  }
  const text = inline ? trimmed : stripByteOrderMark(readRelative(path, trimmed, readers.readRelativeFile, fail));
  return { definition: { dataSchema: text }, schema: loadOrFail(path, { text }, fail) };
}

function loadOrFail(path: string, source: Parameters<typeof loadProtobufSchema>[0], fail: Fail): ProtobufSchema {
  try {
    return loadProtobufSchema(source);
  } catch (error) {
    if (error instanceof ProtobufSchemaError) return fail(path, `not a usable protobuf schema: ${error.message}`);
    throw error;
  }
}

function checkProtobufMappings(schema: ProtobufSchema, messageType: string | undefined, fields: FieldDefinition[], fail: Fail): void {
  let type: ReturnType<ProtobufSchema['messageType']>;
  try {
    type = schema.messageType(messageType);
  } catch (error) {
    if (!(error instanceof ProtobufSchemaError)) throw error;
    fail(messageType === undefined ? 'message.dataSchema' : 'message.messageType', error.message);
  }
  for (const [index, field] of fields.entries()) {
    const at = `message.fields[${index}].mapping`;
    let steps: ReturnType<typeof parseFieldPath>;
    try {
      steps = parseFieldPath(field.name, field.mapping ?? field.name);
    } catch (error) {
      fail(at, (error as Error).message);
    }
    const resolved = resolveProtobufPath(type, steps);
    if (typeof resolved === 'string') fail(at, `"${field.mapping}" does not resolve: ${resolved}`);
  }
}
