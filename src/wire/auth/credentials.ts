/**
 * Users and how they prove who they are, as configured (kinesql.auth-method, kinesql.users). Passwords
 * are stored as SCRAM-SHA-256 verifiers or PostgreSQL md5 hashes (`md5` + md5(password + user)), never
 * in clear.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { LoginThrottle } from './login-throttle.js';
import { parseScramVerifier, passwordMatchesVerifier, StandInSecrets, type ScramVerifier } from './scram.js';

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
  for (const entry of text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')) {
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
  /** Secrets of users who are not configured, so that their logins look and cost the same (standInSecret). */
  standIns: StandInSecrets;
  /** Of the kind most configured users have, so that the challenge an unknown user gets is the usual one. */
  standInKind: StoredSecret['kind'];
  /** Failed logins by client address, shared by all sessions. */
  throttle: LoginThrottle;
}

/** With scram-sha-256, md5 hashes are refused, as PostgreSQL refuses to log them in: the server does not start with one. */
export function refuseMd5UnderScram(method: AuthMethod, users: ReadonlyMap<string, StoredSecret>): void {
  if (method !== 'scram-sha-256') return;
  const md5Users = [...users].filter(([, secret]) => secret.kind === 'md5').map(([user]) => `"${user}"`);
  if (md5Users.length === 0) return;
  throw new Error(
    `kinesql.users: ${md5Users.join(', ')} ${md5Users.length === 1 ? 'has an md5 hash' : 'have md5 hashes'}, which kinesql.auth-method=scram-sha-256 does not accept. ` +
      `Make a SCRAM-SHA-256 verifier of each password with \`echo 'the password' | npx kinesql scram-verifier\` and put it in place of the md5 hash.`,
  );
}

/**
 * The authentication of a server: stand-ins for unknown users are made like the configured secrets, from
 * `standInKey` (which must outlive the process, so that an unknown user's salt does not change at a restart
 * while a real user's does not either).
 */
export function createAuthConfig(method: AuthMethod, users: ReadonlyMap<string, StoredSecret>, standInKey: Buffer, throttle = new LoginThrottle()): AuthConfig {
  refuseMd5UnderScram(method, users);
  const secrets = [...users.values()];
  const md5Count = secrets.filter((secret) => secret.kind === 'md5').length;
  const iterations = new Map<number, number>();
  for (const secret of secrets) {
    if (secret.kind === 'scram') iterations.set(secret.verifier.iterations, (iterations.get(secret.verifier.iterations) ?? 0) + 1);
  }
  const usual = [...iterations].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0] ?? 4096;
  // Only md5 authentication gives md5 challenges; there, unknown users get the kind most users have.
  const standInKind = method === 'md5' && md5Count > secrets.length - md5Count ? 'md5' : 'scram';
  return { method, users, standIns: new StandInSecrets(standInKey, usual), standInKind, throttle };
}

/** An unknown user's stand-in secret: it never lets anyone in (the caller checks that the user is known). */
export function standInSecret(auth: AuthConfig, user: string): StoredSecret {
  return auth.standInKind === 'md5' ? { kind: 'md5', hash: auth.standIns.md5HashFor(user) } : { kind: 'scram', verifier: auth.standIns.verifierFor(user) };
}
