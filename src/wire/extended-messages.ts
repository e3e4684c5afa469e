/**
 * Reads and builds the extended-protocol messages kinesql looks into (the SQL of a Parse, the statement a
 * Bind uses) or sends itself. Everything after the names (parameter types, formats, values) is copied
 * byte for byte.
 */
import { UTF8_CODEC, type TextCodec } from '../pg/client-encoding.js';
import { cstring, int32, typedMessage } from '../pg/framing.js';
import { BodyReader, ProtocolViolation } from './frontend-reader.js';
import { ClientSql } from './turn-text.js';

/** A Parse message as kinesql writes it. */
export interface ParseMessage {
  name: string;
  query: string;
  /** Parameter type count and OIDs, as sent. */
  rest: Buffer;
}

/** A Parse message as a client sent it: its SQL left in the client's bytes until it is needed (turn-text.ts). */
export interface ReadParse {
  name: string;
  sql: ClientSql;
  /** Parameter type count and OIDs, as sent. */
  rest: Buffer;
}

/** A Parse message; its query in the session's client encoding. */
export function readParse(body: Buffer, codec: TextCodec = UTF8_CODEC): ReadParse {
  const reader = new BodyReader(body);
  const name = reader.cstring();
  const sql = new ClientSql(reader.cstringBytes(), codec);
  const rest = reader.bytes(reader.remaining);
  if (rest.length < 2 || rest.length !== 2 + 4 * rest.readInt16BE(0)) throw new ProtocolViolation('invalid message format');
  return { name, sql, rest };
}

/** The parameter type OIDs a Parse declares (0: left to the server). */
export function parameterTypes(message: { rest: Buffer }): number[] {
  return Array.from({ length: message.rest.readInt16BE(0) }, (_, i) => message.rest.readUInt32BE(2 + 4 * i));
}

export function buildParse(message: ParseMessage, codec?: TextCodec): Buffer {
  return typedMessage('P', cstring(message.name), cstring(message.query, codec), message.rest);
}

export interface BindMessage {
  portal: string;
  statement: string;
  rest: Buffer;
}

export function readBind(body: Buffer): BindMessage {
  const reader = new BodyReader(body);
  const portal = reader.cstring();
  const statement = reader.cstring();
  return { portal, statement, rest: reader.bytes(reader.remaining) };
}

export function buildBind(message: BindMessage): Buffer {
  return typedMessage('B', cstring(message.portal), cstring(message.statement), message.rest);
}

/** Describe and Close: a kind byte ('S' statement, 'P' portal) and a name. */
export interface TargetMessage {
  kind: 'S' | 'P';
  name: string;
}

export function readTarget(body: Buffer, what: string): TargetMessage {
  const reader = new BodyReader(body);
  const kind = String.fromCharCode(reader.bytes(1)[0]!);
  if (kind !== 'S' && kind !== 'P') throw new ProtocolViolation(`invalid ${what.toUpperCase()} message subtype ${kind.charCodeAt(0)}`);
  const name = reader.cstring();
  return { kind, name };
}

export function buildTarget(type: 'D' | 'C', message: TargetMessage): Buffer {
  return typedMessage(type, Buffer.from(message.kind), cstring(message.name));
}

export interface ExecuteMessage {
  portal: string;
  maxRows: number;
}

export function readExecute(body: Buffer): ExecuteMessage {
  const reader = new BodyReader(body);
  const portal = reader.cstring();
  return { portal, maxRows: reader.int32() };
}

export function buildExecute(message: ExecuteMessage): Buffer {
  return typedMessage('E', cstring(message.portal), int32(message.maxRows));
}

export const SYNC = typedMessage('S');
