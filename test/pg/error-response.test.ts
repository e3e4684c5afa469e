import { describe, expect, it } from 'vitest';
import { codecNamed } from '../../src/pg/client-encoding.js';
import { errorFields, errorResponse, noticeResponse } from '../../src/pg/error-response.js';
import { cstring, typedMessage, untypedMessage } from '../../src/pg/framing.js';
import { PgError } from '../../src/pg/pg-error.js';

/** A message as PostgreSQL frames it: type byte, big-endian length (itself included), body. */
const framed = (type: string, length: number, body: string): Buffer =>
  Buffer.concat([Buffer.from(type), Buffer.from([0, 0, 0, length]), Buffer.from(body, 'utf8')]);

describe('ErrorResponse and NoticeResponse', () => {
  it('writes S, V, C, M, D, H, P in the order PostgreSQL sends them, each NUL-terminated, then a NUL', () => {
    const bytes = errorResponse({ sqlstate: '42601', message: 'syntax error at or near "form"', detail: 'the detail', hint: 'the hint', position: 10 });
    expect(bytes).toEqual(framed('E', 84, 'SERROR\0VERROR\0C42601\0Msyntax error at or near "form"\0Dthe detail\0Hthe hint\0P10\0\0'));
  });

  it('leaves out the fields an error does not have, and a FATAL says so in S and V', () => {
    const bytes = errorResponse({ sqlstate: '57P01', message: 'terminating connection due to administrator command' }, 'FATAL');
    expect(bytes).toEqual(framed('E', 79, 'SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0'));
  });

  it('counts the length in bytes of UTF-8, not in characters', () => {
    const bytes = noticeResponse({ sqlstate: '00000', message: 'loading “events”: 5 %' });
    expect(bytes).toEqual(framed('N', 55, 'SNOTICE\0VNOTICE\0C00000\0Mloading “events”: 5 %\0\0'));
  });

  it('writes a PgError as it is: its severity, message, detail, hint and position', () => {
    const error = new PgError('cannot execute INSERT: kinesql is read-only', '25006', { hint: 'use the engine', position: 1 });
    expect(Object.fromEntries(errorFields(errorResponse(error).subarray(5)))).toEqual({
      S: 'ERROR',
      V: 'ERROR',
      C: '25006',
      M: 'cannot execute INSERT: kinesql is read-only',
      H: 'use the engine',
      P: '1',
    });
    const fatal = new PgError('the engine is starting up', '57P03', { severity: 'FATAL', detail: 'try again' });
    expect(Object.fromEntries(errorFields(errorResponse(fatal).subarray(5)))).toMatchObject({ S: 'FATAL', V: 'FATAL', C: '57P03', D: 'try again' });
  });

  it('reads back every field of a body, and stops at a field that is not terminated', () => {
    const body = errorResponse({ sqlstate: '22023', message: 'ä', detail: '' }).subarray(5);
    expect([...errorFields(body)]).toEqual([
      ['S', 'ERROR'],
      ['V', 'ERROR'],
      ['C', '22023'],
      ['M', 'ä'],
      ['D', ''],
    ]);
    expect([...errorFields(Buffer.from('SERROR\0Mcut off'))]).toEqual([['S', 'ERROR']]);
  });
});

describe('PgError', () => {
  it('is an ERROR unless told otherwise, named after its class, and keeps its cause', () => {
    class Refused extends PgError {}
    const cause = new Error('socket closed');
    const error = new Refused('no', '28000', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(PgError);
    expect({ name: error.name, severity: error.severity, sqlstate: error.sqlstate, cause: error.cause }).toEqual({
      name: 'Refused',
      severity: 'ERROR',
      sqlstate: '28000',
      cause,
    });
    expect([error.detail, error.hint, error.position]).toEqual([undefined, undefined, undefined]);
  });
});

describe('framing', () => {
  it('frames a typed message from several parts, and an empty one as five bytes', () => {
    expect(typedMessage('B', Buffer.from('ab'), Buffer.from([0]), Buffer.from('c'))).toEqual(Buffer.from([0x42, 0, 0, 0, 8, 0x61, 0x62, 0, 0x63]));
    expect(typedMessage('S')).toEqual(Buffer.from([0x53, 0, 0, 0, 4]));
  });

  it('frames a startup-phase packet with its length first and its code after it', () => {
    expect(untypedMessage(80877103)).toEqual(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
    expect(untypedMessage(80877102, Buffer.from([0, 0, 0, 7]))).toEqual(Buffer.from([0, 0, 0, 12, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 7]));
  });

  it('ends a string with NUL, in UTF-8 or in the client encoding given', () => {
    expect(cstring('é')).toEqual(Buffer.from([0xc3, 0xa9, 0]));
    expect(cstring('é', codecNamed('LATIN1')!)).toEqual(Buffer.from([0xe9, 0]));
  });
});
