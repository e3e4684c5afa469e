/**
 * kinesql writes its own ErrorResponse and NoticeResponse messages in UTF-8; PostgreSQL sends its messages
 * in the session's client_encoding. This puts the text fields of those messages in the client's encoding
 * (what the encoding cannot hold becomes '?'), leaving every other message as it is.
 */
import type { TextCodec } from './client-encoding.js';

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

/** An ErrorResponse or NoticeResponse from its fields (a code byte, then text up to a 0 byte; a 0 byte ends them). */
function recodeFields(type: number, body: Buffer, codec: TextCodec): Buffer {
  const fields: Buffer[] = [];
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const textEnd = body.indexOf(0, offset + 1);
    if (textEnd < 0) break;
    fields.push(body.subarray(offset, offset + 1), codec.encode(body.toString('utf8', offset + 1, textEnd)), Buffer.from([0]));
    offset = textEnd + 1;
  }
  fields.push(Buffer.from([0]));
  const length = Buffer.alloc(4);
  const content = Buffer.concat(fields);
  length.writeInt32BE(content.length + 4);
  return Buffer.concat([Buffer.from([type]), length, content]);
}
