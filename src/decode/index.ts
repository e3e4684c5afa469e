import type { MessageDefinition } from '../catalog/definition.js';
import type { SchemaRegistries } from '../registry/schema-registries.js';
import type { MessageDecoder } from './decoder.js';
import { createAvroDecoder } from './avro.js';
import { createCsvDecoder } from './csv.js';
import { createDummyDecoder } from './dummy.js';
import { createJsonDecoder } from './json.js';
import { createProtobufDecoder } from './protobuf-decoder.js';
import { createRawDecoder } from './raw.js';

export type { DecodedRow, MessageDecoder } from './decoder.js';

/**
 * The decoder for a message definition; avro and protobuf decoders look writer schemas up in `registries`
 * (see decoder.ts for how lookups are made before decoding). Throws an Error (naming the field where there is
 * one) for a definition it cannot serve: bad mapping syntax, unknown date format, a schema that does not parse.
 */
export function createDecoder(message: MessageDefinition, registries?: SchemaRegistries): MessageDecoder {
  switch (message.dataFormat) {
    case 'json':
      return createJsonDecoder(message);
    case 'csv':
      return createCsvDecoder(message);
    case 'raw':
      return createRawDecoder(message);
    case 'avro':
      return createAvroDecoder(message, registries);
    case 'protobuf':
      return createProtobufDecoder(message, registries);
    case 'dummy':
      return createDummyDecoder(message);
    default:
      throw new Error(`message dataFormat "${String(message.dataFormat)}" is not supported; expected json, csv, raw, avro, protobuf or dummy`);
  }
}
