import { describe, expect, it } from 'vitest';
import { backend } from '../../src/pg/backend-messages.js';
import { codecNamed, UTF8_CODEC } from '../../src/pg/client-encoding.js';
import { inClientEncoding } from '../../src/pg/message-encoding.js';

/** The text fields of ErrorResponse/NoticeResponse messages, read as `encoding` (a Node one). */
function fieldsOf(bytes: Uint8Array, encoding: BufferEncoding): string[][] {
  const buffer = Buffer.from(bytes);
  const messages: string[][] = [];
  for (let offset = 0; offset < buffer.length; ) {
    const end = offset + 1 + buffer.readInt32BE(offset + 1);
    const type = String.fromCharCode(buffer[offset]!);
    const fields: string[] = [type];
    if (type === 'E' || type === 'N') {
      for (let at = offset + 5; buffer[at] !== 0; ) {
        const textEnd = buffer.indexOf(0, at + 1);
        fields.push(`${String.fromCharCode(buffer[at]!)}=${buffer.toString(encoding, at + 1, textEnd)}`);
        at = textEnd + 1;
      }
      expect(buffer[end - 1]).toBe(0);
    }
    messages.push(fields);
    offset = end;
  }
  return messages;
}

describe('kinesql messages in the client encoding', () => {
  const error = backend.error({ sqlstate: '42501', message: 'permission denied to set role "rôle"', hint: 'ask for “café”' });
  const notice = backend.notice({ severity: 'NOTICE', sqlstate: '00000', message: 'café: 5 records' });
  const ready = backend.readyForQuery(0x49);

  it('re-encodes the text of errors and notices, keeps other messages, and writes ? for what LATIN1 cannot hold', () => {
    const out = inClientEncoding(Buffer.concat([error, notice, ready]), codecNamed('LATIN1')!);
    expect(fieldsOf(out, 'latin1')).toEqual([
      ['E', 'S=ERROR', 'V=ERROR', 'C=42501', 'M=permission denied to set role "rôle"', 'H=ask for ?café?'],
      ['N', 'S=NOTICE', 'V=NOTICE', 'C=00000', 'M=café: 5 records'],
      ['Z'],
    ]);
    expect(Buffer.from(out).subarray(-ready.length)).toEqual(ready);
  });

  it('leaves UTF8 and SQL_ASCII sessions their UTF-8 bytes', () => {
    const bytes = Buffer.concat([error, notice]);
    expect(inClientEncoding(bytes, UTF8_CODEC)).toBe(bytes);
    expect(inClientEncoding(bytes, codecNamed('SQL_ASCII')!)).toBe(bytes);
  });
});
