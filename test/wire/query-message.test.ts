import { describe, expect, it } from 'vitest';
import { codecNamed, UTF8_CODEC } from '../../src/pg/client-encoding.js';
import { typedMessage } from '../../src/pg/framing.js';
import { BodyReader, type FrontendMessage } from '../../src/wire/frontend-reader.js';
import { engineQueryMessage } from '../../src/wire/query-message.js';

function received(body: Buffer): FrontendMessage {
  const raw = typedMessage('Q', body);
  return { type: 'Q', body: raw.subarray(5), raw };
}

/** What the engine would read from the message kinesql sends it. */
function engineReads(message: Buffer): Buffer {
  return message.subarray(5, message.length - 1);
}

describe('engineQueryMessage', () => {
  it("forwards the client's own message when the text goes to the engine unchanged", () => {
    const message = received(Buffer.from('select 1, \u00e9t\u00e9, \ufeff\u{1f600}\0', 'utf8'));
    const sql = new BodyReader(message.body).cstring(UTF8_CODEC);
    expect(engineQueryMessage(message, () => sql, undefined, UTF8_CODEC)).toBe(message.raw);
    // A rewrite that came out as the same text.
    expect(engineQueryMessage(message, () => sql, sql, UTF8_CODEC)).toBe(message.raw);
  });

  it("does not decode the client's text when the engine gets it as it came", () => {
    const message = received(Buffer.from('select 1\0', 'utf8'));
    const undecodable = (): string => {
      throw new Error('decoded');
    };
    expect(engineQueryMessage(message, undecodable, undefined, UTF8_CODEC)).toBe(message.raw);
  });

  it('writes the message anew when the engine gets another text', () => {
    const message = received(Buffer.from('show port\0', 'utf8'));
    const sent = engineQueryMessage(message, () => 'show port', "select '5433' as port", UTF8_CODEC);
    expect(sent.readInt32BE(1)).toBe(sent.length - 1);
    expect(engineReads(sent).toString('utf8')).toBe("select '5433' as port");
  });

  it('sends invalid UTF-8 as the text kinesql read, with replacement characters, as before', () => {
    const message = received(Buffer.concat([Buffer.from("select 'a"), Buffer.from([0xff, 0xf0, 0x9f, 0x98]), Buffer.from("'\0")]));
    const sql = new BodyReader(message.body).cstring(UTF8_CODEC);
    const sent = engineQueryMessage(message, () => sql, undefined, UTF8_CODEC);
    expect(sent).not.toBe(message.raw);
    expect(engineReads(sent).toString('utf8')).toBe("select 'a\ufffd\ufffd'");
  });

  it('sends a replacement character the client wrote itself as the same bytes', () => {
    const message = received(Buffer.from("select '\ufffd'\0", 'utf8'));
    const sql = new BodyReader(message.body).cstring(UTF8_CODEC);
    expect(engineQueryMessage(message, () => sql, undefined, UTF8_CODEC)).toEqual(message.raw);
  });

  it('leaves out bytes after the terminating NUL', () => {
    const message = received(Buffer.from('select 1\0junk', 'utf8'));
    const sql = new BodyReader(message.body).cstring(UTF8_CODEC);
    const sent = engineQueryMessage(message, () => sql, undefined, UTF8_CODEC);
    expect(sent.subarray(5).toString('utf8')).toBe('select 1\0');
  });

  it('writes text in a single-byte client encoding through its codec', () => {
    const latin1 = codecNamed('LATIN1')!;
    const message = received(Buffer.from([...Buffer.from("select '"), 0xe9, ...Buffer.from("'\0")]));
    const sql = new BodyReader(message.body).cstring(latin1);
    expect(sql).toBe("select '\u00e9'");
    const sent = engineQueryMessage(message, () => sql, undefined, latin1);
    expect([...engineReads(sent)]).toEqual([...message.body.subarray(0, -1)]);
  });
});
