/**
 * Per-record decompression (`message.compressionCodec`). Every output is bounded by maxBytes, so a
 * compression bomb becomes an invalid row instead of exhausting memory.
 */
import { gunzipSync, inflateSync } from 'node:zlib';
import type { CompressionCodec } from '../catalog/definition.js';

export type DecompressResult = { ok: true; data: Uint8Array } | { ok: false; error: string };

export function isGzip(data: Uint8Array): boolean {
  return data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;
}

/** RFC 1950 header: deflate method, window ≤ 32K, no preset dictionary, header checksum. */
export function isZlib(data: Uint8Array): boolean {
  if (data.length < 2) return false;
  const cmf = data[0] as number;
  const flg = data[1] as number;
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && (flg & 0x20) === 0 && ((cmf << 8) | flg) % 31 === 0;
}

function tooLarge(maxBytes: number): DecompressResult {
  return { ok: false, error: `message is larger than the limit of ${maxBytes} bytes` };
}

function inflateBounded(data: Uint8Array, maxBytes: number, inflate: typeof gunzipSync, what: string): DecompressResult {
  try {
    // maxOutputLength must be ≥ 1; one byte over the limit tells "exactly at the limit" from "over it".
    const out = inflate(data, { maxOutputLength: maxBytes + 1 });
    return out.length > maxBytes ? tooLarge(maxBytes) : { ok: true, data: out };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) return tooLarge(maxBytes);
    return { ok: false, error: `${what} data is corrupt: ${(error as Error).message}` };
  }
}

export function decompress(data: Uint8Array, codec: CompressionCodec, maxBytes: number): DecompressResult {
  switch (codec) {
    case 'GZIP':
      if (!isGzip(data)) return { ok: false, error: 'message is not gzip-compressed (codec GZIP)' };
      return inflateBounded(data, maxBytes, gunzipSync, 'gzip');
    case 'AUTOMATIC': {
      if (isGzip(data)) return inflateBounded(data, maxBytes, gunzipSync, 'gzip');
      if (isZlib(data)) {
        const inflated = inflateBounded(data, maxBytes, inflateSync, 'zlib');
        // Two bytes are weak evidence (text can start with "x^"): data that does not inflate is taken as is.
        if (inflated.ok || inflated.error.startsWith('message is larger')) return inflated;
      }
      return data.length > maxBytes ? tooLarge(maxBytes) : { ok: true, data };
    }
    case 'UNCOMPRESSED':
      return data.length > maxBytes ? tooLarge(maxBytes) : { ok: true, data };
    default:
      return { ok: false, error: `unknown compression codec "${String(codec)}"` };
  }
}
