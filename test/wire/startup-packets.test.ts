import { serialize } from 'pg-protocol';
import { describe, expect, it } from 'vitest';
import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, PROTOCOL_VERSION_3 } from '../../src/pg/protocol-constants.js';
import { buildParse, readBind, readParse, readTarget } from '../../src/wire/extended-messages.js';
import { FrontendReader, ProtocolViolation } from '../../src/wire/frontend-reader.js';
import { startupPacket } from './memory-socket.js';

function readerWith(...chunks: Buffer[]): FrontendReader {
  const reader = new FrontendReader(10_000);
  for (const chunk of chunks) reader.push(chunk);
  return reader;
}

describe('packets before startup', () => {
  it('parses a StartupMessage that arrives in pieces into its protocol version and parameters', () => {
    const packet = serialize.startup({ user: 'alice', database: 'streams', options: '-c search_path=market' });
    const reader = readerWith(packet.subarray(0, 3));
    expect(reader.nextStartupPacket()).toBeUndefined();
    reader.push(packet.subarray(3, 20));
    expect(reader.nextStartupPacket()).toBeUndefined();
    reader.push(packet.subarray(20));
    expect(reader.nextStartupPacket()).toEqual({
      kind: 'startup',
      protocolVersion: PROTOCOL_VERSION_3,
      parameters: new Map([
        ['user', 'alice'],
        ['database', 'streams'],
        ['options', '-c search_path=market'],
        // node-postgres' serializer adds it to every StartupMessage.
        ['client_encoding', 'UTF8'],
      ]),
    });
  });

  it('tells SSLRequest, GSSENCRequest and CancelRequest apart', () => {
    const reader = readerWith(serialize.requestSsl(), startupPacket(GSSENC_REQUEST_CODE), serialize.cancel(11, 22));
    expect(reader.nextStartupPacket()).toEqual({ kind: 'ssl-request' });
    expect(reader.nextStartupPacket()).toEqual({ kind: 'gssenc-request' });
    expect(reader.nextStartupPacket()).toEqual({ kind: 'cancel-request', processId: 11, secretKey: 22 });
  });

  it('refuses lengths a startup packet cannot have, and a malformed one, as protocol violations', () => {
    const tooLong = Buffer.alloc(8);
    tooLong.writeInt32BE(10_001, 0);
    const tooShort = Buffer.alloc(8);
    tooShort.writeInt32BE(7, 0);
    const unterminated = startupPacket(PROTOCOL_VERSION_3, Buffer.from('user\0alice'));
    const shortCancel = startupPacket(CANCEL_REQUEST_CODE, Buffer.alloc(4));
    for (const packet of [tooLong, tooShort, unterminated, shortCancel]) {
      expect(() => readerWith(packet).nextStartupPacket()).toThrow(ProtocolViolation);
    }
  });
});

describe('extended-protocol messages kinesql reads', () => {
  const bodyOf = (bytes: Buffer): Buffer => bytes.subarray(5);

  it('reads the statement name, SQL and parameter types of a Parse, and builds it back byte for byte', () => {
    const sent = serialize.parse({ name: 's1', text: 'select $1::int', types: [23] });
    const { name, sql, rest } = readParse(bodyOf(sent));
    expect({ name, query: sql.text }).toEqual({ name: 's1', query: 'select $1::int' });
    expect(buildParse({ name, query: sql.text, rest })).toEqual(sent);
    expect(buildParse({ name, query: 'select 2', rest })).toEqual(serialize.parse({ name: 's1', text: 'select 2', types: [23] }));
  });

  it('reads the statement a Bind uses and what Describe and Close name', () => {
    expect(readBind(bodyOf(serialize.bind({ portal: 'p', statement: 's1', values: ['1'] })))).toMatchObject({ portal: 'p', statement: 's1' });
    expect(readTarget(bodyOf(serialize.describe({ type: 'S', name: 's1' })), 'Describe')).toEqual({ kind: 'S', name: 's1' });
    expect(readTarget(bodyOf(serialize.close({ type: 'P', name: '' })), 'Close')).toEqual({ kind: 'P', name: '' });
  });

  it('refuses a Parse whose parameter types do not add up', () => {
    const sent = serialize.parse({ text: 'select 1', types: [23, 25] });
    expect(() => readParse(bodyOf(sent).subarray(0, -4))).toThrow(ProtocolViolation);
  });
});
