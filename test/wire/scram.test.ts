import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuthConfig, md5Secret, parseUserList, standInSecret } from '../../src/wire/auth/credentials.js';
import { decayedFailures, failureDelayMs, LoginThrottle, throttleKey } from '../../src/wire/auth/login-throttle.js';
import { makeScramVerifier, parseScramVerifier, ScramExchange, ScramFailure, scramMechanisms, type ScramVerifier } from '../../src/wire/auth/scram.js';

const hmac = (key: Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

interface ClientSide {
  mechanism?: string;
  /** The GS2 header, e.g. `n,,`, `y,,`, `p=tls-server-end-point,,`. */
  gs2?: string;
  password: string;
  /** Channel-binding data appended to the GS2 header in c= (PLUS). */
  bindingData?: Buffer;
  /** c= as sent, instead of the right one. */
  c?: string;
}

/** A test's own SCRAM-SHA-256 client (RFC 5802) against the server side; returns server-final, or throws its ScramFailure. */
function exchange(server: ScramExchange, client: ClientSide): string {
  const gs2 = client.gs2 ?? 'n,,';
  const clientNonce = randomBytes(18).toString('base64');
  const clientFirstBare = `n=,r=${clientNonce}`;
  const serverFirst = server.start(client.mechanism ?? 'SCRAM-SHA-256', gs2 + clientFirstBare);
  const fields = Object.fromEntries(serverFirst.split(',').map((part) => [part[0], part.slice(2)]));
  expect(fields['r']!.startsWith(clientNonce)).toBe(true);
  const salted = pbkdf2Sync(client.password, Buffer.from(fields['s']!, 'base64'), Number(fields['i']), 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  const c = client.c ?? Buffer.concat([Buffer.from(gs2), client.bindingData ?? Buffer.alloc(0)]).toString('base64');
  const withoutProof = `c=${c},r=${fields['r']}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const signature = hmac(sha256(clientKey), authMessage);
  const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!));
  const serverFinal = server.finish(`${withoutProof},p=${proof.toString('base64')}`);
  expect(serverFinal).toBe(`v=${hmac(hmac(salted, 'Server Key'), authMessage).toString('base64')}`);
  return serverFinal;
}

function failure(run: () => unknown): ScramFailure {
  try {
    run();
  } catch (error) {
    if (error instanceof ScramFailure) return error;
    throw error;
  }
  throw new Error('expected a ScramFailure');
}

const aliceVerifier = parseScramVerifier(makeScramVerifier('wonderland'))!;
const binding = randomBytes(32);
const scram = (options: { user?: string; verifier?: ScramVerifier; doomed?: boolean; channelBinding?: Buffer } = {}): ScramExchange =>
  new ScramExchange({
    user: options.user ?? 'alice',
    verifier: options.verifier ?? aliceVerifier,
    doomed: options.doomed ?? false,
    channelBinding: options.channelBinding,
  });

describe('SCRAM-SHA-256 exchange', () => {
  it('lets the right password in and refuses a wrong one with 28P01', () => {
    expect(exchange(scram(), { password: 'wonderland' })).toMatch(/^v=/);
    expect(failure(() => exchange(scram(), { password: 'looking-glass' })).sqlstate).toBe('28P01');
  });

  it('requires c= to be the GS2 header the client sent', () => {
    expect(failure(() => exchange(scram(), { password: 'wonderland', c: 'eSws' })).sqlstate).toBe('08P01');
    expect(failure(() => exchange(scram(), { password: 'wonderland', c: '' })).sqlstate).toBe('08P01');
    expect(failure(() => exchange(scram(), { password: 'wonderland', gs2: 'y,,', c: 'biws' })).sqlstate).toBe('08P01');
    expect(exchange(scram(), { password: 'wonderland', gs2: 'y,,' })).toMatch(/^v=/);
    expect(exchange(scram(), { password: 'wonderland', gs2: 'n,a=alice,' })).toMatch(/^v=/);
    expect(failure(() => exchange(scram(), { password: 'wonderland', gs2: 'n,a=alice,', c: 'biws' })).sqlstate).toBe('08P01');
  });

  it('refuses an authorization identity other than the user with 28000', () => {
    const refused = failure(() => exchange(scram(), { password: 'wonderland', gs2: 'n,a=bob,' }));
    expect(refused.sqlstate).toBe('28000');
    expect(refused.message).toContain('"bob"');
    expect(exchange(scram({ user: 'a,b=c' }), { password: 'wonderland', gs2: 'n,a=a=2Cb=3Dc,' })).toMatch(/^v=/);
    expect(failure(() => exchange(scram(), { password: 'wonderland', gs2: 'n,a=al=41ice,' })).sqlstate).toBe('08P01');
  });

  it('refuses malformed client-first messages', () => {
    for (const clientFirst of ['x,,n=,r=abc', 'n,,r=abc', 'n,,n=,r=', 'n,,m=ext,n=,r=abc', 'n,,n=,r=a b\u00e9']) {
      expect(failure(() => scram().start('SCRAM-SHA-256', clientFirst)).sqlstate).toBe('08P01');
    }
  });

  it('binds to the channel with SCRAM-SHA-256-PLUS: tls-server-end-point data in c= must match', () => {
    const plus = { mechanism: 'SCRAM-SHA-256-PLUS', gs2: 'p=tls-server-end-point,,', password: 'wonderland' };
    expect(exchange(scram({ channelBinding: binding }), { ...plus, bindingData: binding })).toMatch(/^v=/);
    const wrongData = failure(() => exchange(scram({ channelBinding: binding }), { ...plus, bindingData: randomBytes(32) }));
    expect([wrongData.sqlstate, wrongData.message]).toEqual(['08P01', 'SCRAM channel binding check failed']);
    expect(failure(() => exchange(scram({ channelBinding: binding }), { ...plus, bindingData: Buffer.alloc(0) })).sqlstate).toBe('08P01');
    expect(failure(() => exchange(scram({ channelBinding: binding }), { ...plus, gs2: 'p=tls-unique,,', bindingData: binding })).message).toContain(
      'tls-unique',
    );
    // PLUS chosen without binding data, binding data without PLUS:
    expect(failure(() => exchange(scram({ channelBinding: binding }), { ...plus, gs2: 'n,,' })).sqlstate).toBe('08P01');
    expect(
      failure(() => exchange(scram({ channelBinding: binding }), { gs2: 'p=tls-server-end-point,,', password: 'wonderland', bindingData: binding })).sqlstate,
    ).toBe('08P01');
  });

  it('refuses a client that says y (it could bind, thinking the server cannot) when the server offered PLUS: a downgrade', () => {
    const downgrade = failure(() => exchange(scram({ channelBinding: binding }), { gs2: 'y,,', password: 'wonderland' }));
    expect([downgrade.sqlstate, downgrade.message]).toEqual(['08P01', 'SCRAM channel binding negotiation error']);
    expect(exchange(scram({ channelBinding: binding }), { gs2: 'n,,', password: 'wonderland' })).toMatch(/^v=/);
  });

  it('offers PLUS first, and only with binding data', () => {
    expect(scramMechanisms(binding)).toEqual(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
    expect(scramMechanisms(undefined)).toEqual(['SCRAM-SHA-256']);
  });
});

describe('unknown users', () => {
  const key = randomBytes(32);
  const users = parseUserList(`alice:${makeScramVerifier('wonderland')}, bob:${makeScramVerifier('builder')}`);
  const auth = createAuthConfig('scram-sha-256', users, key);
  const serverFirstFor = (user: string): Record<string, string> => {
    const secret = auth.users.get(user) ?? standInSecret(auth, user);
    if (secret.kind !== 'scram') throw new Error('expected a SCRAM secret');
    const server = new ScramExchange({ user, verifier: secret.verifier, doomed: !auth.users.has(user), channelBinding: undefined });
    return Object.fromEntries(
      server
        .start('SCRAM-SHA-256', 'n,,n=,r=abcdef')
        .split(',')
        .map((part) => [part[0]!, part.slice(2)]),
    );
  };

  it('get a challenge like a known user: the same salt on every attempt, 16 bytes, the usual iteration count', () => {
    const first = serverFirstFor('mallory');
    const again = serverFirstFor('mallory');
    expect(again['s']).toBe(first['s']);
    expect(Buffer.from(first['s']!, 'base64')).toHaveLength(16);
    expect(serverFirstFor('trudy')['s']).not.toBe(first['s']);
    expect(first['i']).toBe(serverFirstFor('alice')['i']);
    expect(first['i']).toBe('4096');
    expect(serverFirstFor('alice')['s']).toBe(serverFirstFor('alice')['s']);
  });

  it('get the same secret from the same key (a restarted server), another from another key', () => {
    const verifierOf = (config: ReturnType<typeof createAuthConfig>) => standInSecret(config, 'mallory');
    expect(verifierOf(createAuthConfig('scram-sha-256', users, Buffer.from(key)))).toEqual(verifierOf(auth));
    expect(verifierOf(createAuthConfig('scram-sha-256', users, randomBytes(32)))).not.toEqual(verifierOf(auth));
  });

  it('are refused with 28P01 after the whole exchange, whatever the password', () => {
    const secret = standInSecret(auth, 'mallory');
    if (secret.kind !== 'scram') throw new Error('expected a SCRAM secret');
    const server = new ScramExchange({ user: 'mallory', verifier: secret.verifier, doomed: true, channelBinding: undefined });
    expect(failure(() => exchange(server, { password: 'anything' })).sqlstate).toBe('28P01');
  });

  it('take the iteration count and the kind of secret most configured users have', () => {
    const slow = createAuthConfig(
      'scram-sha-256',
      parseUserList(`a:${makeScramVerifier('x', 10_000)}, b:${makeScramVerifier('y', 10_000)}, c:${makeScramVerifier('z')}`),
      key,
    );
    const secret = standInSecret(slow, 'mallory');
    expect(secret.kind === 'scram' && secret.verifier.iterations).toBe(10_000);
    const md5 = createAuthConfig('md5', parseUserList(`a:${md5Secret('a', 'x')}, b:${md5Secret('b', 'y')}`), key);
    const md5StandIn = standInSecret(md5, 'mallory');
    expect(md5StandIn.kind === 'md5' && md5StandIn.hash).toMatch(/^md5[0-9a-f]{32}$/);
    expect(standInSecret(md5, 'mallory')).toEqual(md5StandIn);
  });

  it('refuses md5 hashes with scram-sha-256 when the users are loaded, saying how to make a SCRAM verifier', () => {
    const mixed = parseUserList(`alice:${makeScramVerifier('wonderland')}, bob:${md5Secret('bob', 'builder')}`);
    expect(() => createAuthConfig('scram-sha-256', mixed, key)).toThrow(
      /kinesql\.users: "bob" has an md5 hash, which kinesql\.auth-method=scram-sha-256 does not accept\. Make a SCRAM-SHA-256 verifier .*npx kinesql scram-verifier/,
    );
    // md5 and password authentication take both kinds, as PostgreSQL's md5 does.
    expect(createAuthConfig('md5', mixed, key).users.size).toBe(2);
    expect(createAuthConfig('password', mixed, key).users.size).toBe(2);
  });
});

describe('failed-login throttle', () => {
  it('waits nothing after the first failure, then 250 ms doubling up to 4 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50].map((failures) => failureDelayMs(failures))).toEqual([0, 0, 250, 500, 1000, 2000, 4000, 4000, 4000]);
  });

  it('halves the count for each whole quiet minute', () => {
    expect([0, 59_999, 60_000, 119_999, 120_000, 600_000, 10 ** 12].map((ms) => decayedFailures(8, ms))).toEqual([8, 8, 4, 4, 2, 0, 0]);
  });

  it('counts per (address, user) pair, grows the delay with each failure, and decays after a quiet minute', () => {
    let now = 1_000_000;
    const throttle = new LoginThrottle({ now: () => now });
    const verdicts = [];
    for (let i = 0; i < 4; i += 1) {
      verdicts.push(throttle.failed('10.0.0.1', 'alice'));
      now += 10_000;
    }
    expect(verdicts).toEqual([
      { failures: 1, delayMs: 0 },
      { failures: 2, delayMs: 250 },
      { failures: 3, delayMs: 500 },
      { failures: 4, delayMs: 1000 },
    ]);
    // Another user from the same address, and the same user from another address, start afresh.
    expect(throttle.failed('10.0.0.1', 'bob')).toEqual({ failures: 1, delayMs: 0 });
    expect(throttle.failed('10.0.0.2', 'alice')).toEqual({ failures: 1, delayMs: 0 });
    now += 60_000;
    expect(throttle.failures('10.0.0.1', 'alice')).toBe(2);
    expect(throttle.failed('10.0.0.1', 'alice').failures).toBe(3);
    now += 10 * 60_000;
    expect(throttle.failed('10.0.0.1', 'alice')).toEqual({ failures: 1, delayMs: 0 });
  });

  it('answers the failures of one pair one after another, however many arrive at once', () => {
    const now = 5_000_000;
    const throttle = new LoginThrottle({ now: () => now });
    const delays = Array.from({ length: 6 }, () => throttle.failed('10.0.0.1', 'alice').delayMs);
    // Each waits for the one before it to be answered, then its own delay: 0, 250, 500, 1000, 2000, 4000 apart.
    expect(delays).toEqual([0, 250, 750, 1750, 3750, 7750]);
    expect(throttle.failed('10.0.0.1', 'bob').delayMs).toBe(0);
  });

  it('remembers a bounded number of pairs, forgetting the longest quiet first', () => {
    let now = 0;
    const throttle = new LoginThrottle({ now: () => now, maxPairs: 3 });
    for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) {
      throttle.failed(address, 'u');
      throttle.failed(address, 'u');
      now += 1;
    }
    throttle.failed('10.0.0.1', 'u');
    throttle.failed('10.0.0.4', 'u');
    expect(throttle.size).toBe(3);
    expect(throttle.failures('10.0.0.2', 'u')).toBe(0);
    expect(throttle.failures('10.0.0.1', 'u')).toBe(3);
    expect(throttle.failures('10.0.0.3', 'u')).toBe(2);
    for (let i = 0; i < 1000; i += 1) throttle.failed('10.0.0.9', `user${i}`);
    expect(throttle.size).toBe(3);
  });

  it('counts IPv6 addresses by their /64 and IPv4-mapped addresses as IPv4', () => {
    expect(throttleKey('2001:db8:1:2:a:b:c:d')).toBe('2001:db8:1:2::/64');
    expect(throttleKey('2001:db8:1:2::99')).toBe('2001:db8:1:2::/64');
    expect(throttleKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(throttleKey('::1')).toBe('0:0:0:0::/64');
    expect(throttleKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(throttleKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(throttleKey('192.0.2.7')).toBe('192.0.2.7');
  });
});
