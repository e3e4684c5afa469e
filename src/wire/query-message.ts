/**
 * The simple Query message a session's backend gets. When the engine's text is the client's and the client's
 * bytes say exactly that text (UTF-8 read without replacements, one terminating NUL and nothing after it),
 * the client's message is forwarded as it came: no re-encoding, no new frame. Otherwise it is written anew
 * from the engine's text.
 */
import { UTF8_CODEC, type TextCodec } from '../pg/client-encoding.js';
import { typedMessage } from '../pg/framing.js';
import type { FrontendMessage } from './frontend-reader.js';

const TERMINATOR = Buffer.from([0]);

export function engineQueryMessage(message: FrontendMessage, clientSql: string, engineSql: string, codec: TextCodec): Buffer {
  if (engineSql === clientSql && saysExactly(message.body, clientSql, codec)) return message.raw;
  return typedMessage('Q', codec.encode(engineSql), TERMINATOR);
}

/**
 * Whether encoding the text read from the body gives the body back. UTF-8 (and SQL_ASCII, read as UTF-8)
 * round-trips valid UTF-8 byte for byte; reading invalid bytes puts U+FFFD in their place, so a text without
 * one was valid (one with it is written anew, which gives the same bytes when it was). Bytes after the
 * terminator are dropped.
 */
function saysExactly(body: Buffer, text: string, codec: TextCodec): boolean {
  return codec.encode === UTF8_CODEC.encode && body.indexOf(0) === body.length - 1 && !text.includes(REPLACEMENT);
}

const REPLACEMENT = '\ufffd';
