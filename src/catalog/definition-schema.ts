/**
 * The shape of a table definition file, as one valibot schema: the Trino connector's format and kinesql's
 * additions. Its output type (`DefinitionFile`) is the parsed file, names folded, aliases spelled one way
 * and defaults filled in; parse-definition.ts adds what needs more than the shape (unique column names,
 * writer schemas that load, protobuf mappings that resolve). Keys it does not name are ignored, as the Trino connector
 * ignored them.
 */
import * as v from 'valibot';
import { describe, isObject } from './definition-values.js';
import { anyMapping, fieldFormat, fieldFormatOf, fieldSchema, mappingText, type FieldRules } from './field-schema.js';
import { choice, compact, found, identifier, jsonObject, nonBlankText, objectOf, text } from './value-schema.js';

const DATA_FORMATS = ['json', 'csv', 'raw', 'avro', 'protobuf', 'dummy'] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];
const COMPRESSION_CODECS = ['UNCOMPRESSED', 'GZIP', 'AUTOMATIC'] as const;
const JSON_FIELD_FORMATS = ['iso8601', 'rfc2822', 'custom-date-time', 'seconds-since-epoch', 'milliseconds-since-epoch'];
const RAW_FIELD_FORMATS = ['BYTE', 'SHORT', 'INT', 'LONG', 'FLOAT', 'DOUBLE'];

const lower = (written: string) => written.toLowerCase();
const upper = (written: string) => written.toUpperCase();

const MAPPING_FORM = {
  json: 'a slash-separated path into the JSON message such as "user/id"',
  csv: 'a 0-based column index such as "0"',
  raw: 'a byte range "start" or "start:end" such as "0:8"',
  avro: 'a slash-separated path of Avro field names such as "user/id"',
  protobuf: 'a slash-separated path of protobuf field names such as "order/items[0]/sku"',
} as const;

const BYTE_RANGE = /^(\d+)(?::(\d+))?$/;

const FIELD_RULES: Record<DataFormat, FieldRules> = {
  json: { mappingForm: MAPPING_FORM.json, mapping: mappingText(MAPPING_FORM.json), dataFormat: fieldFormatOf(JSON_FIELD_FORMATS, 'date format', lower) },
  csv: {
    mappingForm: MAPPING_FORM.csv,
    mapping: v.pipe(
      mappingText(MAPPING_FORM.csv),
      v.regex(/^\d+$/, (issue) => `"${issue.input}" is not a column index; expected ${MAPPING_FORM.csv}`),
    ),
    dataFormat: fieldFormat(),
  },
  raw: {
    mappingForm: MAPPING_FORM.raw,
    mapping: v.pipe(
      mappingText(MAPPING_FORM.raw),
      v.regex(BYTE_RANGE, (issue) => `"${issue.input}" is not a byte range; expected ${MAPPING_FORM.raw}`),
      v.check(
        (range) => {
          const [, start, end] = BYTE_RANGE.exec(range) ?? [];
          return end === undefined || Number(end) > Number(start);
        },
        (issue) => `byte range "${issue.input}" ends before it starts; expected start < end`,
      ),
    ),
    dataFormat: fieldFormatOf(RAW_FIELD_FORMATS, 'raw width', upper),
  },
  avro: { mappingForm: MAPPING_FORM.avro, mapping: mappingText(MAPPING_FORM.avro), dataFormat: fieldFormat() },
  protobuf: { mappingForm: MAPPING_FORM.protobuf, mapping: mappingText(MAPPING_FORM.protobuf), dataFormat: fieldFormat() },
  // Refused with any field (below); what a mapping would be does not matter.
  dummy: { mappingForm: 'nothing', mapping: anyMapping, dataFormat: fieldFormat() },
};

const fieldsOf = (format: DataFormat) => v.nullish(v.array(fieldSchema(FIELD_RULES[format]), found('an array of fields')), []);

/** The value of a variant's discriminator: `name` in any case. */
const named = <const TName extends string>(name: TName) => v.pipe(v.string(), v.trim(), v.toLowerCase(), v.literal(name));

const REGISTRY_EXPECTED = '"confluent", "glue", or an object such as {"type": "confluent", "subject": "orders-value"}';
const VERSION_EXPECTED = found('a version number of at least 1 or "latest"');

/** A schema version: a number or its digits; `latest` is the same as none. */
const registryVersion = v.pipe(
  v.union([v.number(), v.string()], VERSION_EXPECTED),
  v.transform((written) => (written === 'latest' ? undefined : typeof written === 'string' && /^\s*\d+\s*$/.test(written) ? Number(written) : written)),
  v.optional(v.pipe(v.number(VERSION_EXPECTED), v.safeInteger(VERSION_EXPECTED), v.minValue(1, VERSION_EXPECTED))),
);

/**
 * `message.schemaRegistry`: `"confluent"` or `"glue"` (records name their schema), or an object that also
 * names the schema of records without a registry header.
 */
export const schemaRegistrySchema = v.pipe(
  v.unknown(),
  v.transform((written) => (typeof written === 'string' ? { type: written } : written)),
  jsonObject(REGISTRY_EXPECTED),
  v.variant(
    'type',
    [
      v.pipe(
        v.object({ type: named('confluent'), subject: v.nullish(nonBlankText), version: v.nullish(registryVersion) }),
        v.forward(
          v.check((reference) => reference.version === undefined || reference.subject != null, 'a version needs a subject; expected a subject too'),
          ['version'],
        ),
        v.transform(compact),
      ),
      v.pipe(
        v.object({ type: named('glue'), registryName: v.nullish(nonBlankText), schemaName: v.nullish(nonBlankText), version: v.nullish(registryVersion) }),
        v.forward(
          v.check(
            (reference) => (reference.version === undefined && reference.registryName == null) || reference.schemaName != null,
            'missing; a registryName or version needs the schema name too',
          ),
          ['schemaName'],
        ),
        v.transform(compact),
      ),
    ],
    found(REGISTRY_EXPECTED),
  ),
);
export type SchemaRegistryReference = v.InferOutput<typeof schemaRegistrySchema>;

/** Whether a registry reference names the schema of unframed records (then dataSchema must not). */
function namesSchema(reference: SchemaRegistryReference | null | undefined): boolean {
  if (reference == null) return false;
  return reference.type === 'confluent' ? reference.subject !== undefined : reference.schemaName !== undefined;
}

/** A writer schema written in the definition, or the path of a file next to it that holds one. */
export type SchemaText = { inline: string } | { file: string };

const AVRO_SCHEMA_EXPECTED = found('an Avro schema (object or JSON text) or a file path');
const avroSchemaText = v.union(
  [
    v.pipe(
      v.custom<Record<string, unknown>>(isObject),
      v.transform((schema): SchemaText => ({ inline: JSON.stringify(schema) })),
    ),
    v.pipe(
      v.string(),
      v.trim(),
      v.nonEmpty(AVRO_SCHEMA_EXPECTED),
      v.transform((written): SchemaText => (/^[{["]/.test(written) ? { inline: written } : { file: written })),
    ),
  ],
  AVRO_SCHEMA_EXPECTED,
);

const PROTO_SCHEMA_EXPECTED = found('.proto text or a file path');
const protoSchemaText = v.pipe(
  v.string(PROTO_SCHEMA_EXPECTED),
  v.trim(),
  v.nonEmpty(PROTO_SCHEMA_EXPECTED),
  v.transform((written): SchemaText => (/[\n;{]/.test(written) ? { inline: written } : { file: written })),
);

const descriptorSetText = v.pipe(v.string(found('a FileDescriptorSet in base64')), v.regex(/^[A-Za-z0-9+/=\s]+$/, found('a FileDescriptorSet in base64')));

const compression = v.nullish(choice(COMPRESSION_CODECS, 'compression codec', upper), 'UNCOMPRESSED');

/** json, csv, raw and dummy decode without a writer schema; framed JSON records need no registry lookup either. */
const noRegistry = (format: DataFormat) =>
  v.nullish(v.never(`the ${format} data format takes no schema; expected schemaRegistry only with avro or protobuf (framed JSON records need no lookup)`));

const schemaless = (format: 'json' | 'csv' | 'raw') =>
  v.pipe(
    v.object({ dataFormat: named(format), compressionCodec: compression, fields: fieldsOf(format), schemaRegistry: noRegistry(format) }),
    v.transform(compact),
  );

const BOTH_SCHEMAS = 'names a writer schema, and so does dataSchema; expected one of them';

const avroMessage = v.pipe(
  v.object({
    dataFormat: named('avro'),
    compressionCodec: compression,
    fields: fieldsOf('avro'),
    schemaRegistry: v.nullish(schemaRegistrySchema),
    dataSchema: v.nullish(avroSchemaText),
  }),
  v.forward(
    v.check(
      (message) => message.dataSchema != null || message.schemaRegistry != null,
      'missing; the avro data format needs the writer schema inline, as a path to a .avsc file, or a schemaRegistry',
    ),
    ['dataSchema'],
  ),
  v.forward(
    v.check((message) => message.dataSchema == null || !namesSchema(message.schemaRegistry), BOTH_SCHEMAS),
    ['schemaRegistry'],
  ),
  v.transform(compact),
);

const protobufMessage = v.pipe(
  v.object({
    dataFormat: named('protobuf'),
    compressionCodec: compression,
    fields: fieldsOf('protobuf'),
    schemaRegistry: v.nullish(schemaRegistrySchema),
    messageType: v.nullish(nonBlankText),
    descriptorSet: v.nullish(descriptorSetText),
    dataSchema: v.nullish(protoSchemaText),
  }),
  v.forward(
    v.check((message) => message.descriptorSet == null || message.dataSchema == null, 'given together with dataSchema; expected one of them'),
    ['descriptorSet'],
  ),
  v.forward(
    v.check(
      (message) => message.dataSchema != null || message.descriptorSet != null || message.schemaRegistry != null,
      'missing; the protobuf data format needs .proto text inline, a path to a .proto or descriptor set file, or a schemaRegistry',
    ),
    ['dataSchema'],
  ),
  v.forward(
    v.check((message) => (message.dataSchema == null && message.descriptorSet == null) || !namesSchema(message.schemaRegistry), BOTH_SCHEMAS),
    ['schemaRegistry'],
  ),
  v.transform(compact),
);

const dummyMessage = v.pipe(
  v.object({
    dataFormat: named('dummy'),
    compressionCodec: compression,
    fields: v.pipe(
      fieldsOf('dummy'),
      v.check((fields) => fields.length === 0, 'the dummy data format decodes no fields; expected no fields, or another dataFormat'),
    ),
    schemaRegistry: noRegistry('dummy'),
  }),
  v.transform(compact),
);

/** `message`, one shape per dataFormat (named in any case). */
const messageSchema = v.pipe(
  jsonObject('an object with dataFormat and fields'),
  v.variant('dataFormat', [schemaless('json'), schemaless('csv'), schemaless('raw'), avroMessage, protobufMessage, dummyMessage], (issue) => {
    const expected = `one of ${DATA_FORMATS.join(', ')}`;
    if (issue.input == null) return `missing; expected ${expected}`;
    if (typeof issue.input === 'string') return `unknown data format "${issue.input}"; expected ${expected}`;
    return `expected ${expected}, found ${describe(issue.input)}`;
  }),
);

/** The Trino connector's `default` (and a blank name) stands for the configured default schema: no schemaName. */
const schemaName = v.pipe(
  text,
  v.trim(),
  v.transform((written) => (written === '' || written.toLowerCase() === 'default' ? undefined : written)),
  v.optional(identifier),
);

export const definitionFileSchema = v.pipe(
  objectOf(
    'a JSON object',
    {
      tableName: identifier,
      schemaName: v.nullish(schemaName),
      streamName: v.pipe(text, v.trim(), v.nonEmpty('must not be empty; expected the name of a Kinesis stream')),
      comment: v.nullish(text),
      // No message: a table of the internal columns only.
      message: v.nullish(messageSchema, { dataFormat: 'dummy' }),
    },
    { tableName: 'a string (the table name)', streamName: 'a string (the name of a Kinesis stream)' },
  ),
  v.transform(compact),
);

export type DefinitionFile = v.InferOutput<typeof definitionFileSchema>;
export type MessageFile = DefinitionFile['message'];
