/**
 * kinesql writes its own ErrorResponse and NoticeResponse messages in UTF-8; PostgreSQL sends its messages
 * in the session's client_encoding. This puts the text fields of those messages in the client's encoding
 * (what the encoding cannot hold becomes '?'), leaving every other message as it is.
 */
import type { TextCodec } from './client-encoding.js';
import { errorFields } from './error-response.js';
import { cstring, typedMessage } from './framing.js';

const ERROR_RESPONSE = 0x45;
const NOTICE_RESPONSE = 0x4e;

/** `bytes`: whole backend messages, as kinesql writes them to a client. */
export function inClientEncoding(message: Uint8Array, codec: TextCodec): Uint8Array {
  if (codec.name === 'UTF8' || codec.name === 'SQL_ASCII') return message;
  const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 5 <= bytes.length) {
    const type = bytes[offset]!;
    const end = offset + 1 + bytes.readInt32BE(offset + 1);
    if (end > bytes.length) break;
    const whole = bytes.subarray(offset, end);
    parts.push(type === ERROR_RESPONSE || type === NOTICE_RESPONSE ? recodeFields(type, whole.subarray(5), codec) : whole);
    offset = end;
  }
  if (offset < bytes.length) parts.push(bytes.subarray(offset));
  return Buffer.concat(parts);
}

/** An ErrorResponse or NoticeResponse again, its fields' text in `codec`. */
function recodeFields(type: number, body: Buffer, codec: TextCodec): Buffer {
  const parts: Buffer[] = [];
  for (const [code, text] of errorFields(body)) parts.push(Buffer.from(code, 'latin1'), cstring(text, codec));
  parts.push(Buffer.from([0]));
  return typedMessage(String.fromCharCode(type), ...parts);
}
