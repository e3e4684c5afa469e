import type { MessageDefinition } from '../catalog/definition.js';
import type { SchemaRef } from '../registry/schema-ref.js';

/**
 * The result of decoding one message: one value per field of the definition, in the definition's order,
 * each either null or a string in PostgreSQL's text input format for the field's column type (so the
 * store can COPY it without a second conversion), and whether every field decoded.
 */
export interface DecodedRow {
  values: (string | null)[];
  valid: boolean;
}

/**
 * Over the messages it is passed with: how many were read far enough to look their fields up, and per field
 * (definition order) how many of those its mapping found something in. A value present as null is found;
 * a JSON path or Avro field absent, a CSV column past the line's end, a protobuf field the type lacks, a
 * raw byte range past the message's end are not.
 */
export interface MappingMatches {
  messages: number;
  perField: number[];
}

/** Decodes message payloads (already decompressed and de-aggregated) of one table definition. Never throws. */
export interface MessageDecoder {
  /** `matches`, when given, is counted into (only for a table's first messages: see mapping-sample.ts). */
  decode(payload: Uint8Array, matches?: MappingMatches): DecodedRow;
  /**
   * Decoders whose writer schemas come from a schema registry: the schema a payload needs. It must have been
   * fetched (SchemaRegistries.fetch) before decode, which only uses what is known and never waits.
   */
  schemaNeeded?(payload: Uint8Array): SchemaRef | undefined;
  /** Why a schema fetched (or not) for schemaNeeded cannot decode records, or undefined when it can. */
  schemaProblem?(ref: SchemaRef): string | undefined;
}

export type DecoderFactory = (message: MessageDefinition) => MessageDecoder;
