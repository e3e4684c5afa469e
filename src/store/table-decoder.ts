/**
 * A stream table's record decoder, as its definition's message describes it, with the writer schemas looked
 * up in the schema registries; a field whose mapping matched nothing in the table's first records is logged
 * as a warning naming the definition file.
 */
import type { Logger } from 'pino';
import type { TableDefinition } from '../catalog/definition.js';
import { createRecordDecoder, type RecordDecoder } from '../decode/record-decoder.js';
import type { SchemaRegistries } from '../registry/schema-registries.js';

export interface TableDecoderOptions {
  logger: Logger;
  maxMessageBytes: number;
  /** Where avro and protobuf writer schemas are looked up. */
  schemaRegistries?: SchemaRegistries;
}

export function createTableDecoder(definition: TableDefinition, options: TableDecoderOptions): RecordDecoder {
  const registries = options.schemaRegistries === undefined ? {} : { registries: options.schemaRegistries };
  return createRecordDecoder(definition.message, {
    maxMessageBytes: options.maxMessageBytes,
    ...registries,
    onMappingVerdict: ({ messages, unmatched }) => {
      for (const { field, mapping } of unmatched) {
        options.logger.warn(
          { table: `${definition.schemaName}.${definition.tableName}`, file: definition.source, field, mapping, messages },
          `${definition.source}: field "${field}" (mapping "${mapping}") matched nothing in the first ${messages} records`,
        );
      }
    },
  });
}
