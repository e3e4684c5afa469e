/**
 * The writer schema of an `avro` or `protobuf` definition, once its shape is checked: pasted, read from a
 * file next to the definition (.avsc, .proto, or a FileDescriptorSet), or left to a schema registry. A
 * protobuf schema is loaded here, so a schema that does not parse, a `messageType` it lacks or a mapping
 * naming a field it lacks is a definition error with its JSON path.
 */
import type { FieldDefinition, MessageDefinition } from './definition.js';
import type { MessageFile, SchemaText } from './definition-schema.js';
import { stripByteOrderMark, type Fail } from './definition-values.js';
import { parseFieldPath } from './field-path.js';
import { loadProtobufSchema, ProtobufSchemaError, resolveProtobufPath, type ProtobufSchema } from './protobuf-schema.js';

export interface SchemaFileReaders {
  /** Reads a file relative to the definition; only directory sources pass it. */
  readRelativeFile?: (relativePath: string) => string;
  /** The same for binary files (a FileDescriptorSet). */
  readRelativeBytes?: (relativePath: string) => Uint8Array;
}

type WriterSchema = Pick<MessageDefinition, 'dataSchema' | 'descriptorSet' | 'messageType' | 'schemaRegistry'>;

/** File name endings of serialized FileDescriptorSets (`protoc --include_imports -o orders.desc`). */
const DESCRIPTOR_SET_FILE = /\.(desc|pb|binpb|protoset|dsc)$/i;

/** The message's writer schema as a decoder takes it (keys in the order a table's fingerprint has always had). */
export function resolveWriterSchema(message: MessageFile, fail: Fail, readers: SchemaFileReaders): WriterSchema {
  const registryPart = message.schemaRegistry === undefined ? {} : { schemaRegistry: message.schemaRegistry };
  if (message.dataFormat === 'avro') {
    return { ...(message.dataSchema === undefined ? {} : { dataSchema: avroSchemaText(message.dataSchema, fail, readers) }), ...registryPart };
  }
  if (message.dataFormat === 'protobuf') {
    const own = protobufSource(message, fail, readers);
    if (own !== undefined) checkProtobufMappings(own.schema, message.messageType, message.fields, fail);
    return { ...(own?.definition ?? {}), ...(message.messageType === undefined ? {} : { messageType: message.messageType }), ...registryPart };
  }
  return {};
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

function avroSchemaText(written: SchemaText, fail: Fail, readers: SchemaFileReaders): string {
  const path = 'message.dataSchema';
  const text = 'inline' in written ? written.inline : stripByteOrderMark(readRelative(path, written.file, readers.readRelativeFile, fail)).trim();
  try {
    JSON.parse(text);
  } catch (error) {
    const what = 'inline' in written ? 'inline schema' : `schema file "${written.file}"`;
    fail(path, `${what} is not valid JSON (${(error as Error).message}); expected an Avro schema`);
  }
  return text;
}

interface ProtobufSource {
  definition: Pick<MessageDefinition, 'dataSchema' | 'descriptorSet'>;
  schema: ProtobufSchema;
}

/** .proto text inline or from a file, or a FileDescriptorSet from a file or inline (base64 `descriptorSet`). */
function protobufSource(message: MessageFile & { dataFormat: 'protobuf' }, fail: Fail, readers: SchemaFileReaders): ProtobufSource | undefined {
  if (message.descriptorSet !== undefined) {
    const bytes = Buffer.from(message.descriptorSet, 'base64');
    return { definition: { descriptorSet: bytes.toString('base64') }, schema: loadOrFail('message.descriptorSet', { descriptorSet: bytes }, fail) };
  }
  const written = message.dataSchema;
  if (written === undefined) return undefined;
  const path = 'message.dataSchema';
  if ('file' in written && DESCRIPTOR_SET_FILE.test(written.file)) {
    const bytes = readRelative(path, written.file, readers.readRelativeBytes, fail);
    return { definition: { descriptorSet: Buffer.from(bytes).toString('base64') }, schema: loadOrFail(path, { descriptorSet: bytes }, fail) };
  }
  const text = 'inline' in written ? written.inline : stripByteOrderMark(readRelative(path, written.file, readers.readRelativeFile, fail));
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

function checkProtobufMappings(schema: ProtobufSchema, messageType: string | undefined, fields: readonly FieldDefinition[], fail: Fail): void {
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
