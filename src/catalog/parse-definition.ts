import { ColumnTypeError, parseColumnType } from './column-type.js';
import { INTERNAL_COLUMNS, type CompressionCodec, type DataFormat, type FieldDefinition, type MessageDefinition, type TableDefinition } from './definition.js';
import { describe, isObject, stripByteOrderMark, type Fail, type JsonObject } from './definition-values.js';
import { parseMessageSchema } from './message-schema.js';

/**
 * A table definition that cannot be used. `message` reads `<source>: <path>: <problem>`; `path` is a JSON
 * path into the definition (`message.fields[2].type`, empty for the whole file) and `problem` says what is
 * wrong and what was expected.
 */
export class DefinitionError extends Error {
  constructor(
    readonly source: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(path === '' ? `${source}: ${problem}` : `${source}: ${path}: ${problem}`);
    this.name = 'DefinitionError';
  }
}

export interface ParseDefinitionOptions {
  /** Schema for definitions without schemaName or with the seed's `default`. */
  defaultSchema: string;
  /**
   * Reads a file named by `message.dataSchema`, relative to the definition. Only directory sources pass
   * this; without it a dataSchema that is not inline is an error.
   */
  readRelativeFile?: (relativePath: string) => string;
  /** The same for a binary schema file (a protobuf FileDescriptorSet). */
  readRelativeBytes?: (relativePath: string) => Uint8Array;
}

/** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes). */
const MAX_IDENTIFIER_BYTES = 63;
const DATA_FORMATS: readonly DataFormat[] = ['json', 'csv', 'raw', 'avro', 'protobuf', 'dummy'];
const COMPRESSION_CODECS: readonly CompressionCodec[] = ['UNCOMPRESSED', 'GZIP', 'AUTOMATIC'];
const JSON_FIELD_FORMATS = ['iso8601', 'rfc2822', 'custom-date-time', 'seconds-since-epoch', 'milliseconds-since-epoch'];
const RAW_FIELD_FORMATS = ['BYTE', 'SHORT', 'INT', 'LONG', 'FLOAT', 'DOUBLE'];
const INTERNAL_NAMES = new Set<string>(INTERNAL_COLUMNS.map((column) => column.name));

/**
 * Parses and validates one table definition in the seed connector's format. `source` names the file or S3
 * object in error messages and in the result; `version` is its mtime or ETag. Throws DefinitionError.
 */
export function parseDefinition(text: string, source: string, version: string, options: ParseDefinitionOptions): TableDefinition {
  const fail = (path: string, problem: string): never => {
    throw new DefinitionError(source, path, problem);
  };

  let document: unknown;
  try {
    document = JSON.parse(stripByteOrderMark(text));
  } catch (error) {
    return fail('', `not valid JSON (${(error as Error).message}); expected one JSON object`);
  }
  if (!isObject(document)) return fail('', `expected a JSON object, found ${describe(document)}`);

  const tableName = identifier(document, 'tableName', '', fail);
  const writtenSchema = optionalString(document, 'schemaName', '', fail);
  const schemaName =
    writtenSchema === undefined || writtenSchema.trim() === '' || writtenSchema.trim().toLowerCase() === 'default'
      ? options.defaultSchema
      : identifier(document, 'schemaName', '', fail);
  const streamName = requiredString(document, 'streamName', '', fail).trim();
  if (streamName === '') fail('streamName', 'must not be empty; expected the name of a Kinesis stream');
  const comment = optionalString(document, 'comment', '', fail);

  const message = parseMessage(document['message'], fail, options);

  return {
    schemaName,
    tableName,
    streamName,
    message,
    ...(comment === undefined ? {} : { comment }),
    source,
    version,
  };
}

function parseMessage(value: unknown, fail: Fail, options: ParseDefinitionOptions): MessageDefinition {
  if (value === undefined || value === null) return { dataFormat: 'dummy', compressionCodec: 'UNCOMPRESSED', fields: [] };
  if (!isObject(value)) return fail('message', `expected an object with dataFormat and fields, found ${describe(value)}`);

  const writtenFormat = requiredString(value, 'dataFormat', 'message', fail);
  const dataFormat = writtenFormat.trim().toLowerCase() as DataFormat;
  if (!DATA_FORMATS.includes(dataFormat)) {
    fail('message.dataFormat', `unknown data format "${writtenFormat}"; expected one of ${DATA_FORMATS.join(', ')}`);
  }

  const writtenCodec = optionalString(value, 'compressionCodec', 'message', fail);
  const compressionCodec = (writtenCodec?.trim().toUpperCase() ?? 'UNCOMPRESSED') as CompressionCodec;
  if (!COMPRESSION_CODECS.includes(compressionCodec)) {
    fail('message.compressionCodec', `unknown compression codec "${writtenCodec}"; expected one of ${COMPRESSION_CODECS.join(', ')}`);
  }

  const writtenFields = value['fields'];
  let fields: FieldDefinition[] = [];
  if (writtenFields !== undefined && writtenFields !== null) {
    if (!Array.isArray(writtenFields)) fail('message.fields', `expected an array of fields, found ${describe(writtenFields)}`);
    fields = (writtenFields as unknown[]).map((field, index) => parseField(field, `message.fields[${index}]`, dataFormat, fail));
  }
  if (dataFormat === 'dummy' && fields.length > 0) {
    fail('message.fields', 'the dummy data format decodes no fields; expected no fields, or another dataFormat');
  }
  checkUniqueNames(fields, fail);

  return { dataFormat, compressionCodec, fields, ...parseMessageSchema(value, dataFormat, fields, fail, options) };
}

function parseField(value: unknown, path: string, dataFormat: DataFormat, fail: Fail): FieldDefinition {
  if (!isObject(value)) return fail(path, `expected a field object with name, type and mapping, found ${describe(value)}`);

  const name = identifier(value, 'name', path, fail);
  const writtenType = requiredString(value, 'type', path, fail);
  let type: ReturnType<typeof parseColumnType>;
  try {
    type = parseColumnType(writtenType);
  } catch (error) {
    if (error instanceof ColumnTypeError) return fail(`${path}.type`, error.message);
    throw error;
  }

  const mapping = optionalScalar(value, 'mapping', path, fail)?.trim();
  if (dataFormat !== 'dummy' && (mapping === undefined || mapping === '')) {
    fail(`${path}.mapping`, `missing; expected ${MAPPING_FORM[dataFormat]}`);
  }
  if (mapping !== undefined) checkMapping(mapping, `${path}.mapping`, dataFormat, fail);

  let fieldFormat = optionalString(value, 'dataFormat', path, fail)?.trim();
  if (fieldFormat === '') fieldFormat = undefined;
  if (fieldFormat !== undefined) fieldFormat = checkFieldFormat(fieldFormat, `${path}.dataFormat`, dataFormat, fail);
  const formatHint = optionalString(value, 'formatHint', path, fail);
  if (fieldFormat === 'custom-date-time' && (formatHint === undefined || formatHint.trim() === '')) {
    fail(`${path}.formatHint`, 'missing; custom-date-time needs a Joda-Time pattern such as "yyyy-MM-dd HH:mm:ss"');
  }

  const hidden = optionalBoolean(value, 'hidden', path, fail) ?? false;
  const comment = optionalString(value, 'comment', path, fail);
  return {
    name,
    type,
    ...(mapping === undefined ? {} : { mapping }),
    ...(fieldFormat === undefined ? {} : { dataFormat: fieldFormat }),
    ...(formatHint === undefined ? {} : { formatHint }),
    hidden,
    ...(comment === undefined ? {} : { comment }),
  };
}

const MAPPING_FORM: Record<DataFormat, string> = {
  json: 'a slash-separated path into the JSON message such as "user/id"',
  csv: 'a 0-based column index such as "0"',
  raw: 'a byte range "start" or "start:end" such as "0:8"',
  avro: 'a slash-separated path of Avro field names such as "user/id"',
  protobuf: 'a slash-separated path of protobuf field names such as "order/items[0]/sku"',
  dummy: 'nothing',
};

function checkMapping(mapping: string, path: string, dataFormat: DataFormat, fail: Fail): void {
  if (dataFormat === 'csv' && !/^\d+$/.test(mapping)) {
    fail(path, `"${mapping}" is not a column index; expected ${MAPPING_FORM.csv}`);
  }
  if (dataFormat === 'raw') {
    const match = /^(\d+)(?::(\d+))?$/.exec(mapping);
    if (!match) fail(path, `"${mapping}" is not a byte range; expected ${MAPPING_FORM.raw}`);
    const end = match?.[2];
    if (end !== undefined && Number(end) <= Number(match?.[1])) {
      fail(path, `byte range "${mapping}" ends before it starts; expected start < end`);
    }
  }
}

function checkFieldFormat(written: string, path: string, dataFormat: DataFormat, fail: Fail): string {
  if (dataFormat === 'json') {
    const lower = written.toLowerCase();
    if (!JSON_FIELD_FORMATS.includes(lower)) {
      fail(path, `unknown date format "${written}"; expected one of ${JSON_FIELD_FORMATS.join(', ')}`);
    }
    return lower;
  }
  if (dataFormat === 'raw') {
    const upper = written.toUpperCase();
    if (!RAW_FIELD_FORMATS.includes(upper)) {
      fail(path, `unknown raw width "${written}"; expected one of ${RAW_FIELD_FORMATS.join(', ')}`);
    }
    return upper;
  }
  return written;
}

function checkUniqueNames(fields: FieldDefinition[], fail: Fail): void {
  const firstIndex = new Map<string, number>();
  fields.forEach((field, index) => {
    if (INTERNAL_NAMES.has(field.name)) {
      fail(
        `message.fields[${index}].name`,
        `"${field.name}" is the name of an internal column; expected a name that does not clash with ${[...INTERNAL_NAMES].join(', ')}`,
      );
    }
    const earlier = firstIndex.get(field.name);
    if (earlier !== undefined) {
      fail(
        `message.fields[${index}].name`,
        `duplicate column name "${field.name}" (also message.fields[${earlier}]; names are compared in lower case); expected unique names`,
      );
    }
    firstIndex.set(field.name, index);
  });
}

/** A table, schema or column name, folded to lower case as Trino did. */
function identifier(object: JsonObject, key: string, parent: string, fail: Fail): string {
  const path = join(parent, key);
  const written = requiredString(object, key, parent, fail).trim();
  if (written === '') fail(path, 'must not be empty; expected an identifier');
  if (written.includes('\u0000')) fail(path, 'contains a NUL character; expected an identifier');
  const bytes = Buffer.byteLength(written, 'utf8');
  if (bytes > MAX_IDENTIFIER_BYTES) {
    fail(path, `"${written}" is ${bytes} bytes long; expected at most ${MAX_IDENTIFIER_BYTES} bytes (PostgreSQL's identifier limit)`);
  }
  return written.toLowerCase();
}

function requiredString(object: JsonObject, key: string, parent: string, fail: Fail): string {
  const value = optionalString(object, key, parent, fail);
  if (value === undefined) return fail(join(parent, key), 'missing; expected a string');
  return value;
}

function optionalString(object: JsonObject, key: string, parent: string, fail: Fail): string | undefined {
  const value = object[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return fail(join(parent, key), `expected a string, found ${describe(value)}`);
  return value;
}

/** A string, or a number written without quotes (csv indexes are sometimes written as 0). */
function optionalScalar(object: JsonObject, key: string, parent: string, fail: Fail): string | undefined {
  const value = object[key];
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return optionalString(object, key, parent, fail);
}

function optionalBoolean(object: JsonObject, key: string, parent: string, fail: Fail): boolean | undefined {
  const value = object[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const lower = value.trim().toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  return fail(join(parent, key), `expected true or false (or the strings "true"/"false"), found ${describe(value)}`);
}

function join(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}
