/**
 * The headers schema-registry serializers put before a message:
 *
 * - Confluent: magic byte 0, the schema id (4 bytes, big-endian), then the datum; for protobuf the datum
 *   starts with the message indexes (see protobuf-decoder.ts).
 * - AWS Glue: header version 3, compression (0 none, 5 zlib), the schema version id (a 16-byte UUID), then
 *   the datum, zlib-compressed when the compression byte says so.
 */
import { inflateSync } from 'node:zlib';

export type Framing = { kind: 'confluent'; id: number; bodyStart: number } | { kind: 'glue'; versionId: string; compressed: boolean; bodyStart: number };

export const CONFLUENT_HEADER_BYTES = 5;
export const GLUE_HEADER_BYTES = 18;
const GLUE_VERSION = 3;
const GLUE_UNCOMPRESSED = 0;
const GLUE_ZLIB = 5;

function uuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The registry header a payload starts with, if it looks like one. */
export function readFraming(payload: Uint8Array): Framing | undefined {
  if (payload.length >= CONFLUENT_HEADER_BYTES && payload[0] === 0) {
    const id = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(1);
    return { kind: 'confluent', id, bodyStart: CONFLUENT_HEADER_BYTES };
  }
  if (payload.length >= GLUE_HEADER_BYTES && payload[0] === GLUE_VERSION && (payload[1] === GLUE_UNCOMPRESSED || payload[1] === GLUE_ZLIB)) {
    return { kind: 'glue', versionId: uuid(payload.subarray(2, GLUE_HEADER_BYTES)), compressed: payload[1] === GLUE_ZLIB, bodyStart: GLUE_HEADER_BYTES };
  }
  return undefined;
}

export type InflateResult = { ok: true; data: Uint8Array } | { ok: false; error: string };

/**
 * A Glue-framed payload whose datum is zlib-compressed, with the datum inflated (and the header saying
 * uncompressed), so decoders and the `_message` column see the datum itself; other payloads as they are.
 * A datum that does not inflate leaves the payload as it was (it may be a message that only looks framed).
 */
export function inflateGlueDatum(payload: Uint8Array, maxBytes: number): InflateResult {
  if (payload.length < GLUE_HEADER_BYTES || payload[0] !== GLUE_VERSION || payload[1] !== GLUE_ZLIB) return { ok: true, data: payload };
  let datum: Buffer;
  try {
    datum = inflateSync(payload.subarray(GLUE_HEADER_BYTES), { maxOutputLength: Math.max(1, maxBytes - GLUE_HEADER_BYTES + 1) });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) return { ok: false, error: `message is larger than the limit of ${maxBytes} bytes` };
    return { ok: true, data: payload };
  }
  if (datum.length + GLUE_HEADER_BYTES > maxBytes) return { ok: false, error: `message is larger than the limit of ${maxBytes} bytes` };
  const out = Buffer.allocUnsafe(GLUE_HEADER_BYTES + datum.length);
  out.set(payload.subarray(0, GLUE_HEADER_BYTES), 0);
  out[1] = GLUE_UNCOMPRESSED;
  out.set(datum, GLUE_HEADER_BYTES);
  return { ok: true, data: out };
}

/** The JSON text of a record: no JSON text starts with byte 0 or 3, so a registry header there is skipped. */
export function jsonDatum(payload: Uint8Array): Uint8Array {
  const first = payload[0];
  if (first !== 0 && first !== GLUE_VERSION) return payload;
  const framing = readFraming(payload);
  return framing === undefined || (framing.kind === 'glue' && framing.compressed) ? payload : payload.subarray(framing.bodyStart);
}
