import type { DataFormat, MessageFile, SchemaRegistryReference } from './definition-schema.js';
import type { FieldFile } from './field-schema.js';

/*
 * The shapes of a definition file come from its valibot schema (definition-schema.ts); these are the names
 * the rest of kinesql uses for them.
 */

/** Message formats a table definition can name in `message.dataFormat`. */
export type { DataFormat } from './definition-schema.js';

/** `message.compressionCodec`. */
export type CompressionCodec = MessageFile['compressionCodec'];

/**
 * One mapped column of a table, after validation. Names are already folded to lower case. `mapping` is where
 * the value comes from: a slash path (json), a 0-based column index (csv), `start[:end]` (raw), a field path
 * (avro, protobuf); `dataFormat` a date format for json (`iso8601`, `custom-date-time`, …) or a width for raw
 * (`BYTE`, `INT`, …); `formatHint` its argument, e.g. the Joda pattern for `custom-date-time`.
 */
export type FieldDefinition = FieldFile;

/** A definition's message as decoders take it: the file's, with its writer schema read and checked. */
export interface MessageDefinition {
  dataFormat: DataFormat;
  compressionCodec: CompressionCodec;
  fields: FieldDefinition[];
  /**
   * The writer schema (inline in the definition, or read from the file it names): for `avro` its JSON text,
   * for `protobuf` the text of a .proto file.
   */
  dataSchema?: string;
  /** For `protobuf`, instead of dataSchema: a serialized FileDescriptorSet (`protoc -o`), base64. */
  descriptorSet?: string;
  /** For `protobuf`: the full name of the message type (`shop.Order`); the schema's first message when absent. */
  messageType?: string;
  /** Writer schemas from a schema registry: per record (its framing names the schema) and/or a named subject. */
  schemaRegistry?: SchemaRegistryReference;
}

/**
 * `message.schemaRegistry`. The type alone says that records framed for that registry are decoded with the
 * schema their framing names; a subject (Confluent) or schema (Glue) also gives the schema of unframed
 * records: the version named, or the latest.
 */
export type { SchemaRegistryReference } from './definition-schema.js';

/** A validated table definition: one stream presented as one table. */
export interface TableDefinition {
  /** Schema in the engine; the Trino connector's `default` and a missing schemaName become the configured default schema. */
  schemaName: string;
  tableName: string;
  streamName: string;
  message: MessageDefinition;
  comment?: string;
  /** Where the definition came from: a file path or an s3:// URI. */
  source: string;
  /** mtime (directory) or ETag (S3) of the source when it was read. */
  version: string;
}

/** The internal columns every stream table has, in order (the Trino connector's, all filled). */
export const INTERNAL_COLUMNS = [
  { name: '_shard_id', sql: 'text', comment: 'Kinesis shard the record was read from' },
  { name: '_shard_sequence_id', sql: 'text', comment: 'Sequence number of the record in its shard' },
  { name: '_segment_start', sql: 'text', comment: 'Sequence number of the first record of the GetRecords batch' },
  { name: '_segment_end', sql: 'text', comment: 'Sequence number of the last record of the GetRecords batch' },
  { name: '_segment_count', sql: 'bigint', comment: 'Running count of records read from this shard' },
  { name: '_message_valid', sql: 'boolean', comment: 'true when every mapped field decoded' },
  { name: '_message', sql: 'text', comment: 'The message as text (after decompression)' },
  { name: '_message_length', sql: 'bigint', comment: 'Length of the message in bytes (after decompression)' },
  { name: '_message_timestamp', sql: 'timestamp with time zone', comment: 'ApproximateArrivalTimestamp of the record' },
  { name: '_partition_key', sql: 'text', comment: 'Partition key of the record' },
  { name: '_sub_sequence_number', sql: 'bigint', comment: 'Position of a user record inside a KPL-aggregated record (NULL when not aggregated)' },
] as const;

export type InternalColumnName = (typeof INTERNAL_COLUMNS)[number]['name'];
