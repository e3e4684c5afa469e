/**
 * The simple Query message a session's backend gets. When the engine's text is the client's and the client's
 * bytes say exactly that text (valid UTF-8, one terminating NUL and nothing after it), the client's message is
 * forwarded as it came: no re-encoding, no new frame, and the text is not even decoded. Otherwise it is written
 * anew from the engine's text.
 */
import { isUtf8 } from 'node:buffer';
import { UTF8_CODEC, type TextCodec } from '../pg/client-encoding.js';
import { typedMessage } from '../pg/framing.js';
import type { FrontendMessage } from './frontend-reader.js';

const TERMINATOR = Buffer.from([0]);

/** `engineSql`: the text the engine gets, undefined when it is the client's own (`clientSql` decodes that). */
export function engineQueryMessage(message: FrontendMessage, clientSql: () => string, engineSql: string | undefined, codec: TextCodec): Buffer {
  if ((engineSql === undefined || engineSql === clientSql()) && saysExactly(message.body, codec)) return message.raw;
  return typedMessage('Q', codec.encode(engineSql ?? clientSql()), TERMINATOR);
}

/**
 * Whether the body says its text in a way encoding the text read from it gives the body back. UTF-8 (and
 * SQL_ASCII, read as UTF-8) round-trips valid UTF-8 byte for byte; invalid bytes are read as U+FFFD, so such
 * a text is written anew. Bytes after the terminator are dropped.
 */
function saysExactly(body: Buffer, codec: TextCodec): boolean {
  const end = body.indexOf(0);
  return codec.encode === UTF8_CODEC.encode && end === body.length - 1 && isUtf8(body.subarray(0, end));
}
