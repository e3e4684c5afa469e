/**
 * The simple Query message a session's backend gets. When the engine's text is the client's and the client's
 * bytes say exactly that text (valid UTF-8, one terminating NUL and nothing after it), the client's message is
 * forwarded as it came: no re-encoding, no new frame. Otherwise it is written anew from the engine's text.
 */
import { isUtf8 } from 'node:buffer';
import { UTF8_CODEC, type TextCodec } from '../pg/client-encoding.js';
import { typedMessage } from '../pg/framing.js';
import type { FrontendMessage } from './frontend-reader.js';

const TERMINATOR = Buffer.from([0]);

export function engineQueryMessage(message: FrontendMessage, clientSql: string, engineSql: string, codec: TextCodec): Buffer {
  if (engineSql === clientSql && saysExactly(message.body, codec)) return message.raw;
  return typedMessage('Q', codec.encode(engineSql), TERMINATOR);
}

/**
 * Whether decoding the body's string and encoding it again gives the body back: UTF-8 (and SQL_ASCII, read as
 * UTF-8) round-trips valid UTF-8 byte for byte; invalid bytes would have been replaced, and bytes after the
 * terminator dropped.
 */
function saysExactly(body: Buffer, codec: TextCodec): boolean {
  if (codec.encode !== UTF8_CODEC.encode) return false;
  const end = body.indexOf(0);
  return end === body.length - 1 && isUtf8(body.subarray(0, end));
}
