/**
 * The framing of protocol 3.0, both directions: a typed message (type byte, then a length that counts itself
 * and the body), the untyped packets of the startup phase (length, then a code), and NUL-terminated strings.
 */
import { UTF8_CODEC, type TextCodec } from './client-encoding.js';

/** A typed message whose body is `parts`, one after the other. */
export function typedMessage(type: string, ...parts: Uint8Array[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = Buffer.allocUnsafe(5 + length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + length, 1);
  let offset = 5;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A startup-phase packet (StartupMessage, SSLRequest, CancelRequest): no type byte, its code after the length. */
export function untypedMessage(code: number, body: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeInt32BE(8 + body.length, 0);
  out.writeInt32BE(code, 4);
  out.set(body, 8);
  return out;
}

/** A NUL-terminated string, in UTF-8 or in the session's client encoding. */
export function cstring(value: string, codec: TextCodec = UTF8_CODEC): Buffer {
  if (codec === UTF8_CODEC) return Buffer.from(`${value}\0`, 'utf8');
  const text = codec.encode(value);
  const out = Buffer.allocUnsafe(text.length + 1);
  text.copy(out);
  out[text.length] = 0;
  return out;
}

export function int32(value: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeInt32BE(value);
  return out;
}
