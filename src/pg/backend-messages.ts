import { errorResponse, noticeResponse } from './error-response.js';
import { cstring, int32, typedMessage } from './framing.js';
import type { TransactionStatus } from './protocol-constants.js';

/** Builds backend messages that kinesql writes itself (everything else comes from the engine as bytes). */
export const backend = {
  authenticationOk: (): Buffer => typedMessage('R', int32(0)),
  authenticationCleartextPassword: (): Buffer => typedMessage('R', int32(3)),
  authenticationMd5Password: (salt: Buffer): Buffer => typedMessage('R', int32(5), salt),
  authenticationSasl: (mechanisms: string[]): Buffer => typedMessage('R', int32(10), ...mechanisms.map((name) => cstring(name)), Buffer.from([0])),
  authenticationSaslContinue: (data: Buffer): Buffer => typedMessage('R', int32(11), data),
  authenticationSaslFinal: (data: Buffer): Buffer => typedMessage('R', int32(12), data),
  parameterStatus: (name: string, value: string): Buffer => typedMessage('S', cstring(name), cstring(value)),
  backendKeyData: (processId: number, secretKey: number): Buffer => typedMessage('K', int32(processId), int32(secretKey)),
  readyForQuery: (status: TransactionStatus): Buffer => typedMessage('Z', Buffer.from([status])),
  emptyQueryResponse: (): Buffer => typedMessage('I'),
  parseComplete: (): Buffer => typedMessage('1'),
  bindComplete: (): Buffer => typedMessage('2'),
  closeComplete: (): Buffer => typedMessage('3'),
  noData: (): Buffer => typedMessage('n'),
  negotiateProtocolVersion: (newestMinor: number, unsupported: string[]): Buffer =>
    typedMessage('v', int32(newestMinor), int32(unsupported.length), ...unsupported.map((name) => cstring(name))),
  error: errorResponse,
  notice: noticeResponse,
};
