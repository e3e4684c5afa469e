/**
 * Users and how they prove who they are, as configured (kinesql.auth-method, kinesql.users). Passwords
 * are stored as SCRAM-SHA-256 verifiers or PostgreSQL md5 hashes (`md5` + md5(password + user)), never
 * in clear.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseScramVerifier, passwordMatchesVerifier, type ScramVerifier } from './scram.js';

export type AuthMethod = 'trust' | 'password' | 'md5' | 'scram-sha-256';

export const AUTH_METHODS: readonly AuthMethod[] = ['trust', 'password', 'md5', 'scram-sha-256'];

export type StoredSecret = { kind: 'scram'; verifier: ScramVerifier } | { kind: 'md5'; hash: string };

/** Parses one stored secret; undefined when it is neither a SCRAM verifier nor an md5 hash. */
export function parseStoredSecret(text: string): StoredSecret | undefined {
  const verifier = parseScramVerifier(text);
  if (verifier) return { kind: 'scram', verifier };
  if (/^md5[0-9a-f]{32}$/.test(text.trim())) return { kind: 'md5', hash: text.trim() };
  return undefined;
}

/** `alice:SCRAM-SHA-256$…, bob:md5…` → a map by user name; throws naming the first bad entry. */
export function parseUserList(text: string): Map<string, StoredSecret> {
  const users = new Map<string, StoredSecret>();
  for (const entry of text.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
    const colon = entry.indexOf(':');
    const user = colon > 0 ? entry.slice(0, colon) : '';
    const secret = colon > 0 ? parseStoredSecret(entry.slice(colon + 1)) : undefined;
    if (user === '' || !secret) throw new Error(`"${entry.slice(0, 40)}" is not user:verifier (a SCRAM-SHA-256$… verifier or an md5… hash)`);
    users.set(user, secret);
  }
  return users;
}

const md5 = (text: string | Buffer): string => createHash('md5').update(text).digest('hex');

/** PostgreSQL's stored md5 form of a password. */
export function md5Secret(user: string, password: string): string {
  return `md5${md5(password + user)}`;
}

/** Checks the reply to AuthenticationMD5Password: `md5` + md5(md5(password + user) + salt). */
export function md5ResponseMatches(secret: StoredSecret & { kind: 'md5' }, salt: Buffer, response: string): boolean {
  const expected = Buffer.from(`md5${md5(Buffer.concat([Buffer.from(secret.hash.slice(3)), salt]))}`);
  const given = Buffer.from(response);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export function cleartextMatches(secret: StoredSecret, user: string, password: string): boolean {
  if (secret.kind === 'scram') return passwordMatchesVerifier(password, secret.verifier);
  const expected = Buffer.from(md5Secret(user, password));
  const stored = Buffer.from(secret.hash);
  return expected.length === stored.length && timingSafeEqual(expected, stored);
}

export interface AuthConfig {
  method: AuthMethod;
  users: ReadonlyMap<string, StoredSecret>;
}
