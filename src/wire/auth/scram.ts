/**
 * SCRAM-SHA-256 (RFC 5802/7677) as PostgreSQL does it: verifiers in PostgreSQL's stored form
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64), never the password itself.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { PgError } from '../../pg/pg-error.js';
import { SQLSTATE } from '../../pg/sqlstate.js';

export interface ScramVerifier {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const VERIFIER = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

export function parseScramVerifier(text: string): ScramVerifier | undefined {
  const match = VERIFIER.exec(text.trim());
  if (!match) return undefined;
  const verifier = {
    iterations: Number(match[1]),
    salt: Buffer.from(match[2]!, 'base64'),
    storedKey: Buffer.from(match[3]!, 'base64'),
    serverKey: Buffer.from(match[4]!, 'base64'),
  };
  if (verifier.iterations < 1 || verifier.storedKey.length !== 32 || verifier.serverKey.length !== 32) return undefined;
  return verifier;
}

const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

function keysFor(password: string, salt: Buffer, iterations: number): { storedKey: Buffer; serverKey: Buffer } {
  // PostgreSQL applies SASLprep to the password; for ASCII passwords that is the identity.
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  return { storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key') };
}

/** A verifier for a password, as `kinesql scram-verifier` prints it for the properties file. */
export function makeScramVerifier(password: string, iterations = 4096, salt: Buffer = randomBytes(16)): string {
  const { storedKey, serverKey } = keysFor(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** Checks a cleartext password (password authentication) against a verifier. */
export function passwordMatchesVerifier(password: string, verifier: ScramVerifier): boolean {
  const { storedKey } = keysFor(password, verifier.salt, verifier.iterations);
  return timingSafeEqual(storedKey, verifier.storedKey);
}

/** A refused exchange: PostgreSQL's SQLSTATE for it (08P01 protocol, 28000 authorization, 28P01 password). */
export class ScramFailure extends PgError {
  constructor(sqlstate: (typeof SQLSTATE)['protocolViolation' | 'invalidAuthorizationSpecification' | 'invalidPassword'], message: string, detail?: string) {
    super(message, sqlstate, { severity: 'FATAL', detail });
  }
}

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
export const SCRAM_SHA_256_PLUS = 'SCRAM-SHA-256-PLUS';

/** The mechanisms offered, the channel-binding one first (as PostgreSQL): PLUS only when there is binding data. */
export function scramMechanisms(channelBinding: Buffer | undefined): string[] {
  return channelBinding ? [SCRAM_SHA_256_PLUS, SCRAM_SHA_256] : [SCRAM_SHA_256];
}

export interface ScramSetup {
  /** The user of the startup packet; the SCRAM user name (n=) is ignored, as PostgreSQL does. */
  user: string;
  /** The user's verifier, or an unknown user's stand-in (doomed). */
  verifier: ScramVerifier;
  /** An unknown user: the exchange runs exactly as for a known one and then fails. */
  doomed: boolean;
  /** tls-server-end-point data of this TLS connection; undefined on plaintext (PLUS not offered). */
  channelBinding: Buffer | undefined;
}

const malformed = (detail: string): ScramFailure => new ScramFailure(SQLSTATE.protocolViolation, 'malformed SCRAM message', detail);
const PRINTABLE_NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A saslname with =2C and =3D decoded; undefined when it has another `=` escape. */
function decodeSaslName(text: string): string | undefined {
  if (/=(?!2C|3D)/.test(text)) return undefined;
  return text.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** The server side of one SCRAM exchange: client-first → server-first, client-final → server-final. */
export class ScramExchange {
  private gs2Header = '';
  private bindingFlag: 'n' | 'y' | 'p' = 'n';
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';

  constructor(private readonly setup: ScramSetup) {}

  /** Takes the mechanism the client chose and its client-first message; returns server-first. */
  start(mechanism: string, clientFirst: string): string {
    const plus = mechanism === SCRAM_SHA_256_PLUS;
    const header = /^(n|y|p=([^,]*)),(a=[^,]*)?,/.exec(clientFirst);
    if (!header) throw malformed('Unexpected channel-binding flag or authorization identity in client-first-message.');
    this.gs2Header = header[0];
    this.bindingFlag = header[1]!.charAt(0) as 'n' | 'y' | 'p';
    if (this.bindingFlag === 'p') {
      if (!plus) throw malformed('The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.');
      if (header[2] !== 'tls-server-end-point') throw new ScramFailure(SQLSTATE.protocolViolation, `unsupported SCRAM channel-binding type "${header[2]}"`);
    } else if (plus) {
      throw malformed('The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.');
    } else if (this.bindingFlag === 'y' && this.setup.channelBinding) {
      // The client could bind but was made to believe the server cannot: a downgrade, as PostgreSQL sees it.
      throw new ScramFailure(
        SQLSTATE.protocolViolation,
        'SCRAM channel binding negotiation error',
        'The client supports SCRAM channel binding but thinks the server does not.  However, this server does support channel binding.',
      );
    }
    const authzid = header[3] === undefined ? '' : decodeSaslName(header[3].slice(2));
    if (authzid === undefined) throw malformed('Invalid authorization identity in client-first-message.');
    if (authzid !== '' && authzid !== this.setup.user) {
      throw new ScramFailure(SQLSTATE.invalidAuthorizationSpecification, `SCRAM authorization identity "${authzid}" does not match user "${this.setup.user}"`);
    }

    this.clientFirstBare = clientFirst.slice(this.gs2Header.length);
    const attributes = this.clientFirstBare.split(',');
    if (attributes[0]?.startsWith('m=')) throw new ScramFailure(SQLSTATE.protocolViolation, 'client requires an unsupported SCRAM extension');
    if (!attributes[0]?.startsWith('n=') || decodeSaslName(attributes[0].slice(2)) === undefined) {
      throw malformed('Expected attribute "n" in client-first-message.');
    }
    const clientNonce = attributes[1]?.startsWith('r=') ? attributes[1].slice(2) : '';
    if (!PRINTABLE_NONCE.test(clientNonce)) throw malformed('Expected attribute "r" with a printable nonce in client-first-message.');
    this.nonce = clientNonce + randomBytes(18).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${this.setup.verifier.salt.toString('base64')},i=${this.setup.verifier.iterations}`;
    return this.serverFirst;
  }

  /** Returns server-final when the proof is right; throws ScramFailure otherwise. */
  finish(clientFinal: string): string {
    const proofAt = clientFinal.lastIndexOf(',p=');
    if (proofAt < 0) throw malformed('Proof missing in client-final-message.');
    const withoutProof = clientFinal.slice(0, proofAt);
    const fields = /^c=([^,]*),r=([^,]*)(?:,.*)?$/s.exec(withoutProof);
    if (!fields) throw malformed('Expected attributes "c" and "r" in client-final-message.');
    const binding = Buffer.concat([Buffer.from(this.gs2Header), this.bindingFlag === 'p' ? (this.setup.channelBinding ?? Buffer.alloc(0)) : Buffer.alloc(0)]);
    if (fields[1] !== binding.toString('base64')) {
      throw new ScramFailure(
        SQLSTATE.protocolViolation,
        this.bindingFlag === 'p' ? 'SCRAM channel binding check failed' : 'unexpected SCRAM channel-binding attribute in client-final-message',
      );
    }
    if (fields[2] !== this.nonce) throw malformed('Nonce does not match.');
    const proofText = clientFinal.slice(proofAt + 3);
    const proof = Buffer.from(proofText, 'base64');
    if (!BASE64.test(proofText) || proof.length !== 32) throw malformed('Malformed proof in client-final-message.');

    // An unknown user's stand-in verifier is checked just the same, so that the refusal costs what a wrong password does.
    const { storedKey, serverKey } = this.setup.verifier;
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmac(storedKey, authMessage);
    const clientKey = Buffer.from(proof.map((byte, i) => byte ^ clientSignature[i]!));
    const proofMatches = timingSafeEqual(sha256(clientKey), storedKey);
    if (!proofMatches || this.setup.doomed) throw new ScramFailure(SQLSTATE.invalidPassword, 'password authentication failed');
    return `v=${hmac(serverKey, authMessage).toString('base64')}`;
  }
}

/**
 * Secrets of users who are not configured, derived from a key that outlives the process (the engine's, see
 * ClientRoles.derivedKey): the same user name gets the same salt on every attempt and after every restart,
 * with the iteration count real verifiers have, so a challenge does not tell whether the user exists.
 */
export class StandInSecrets {
  constructor(
    private readonly key: Buffer,
    readonly iterations = 4096,
  ) {}

  verifierFor(user: string): ScramVerifier {
    const derive = (purpose: string): Buffer => hmac(this.key, `${purpose}\0${user}`);
    return { iterations: this.iterations, salt: derive('salt').subarray(0, 16), storedKey: derive('stored-key'), serverKey: derive('server-key') };
  }

  /** An md5-form stand-in, for configurations where unknown users get the md5 challenge. */
  md5HashFor(user: string): string {
    return `md5${hmac(this.key, `md5\0${user}`).toString('hex').slice(0, 32)}`;
  }
}
