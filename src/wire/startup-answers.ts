/**
 * What kinesql answers the packets before authentication with, as PostgreSQL answers them: the FATAL a startup
 * message it will not take gets, NegotiateProtocolVersion, and the refusal of bytes behind an encryption request.
 */
import { backend } from '../pg/backend-messages.js';
import type { ErrorFields } from '../pg/pg-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';

export type FatalFields = Omit<ErrorFields, 'severity'>;

/** Whether the server takes a login now. */
export interface Admission {
  /** When this connection may not log in at all: the FATAL its startup message gets. */
  refusal?: FatalFields;
  /** Whether a session could log in now (kinesql.max-connections). */
  hasRoom(): boolean;
}

/** The FATAL a startup message gets (another protocol, no user, no room), or undefined when it goes on to authentication. */
export function startupRefusal(protocolVersion: number, parameters: ReadonlyMap<string, string>, admission: Admission): FatalFields | undefined {
  const major = protocolVersion >> 16;
  const minor = protocolVersion & 0xffff;
  if (major !== 3) return { sqlstate: SQLSTATE.featureNotSupported, message: `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.0` };
  if (!parameters.get('user')) return { sqlstate: SQLSTATE.invalidAuthorizationSpecification, message: 'no PostgreSQL user name specified in startup packet' };
  if (admission.refusal) return admission.refusal;
  if (!admission.hasRoom()) return { sqlstate: SQLSTATE.tooManyConnections, message: 'sorry, too many clients already' };
  return undefined;
}

/** NegotiateProtocolVersion for a newer minor version or protocol options (`_pq_.`), which kinesql does not take; undefined when neither was asked for. */
export function protocolNegotiation(protocolVersion: number, parameters: ReadonlyMap<string, string>): Buffer | undefined {
  const unsupportedOptions = [...parameters.keys()].filter((name) => name.startsWith('_pq_.'));
  if ((protocolVersion & 0xffff) === 0 && unsupportedOptions.length === 0) return undefined;
  return backend.negotiateProtocolVersion(0, unsupportedOptions);
}

/**
 * Bytes that came in the same packet as an SSLRequest (or GSSENCRequest) were sent before the answer could
 * be read: not encrypted, and possibly injected by a man in the middle (CVE-2021-23214). As PostgreSQL
 * does, they are refused, never read; after 'S' the FATAL goes over the TLS connection once it is up.
 */
export function unencryptedDataAfter(request: 'ssl' | 'gss'): FatalFields {
  return {
    sqlstate: SQLSTATE.protocolViolation,
    message: `received unencrypted data after ${request === 'ssl' ? 'SSL request' : 'GSSAPI encryption request'}`,
    detail: 'This could be either a client-software bug or evidence of an attempted man-in-the-middle attack.',
  };
}
