/**
 * The authentication handshake against libpq (psql) and a hand-driven client, on a wire server whose
 * engine is a stand-in: a client that gets past authentication is refused with STUB_PASSED, which proves
 * the handshake succeeded without starting an engine.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { promisify } from 'node:util';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type WireConfig } from '../../src/config/config.js';
import { startKinesql } from '../../src/kinesql.js';
import { md5Secret } from '../../src/wire/auth/credentials.js';
import { RoleRefused } from '../../src/engine/roles.js';
import { GSSENC_REQUEST_CODE } from '../../src/pg/protocol-constants.js';
import { makeScramVerifier } from '../../src/wire/auth/scram.js';
import { WireServer } from '../../src/wire/server.js';
import type { SessionServices } from '../../src/wire/session.js';
import { connectionLimits, wireSessionOptions } from '../../src/wire/wire-options.js';
import { makeCertificate } from '../support/certificates.js';
import { testLogger } from '../support/harness.js';
import { type BackendMessage, errorFields as bodyFields, RawClient } from '../support/raw-client.js';

const run = promisify(execFile);
const STUB_PASSED = 'authenticated; this test has no engine';
/** What the engine's secret would give (ClientRoles.derivedKey). */
const STAND_IN_KEY = randomBytes(32);

const stubServices = {
  executor: {},
  engine: {},
  roles: {
    passwordFor: () => Promise.reject(new RoleRefused(STUB_PASSED, '28000')),
  },
} as unknown as SessionServices;

/** A hand-driven client, plaintext or after SSLRequest, bound to a loopback address of its own. */
async function openHandClient(port: number, tls: boolean, localAddress: string): Promise<RawClient> {
  const plain = connectTcp({ port, host: '127.0.0.1', localAddress });
  await new Promise<void>((resolve, reject) => plain.once('connect', resolve).once('error', reject));
  if (!tls) return RawClient.over(plain);
  plain.write(serialize.requestSsl());
  const answer = await new Promise<Buffer>((resolve) => plain.once('data', resolve));
  expect(answer.toString()).toBe('S');
  const secure = connectTls({ socket: plain, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  return RawClient.over(secure);
}

/** The SASL mechanisms of an AuthenticationSASL message. */
function mechanismsOf(message: BackendMessage | undefined): string[] {
  expect(message?.type).toBe('R');
  expect(message!.body.readInt32BE(0)).toBe(10);
  return message!.body
    .toString('utf8', 4)
    .split('\0')
    .filter((name) => name !== '');
}

/** The fields of an ErrorResponse by their code letter. */
function errorFields(message: BackendMessage | undefined): Record<string, string> {
  expect(message?.type).toBe('E');
  return bodyFields(message!.body);
}

describe('authentication handshake (no engine)', () => {
  let dir: string;
  const servers: WireServer[] = [];

  const cert = (name: string): Pick<WireConfig, 'tlsCertFile' | 'tlsKeyFile'> => ({
    tlsCertFile: join(dir, `${name}.crt`),
    tlsKeyFile: join(dir, `${name}.key`),
  });

  const start = async (config: WireConfig): Promise<number> => {
    const server = new WireServer(
      stubServices,
      { defaultSchema: 'public', kinesqlVersion: 'test', ...wireSessionOptions(config, STAND_IN_KEY) },
      connectionLimits(20, config),
      testLogger,
    );
    servers.push(server);
    return (await server.listen(0, '127.0.0.1')).port;
  };

  const scramUsers: WireConfig = { authMethod: 'scram-sha-256', users: `alice:${makeScramVerifier('wonderland')}` };

  const psql = async (port: number, options: string, password = 'wonderland'): Promise<{ ok: boolean; stderr: string }> => {
    try {
      await run('psql', ['-X', '-A', '-t', '-c', 'select 1', `host=127.0.0.1 port=${port} user=alice dbname=kinesql connect_timeout=10 ${options}`], {
        env: { ...process.env, PGPASSWORD: password },
      });
      return { ok: true, stderr: '' };
    } catch (error) {
      return { ok: false, stderr: String((error as { stderr?: string }).stderr) };
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kinesql-handshake-'));
    await Promise.all((['rsa-sha256', 'ec-sha384', 'pss-sha512', 'ed25519'] as const).map((kind) => makeCertificate(dir, kind, kind)));
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('agrees with libpq on tls-server-end-point for certificates signed with SHA-256, SHA-384 and RSA-PSS/SHA-512', async () => {
    for (const name of ['rsa-sha256', 'ec-sha384', 'pss-sha512']) {
      const port = await start({ ...scramUsers, ...cert(name) });
      const bound = await psql(port, 'sslmode=require channel_binding=require');
      expect(bound.stderr, name).toContain(STUB_PASSED);
      expect((await psql(port, 'sslmode=require channel_binding=require', 'wrong')).stderr, name).toContain('password authentication failed for user "alice"');
    }
  });

  it('offers no channel binding for a certificate whose signature has no hash of its own (Ed25519)', async () => {
    const port = await start({ ...scramUsers, ...cert('ed25519') });
    expect((await psql(port, 'sslmode=require channel_binding=require')).stderr).toMatch(/channel binding/);
    expect((await psql(port, 'sslmode=require channel_binding=prefer')).stderr).toContain(STUB_PASSED);
  });

  describe('kinesql.require-tls', () => {
    it('refuses a startup without TLS with FATAL 28000 "no encryption", and lets TLS through', async () => {
      const port = await start({ ...scramUsers, ...cert('rsa-sha256'), requireTls: true });
      const plain = await psql(port, 'sslmode=disable');
      expect(plain.stderr).toMatch(/FATAL: {2}connection without TLS refused.*user "alice", database "kinesql", no encryption/);
      // sslmode=allow tries without TLS first and, refused, again with TLS.
      expect((await psql(port, 'sslmode=allow')).stderr).toContain(STUB_PASSED);
      expect((await psql(port, 'sslmode=require')).stderr).toContain(STUB_PASSED);
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'alice', password: 'wonderland', database: 'kinesql', ssl: false });
      await expect(client.connect()).rejects.toMatchObject({ code: '28000', severity: 'FATAL' });
    });

    it('applies with trust authentication too', async () => {
      const port = await start({ ...cert('rsa-sha256'), requireTls: true });
      expect((await psql(port, 'sslmode=disable')).stderr).toContain('no encryption');
      expect((await psql(port, 'sslmode=require')).stderr).toContain(STUB_PASSED);
    });

    it('is a configuration error without TLS', () => {
      expect(() => wireSessionOptions({ ...scramUsers, requireTls: true }, STAND_IN_KEY)).toThrow(/kinesql.require-tls needs TLS/);
    });
  });

  it('does not start with an md5 hash under scram-sha-256, and says how to make a verifier, before it reaches for the engine', async () => {
    const config = {
      ...DEFAULT_CONFIG,
      // An engine nobody listens at: reaching for it would fail with another error.
      engine: { ...DEFAULT_CONFIG.engine, url: 'postgresql://kinesql@127.0.0.1:1/kinesql' },
      wire: { authMethod: 'scram-sha-256' as const, users: `alice:${makeScramVerifier('wonderland')}, bob:${md5Secret('bob', 'builder')}` },
    };
    await expect(startKinesql(config, testLogger)).rejects.toThrow(
      'kinesql.users: "bob" has an md5 hash, which kinesql.auth-method=scram-sha-256 does not accept. Make a SCRAM-SHA-256 verifier of each password with `echo \'the password\' | npx kinesql scram-verifier` and put it in place of the md5 hash.',
    );
  });

  describe('bytes sent behind an SSLRequest or GSSENCRequest, before its answer could be read', () => {
    /** Sends the request and a StartupMessage in one packet; returns the socket and the one-byte answer. */
    const sendBehind = async (port: number, request: Buffer): Promise<{ plain: ReturnType<typeof connectTcp>; answer: string; rest: Buffer }> => {
      const plain = connectTcp({ port, host: '127.0.0.1', localAddress: '127.0.0.23' });
      await new Promise<void>((resolve, reject) => plain.once('connect', resolve).once('error', reject));
      plain.write(Buffer.concat([request, serialize.startup({ user: 'alice', database: 'kinesql' })]));
      const answer = await new Promise<Buffer>((resolve) => plain.once('data', resolve));
      return { plain, answer: answer.toString('latin1', 0, 1), rest: answer.subarray(1) };
    };
    const expectRefused = async (client: RawClient, request: string): Promise<void> => {
      const error = errorFields(await client.next());
      expect([error['S'], error['C'], error['M']]).toEqual(['FATAL', '08P01', `received unencrypted data after ${request}`]);
      expect(error['D']).toMatch(/man-in-the-middle/);
      expect(await client.next()).toBeUndefined();
      expect(client.closed).toBe(true);
    };

    it('answers S, then refuses them over TLS with FATAL 08P01 instead of reading them as a startup, also with kinesql.require-tls', async () => {
      for (const config of [
        { ...scramUsers, ...cert('rsa-sha256') },
        { ...scramUsers, ...cert('rsa-sha256'), requireTls: true },
      ]) {
        const { plain, answer, rest } = await sendBehind(await start(config), serialize.requestSsl());
        expect(answer).toBe('S');
        expect(rest).toHaveLength(0);
        const secure = connectTls({ socket: plain, rejectUnauthorized: false });
        await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
        await expectRefused(RawClient.over(secure), 'SSL request');
      }
    });

    it('answers N without TLS, or to GSSENCRequest, then refuses them in plaintext', async () => {
      const port = await start(scramUsers);
      const ssl = await sendBehind(port, serialize.requestSsl());
      expect(ssl.answer).toBe('N');
      await expectRefused(RawClient.over(ssl.plain, ssl.rest), 'SSL request');
      const gss = Buffer.alloc(8);
      gss.writeInt32BE(8, 0);
      gss.writeInt32BE(GSSENC_REQUEST_CODE, 4);
      const gssenc = await sendBehind(port, gss);
      expect(gssenc.answer).toBe('N');
      await expectRefused(RawClient.over(gssenc.plain, gssenc.rest), 'GSSAPI encryption request');
    });
  });

  it('reads a GSSENCRequest or another SSLRequest after TLS was taken up as the startup of a protocol it does not know (0A000), as PostgreSQL does', async () => {
    const port = await start({ ...scramUsers, ...cert('rsa-sha256') });
    const gss = Buffer.alloc(8);
    gss.writeInt32BE(8, 0);
    gss.writeInt32BE(GSSENC_REQUEST_CODE, 4);
    for (const [request, version] of [
      [gss, '1234.5680'],
      [serialize.requestSsl(), '1234.5679'],
    ] as const) {
      const client = await openHandClient(port, true, '127.0.0.24');
      client.write(request);
      const error = errorFields(await client.next());
      expect([error['S'], error['C'], error['M']]).toEqual(['FATAL', '0A000', `unsupported frontend protocol ${version}: server supports 3.0 to 3.0`]);
      expect(await client.next()).toBeUndefined();
    }
  });

  it('gives an unknown user the challenge a known user gets: the same mechanisms, a stable salt, the same iteration count', async () => {
    const port = await start({ ...scramUsers, ...cert('rsa-sha256') });
    const challenge = async (user: string, tls: boolean): Promise<{ mechanisms: string[]; salt: string; iterations: string }> => {
      const client = await openHandClient(port, tls, '127.0.0.21');
      try {
        client.write(serialize.startup({ user, database: 'kinesql' }));
        const mechanisms = mechanismsOf(await client.next());
        client.write(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=,r=clientnonce'));
        const serverFirst = await client.next();
        expect(serverFirst?.type).toBe('R');
        expect(serverFirst!.body.readInt32BE(0)).toBe(11);
        const fields = Object.fromEntries(
          serverFirst!.body
            .toString('utf8', 4)
            .split(',')
            .map((part) => [part[0]!, part.slice(2)]),
        );
        return { mechanisms, salt: fields['s']!, iterations: fields['i']! };
      } finally {
        client.close();
      }
    };
    for (const tls of [false, true]) {
      const alice = await challenge('alice', tls);
      const mallory = await challenge('mallory', tls);
      expect(mallory.mechanisms).toEqual(alice.mechanisms);
      expect(mallory.mechanisms).toEqual(tls ? ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] : ['SCRAM-SHA-256']);
      expect(mallory.iterations).toBe(alice.iterations);
      expect(Buffer.from(mallory.salt, 'base64')).toHaveLength(16);
      expect((await challenge('mallory', tls)).salt).toBe(mallory.salt);
      expect((await challenge('alice', tls)).salt).toBe(alice.salt);
      expect((await challenge('trudy', tls)).salt).not.toBe(mallory.salt);
    }
  });

  it('refuses a client that says it could bind (y) when PLUS was offered, and PLUS where it was not offered', async () => {
    const port = await start({ ...scramUsers, ...cert('rsa-sha256') });
    const firstAnswer = async (tls: boolean, mechanism: string, clientFirst: string): Promise<BackendMessage | undefined> => {
      const client = await openHandClient(port, tls, '127.0.0.22');
      try {
        client.write(serialize.startup({ user: 'alice', database: 'kinesql' }));
        mechanismsOf(await client.next());
        client.write(serialize.sendSASLInitialResponseMessage(mechanism, clientFirst));
        return await client.next();
      } finally {
        client.close();
      }
    };
    const downgrade = errorFields(await firstAnswer(true, 'SCRAM-SHA-256', 'y,,n=,r=clientnonce'));
    expect([downgrade['S'], downgrade['C'], downgrade['M']]).toEqual(['FATAL', '08P01', 'SCRAM channel binding negotiation error']);
    // Without TLS nothing was offered to bind to, so y is what an honest client says.
    expect((await firstAnswer(false, 'SCRAM-SHA-256', 'y,,n=,r=clientnonce'))?.type).toBe('R');
    const plusOverPlaintext = errorFields(await firstAnswer(false, 'SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,,n=,r=clientnonce'));
    expect([plusOverPlaintext['C'], plusOverPlaintext['M']]).toEqual(['08P01', 'client selected an invalid SASL authentication mechanism']);
    const otherIdentity = errorFields(await firstAnswer(true, 'SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,a=bob,n=,r=clientnonce'));
    expect([otherIdentity['S'], otherIdentity['C']]).toEqual(['FATAL', '28000']);
  });
});
