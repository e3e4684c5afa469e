import type { MessageDefinition } from '../catalog/definition.js';

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
}

export type DecoderFactory = (message: MessageDefinition) => MessageDecoder;
