import type { TransactionStatus } from './protocol-constants.js';

/** Builds backend messages that kinesql writes itself (everything else comes from the engine as bytes). */
function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function cstring(value: string): Buffer {
  return Buffer.from(`${value}\0`, 'utf8');
}

function int32(value: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeInt32BE(value);
  return out;
}

export const backend = {
  authenticationOk: (): Buffer => message('R', int32(0)),
  authenticationCleartextPassword: (): Buffer => message('R', int32(3)),
  authenticationMd5Password: (salt: Buffer): Buffer => message('R', Buffer.concat([int32(5), salt])),
  authenticationSasl: (mechanisms: string[]): Buffer => message('R', Buffer.concat([int32(10), ...mechanisms.map(cstring), Buffer.from([0])])),
  authenticationSaslContinue: (data: Buffer): Buffer => message('R', Buffer.concat([int32(11), data])),
  authenticationSaslFinal: (data: Buffer): Buffer => message('R', Buffer.concat([int32(12), data])),
  parameterStatus: (name: string, value: string): Buffer => message('S', Buffer.concat([cstring(name), cstring(value)])),
  backendKeyData: (processId: number, secretKey: number): Buffer => message('K', Buffer.concat([int32(processId), int32(secretKey)])),
  readyForQuery: (status: TransactionStatus): Buffer => message('Z', Buffer.from([status])),
  emptyQueryResponse: (): Buffer => message('I'),
  parseComplete: (): Buffer => message('1'),
  bindComplete: (): Buffer => message('2'),
  closeComplete: (): Buffer => message('3'),
  noData: (): Buffer => message('n'),
  negotiateProtocolVersion: (newestMinor: number, unsupported: string[]): Buffer =>
    message('v', Buffer.concat([int32(newestMinor), int32(unsupported.length), ...unsupported.map(cstring)])),
  error: (fields: ErrorFields): Buffer => message('E', noticeFields(fields)),
  notice: (fields: ErrorFields): Buffer => message('N', noticeFields(fields)),
};

export interface ErrorFields {
  severity?: 'ERROR' | 'FATAL' | 'WARNING' | 'NOTICE' | 'INFO' | 'LOG' | 'DEBUG';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: number;
}

function noticeFields(fields: ErrorFields): Buffer {
  const severity = fields.severity ?? 'ERROR';
  const parts: Buffer[] = [
    Buffer.from('S'),
    cstring(severity),
    Buffer.from('V'),
    cstring(severity),
    Buffer.from('C'),
    cstring(fields.code),
    Buffer.from('M'),
    cstring(fields.message),
  ];
  if (fields.detail !== undefined) parts.push(Buffer.from('D'), cstring(fields.detail));
  if (fields.hint !== undefined) parts.push(Buffer.from('H'), cstring(fields.hint));
  if (fields.position !== undefined) parts.push(Buffer.from('P'), cstring(String(fields.position)));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}
