/**
 * SCRAM-SHA-256 (RFC 5802/7677) as PostgreSQL does it: verifiers in PostgreSQL's stored form
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64), never the password itself.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

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

export class ScramFailure extends Error {}

/** The server side of one SCRAM exchange: client-first → server-first, client-final → server-final. */
export class ScramExchange {
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';

  /** verifier undefined: an unknown user, who is still walked through the exchange and then refused. */
  constructor(private readonly verifier: ScramVerifier | undefined) {}

  start(clientFirst: string): string {
    const match = /^([ny]),(?:a=[^,]*)?,(.*)$/.exec(clientFirst);
    if (!match) throw new ScramFailure(clientFirst.startsWith('p=') ? 'channel binding is not supported' : 'malformed SCRAM message');
    this.clientFirstBare = match[2]!;
    const clientNonce = /(?:^|,)r=([^,]+)/.exec(this.clientFirstBare)?.[1];
    if (!clientNonce) throw new ScramFailure('malformed SCRAM message');
    this.nonce = clientNonce + randomBytes(18).toString('base64');
    const salt = this.verifier?.salt ?? randomBytes(16);
    this.serverFirst = `r=${this.nonce},s=${salt.toString('base64')},i=${this.verifier?.iterations ?? 4096}`;
    return this.serverFirst;
  }

  /** Returns server-final when the proof is right; throws ScramFailure otherwise. */
  finish(clientFinal: string): string {
    const proofAt = clientFinal.lastIndexOf(',p=');
    if (proofAt < 0) throw new ScramFailure('malformed SCRAM message');
    const withoutProof = clientFinal.slice(0, proofAt);
    const nonce = /(?:^|,)r=([^,]+)/.exec(withoutProof)?.[1];
    if (nonce !== this.nonce) throw new ScramFailure('SCRAM nonce mismatch');
    if (!this.verifier) throw new ScramFailure('password authentication failed');
    const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.verifier.storedKey, authMessage);
    if (proof.length !== clientSignature.length) throw new ScramFailure('password authentication failed');
    const clientKey = Buffer.from(proof.map((byte, i) => byte ^ clientSignature[i]!));
    if (!timingSafeEqual(sha256(clientKey), this.verifier.storedKey)) throw new ScramFailure('password authentication failed');
    return `v=${hmac(this.verifier.serverKey, authMessage).toString('base64')}`;
  }
}
