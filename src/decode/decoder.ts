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

/** Decodes message payloads (already decompressed and de-aggregated) of one table definition. Never throws. */
export interface MessageDecoder {
  decode(payload: Uint8Array): DecodedRow;
  /**
   * Decoders whose writer schemas come from a schema registry: the schema a payload needs. It must have been
   * fetched (SchemaRegistries.fetch) before decode, which only uses what is known and never waits.
   */
  schemaNeeded?(payload: Uint8Array): SchemaRef | undefined;
  /** Why a schema fetched (or not) for schemaNeeded cannot decode records, or undefined when it can. */
  schemaProblem?(ref: SchemaRef): string | undefined;
}

export type DecoderFactory = (message: MessageDefinition) => MessageDecoder;
