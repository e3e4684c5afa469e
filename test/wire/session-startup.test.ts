import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pino from 'pino';
import { serialize } from 'pg-protocol';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BackendLink } from '../../src/engine/backend-link.js';
import type { Engine } from '../../src/engine/engine.js';
import type { ClientRoles } from '../../src/engine/roles.js';
import { GSSENC_REQUEST_CODE, PROTOCOL_VERSION_3 } from '../../src/pg/protocol-constants.js';
import { initParser } from '../../src/sql/parse.js';
import { StatementExecutor } from '../../src/wire/statement-executor.js';
import type { StreamStore } from '../../src/store/stream-store.js';
import { type AuthConfig, type AuthMethod, createAuthConfig, md5Secret, parseUserList } from '../../src/wire/auth/credentials.js';
import { makeScramVerifier } from '../../src/wire/auth/scram.js';
import { Session, type SessionHooks } from '../../src/wire/session.js';
import { errorFields, types } from '../support/raw-client.js';
import { MemorySocket, startupPacket } from './memory-socket.js';

const BACKEND = { processId: 4242, secretKey: 77 };

/** One session on in-memory connections: the client's and that of the engine backend it logs in to. */
function startSession(options: { auth?: AuthConfig; admit?: boolean } = {}) {
  const client = new MemorySocket();
  const backendSocket = new MemorySocket();
  const logins: { user: string; parameters: readonly (readonly [string, string])[] }[] = [];
  const engine = {
    serverVersionNum: 180000,
    openBackend: async (user: string, _password: string, parameters: readonly (readonly [string, string])[]): Promise<BackendLink> => {
      logins.push({ user, parameters });
      const parametersSent = new Map([
        ['server_version', '18.0'],
        ['client_encoding', 'UTF8'],
      ]);
      return { socket: backendSocket.asSocket, ...BACKEND, parameters: parametersSent, leftover: Buffer.alloc(0) };
    },
  } as unknown as Engine;
  const roles = { passwordFor: async () => 'engine-password' } as unknown as ClientRoles;
  const store = { list: () => [] } as unknown as StreamStore;
  const logger = pino({ level: 'silent' });
  const hooks: SessionHooks = {
    cancel: vi.fn(),
    hasRoom: () => options.admit ?? true,
    claimSession: () =>
      options.admit === false ? { granted: false, message: 'sorry, too many clients already' } : { granted: true, release: () => undefined },
    loginEnded: vi.fn(),
    opened: vi.fn(),
    closed: vi.fn(),
  };
  const session = new Session(
    client.asSocket,
    { executor: new StatementExecutor(engine, store, logger, undefined), engine, roles },
    { defaultSchema: 'public', kinesqlVersion: '0.1.0', maxMessageBytes: 1024 * 1024, ...(options.auth ? { auth: options.auth } : {}) },
    hooks,
    logger,
  );
  open.push(client, backendSocket);
  return { client, backendSocket, session, hooks, logins };
}

const open: MemorySocket[] = [];

function startup(parameters: Record<string, string>, version = PROTOCOL_VERSION_3): Buffer {
  const body = Buffer.from(
    `${Object.entries(parameters)
      .map(([name, value]) => `${name}\0${value}\0`)
      .join('')}\0`,
  );
  return startupPacket(version, body);
}

function auth(method: AuthMethod, users: string): AuthConfig {
  return createAuthConfig(method, parseUserList(users), randomBytes(32));
}

/** The Authentication request code of an 'R' message. */
const authCode = (body: Buffer): number => body.readInt32BE(0);

describe('session startup and authentication, without a server', () => {
  beforeAll(async () => {
    await initParser();
  });

  afterEach(() => {
    for (const socket of open.splice(0)) socket.destroy();
  });

  it('refuses TLS and GSS encryption with N, then logs in from the startup message it parsed', async () => {
    const { client, session, hooks, logins } = startSession();
    client.feed(serialize.requestSsl());
    expect(await client.byte()).toBe('N');
    client.feed(startupPacket(GSSENC_REQUEST_CODE));
    expect(await client.byte()).toBe('N');
    client.feed(startup({ user: 'alice', database: 'streams', application_name: 'report', options: '-c search_path=market --statement-timeout=5s' }));
    const messages = await client.readThrough('Z');
    expect(types(messages)).toBe('RSSKZ');
    expect(authCode(messages[0]!.body)).toBe(0);
    const keyData = messages[3]!.body;
    expect([keyData.readInt32BE(0), keyData.readInt32BE(4)]).toEqual([BACKEND.processId, session.secretKey]);
    expect(String.fromCharCode(messages[4]!.body[0]!)).toBe('I');
    expect(logins).toHaveLength(1);
    expect(logins[0]!.user).toBe('alice');
    expect(logins[0]!.parameters).toEqual(
      expect.arrayContaining([
        ['application_name', 'report'],
        ['search_path', 'market'],
        ['statement_timeout', '5s'],
        ['kinesis.max_batches', ''],
        ['kinesql.server_port', '5439'],
      ]),
    );
    expect(hooks.opened).toHaveBeenCalledWith(session);
  });

  it('passes a CancelRequest on and closes the connection without a word', async () => {
    const { client, hooks } = startSession();
    client.feed(serialize.cancel(1234, 5678));
    await client.whenEnded();
    expect(hooks.cancel).toHaveBeenCalledWith(1234, 5678);
    expect(client.takeWritten()).toHaveLength(0);
  });

  it('refuses a startup message without a user, of another protocol, or asking to turn read-only off', async () => {
    const cases: [Buffer, string, RegExp][] = [
      [startup({ database: 'streams' }), '28000', /no PostgreSQL user name/],
      [startup({ user: 'alice' }, 2 << 16), '0A000', /unsupported frontend protocol 2\.0/],
      [startup({ user: 'alice', options: '-c default_transaction_read_only=off' }), '25006', /default_transaction_read_only/],
    ];
    for (const [packet, code, text] of cases) {
      const { client, logins } = startSession();
      client.feed(packet);
      const [error] = await client.readThrough('E');
      expect(errorFields(error!.body)).toMatchObject({ S: 'FATAL', C: code, M: expect.stringMatching(text) });
      await client.whenEnded();
      expect(logins).toHaveLength(0);
    }
  });

  it('says too many clients when the server admits no more', async () => {
    const { client } = startSession({ admit: false });
    client.feed(startup({ user: 'alice' }));
    const [error] = await client.readThrough('E');
    expect(errorFields(error!.body)).toMatchObject({ S: 'FATAL', C: '53300' });
  });

  it('offers NegotiateProtocolVersion for a newer minor version and unknown protocol options', async () => {
    const { client } = startSession();
    client.feed(startup({ user: 'alice', '_pq_.compression': 'on' }, PROTOCOL_VERSION_3 + 2));
    const messages = await client.readThrough('Z');
    expect(types(messages)).toBe('vRSSKZ');
    const negotiate = messages[0]!.body;
    expect(negotiate.readInt32BE(0)).toBe(0);
    expect(negotiate.readInt32BE(4)).toBe(1);
    expect(negotiate.toString('utf8', 8, negotiate.length - 1)).toBe('_pq_.compression');
  });

  it('closes a connection whose first packet is longer than a startup packet may be, before reading it', async () => {
    const { client, logins } = startSession();
    const header = Buffer.alloc(8);
    header.writeInt32BE(20_000, 0);
    header.writeInt32BE(PROTOCOL_VERSION_3, 4);
    client.feed(header);
    await client.whenEnded();
    expect(client.takeWritten()).toHaveLength(0);
    expect(logins).toHaveLength(0);
  });

  it('limits messages to 10 kB until the client has logged in, and to the configured size after', async () => {
    const { client, logins } = startSession({ auth: auth('password', `alice:${md5Secret('alice', 'secret')}`) });
    client.feed(startup({ user: 'alice' }));
    expect(authCode((await client.next())!.body)).toBe(3);
    const header = Buffer.alloc(5);
    header[0] = 'p'.charCodeAt(0);
    header.writeInt32BE(50_000, 1);
    client.feed(header);
    const [error] = await client.readThrough('E');
    expect(errorFields(error!.body)).toMatchObject({ S: 'FATAL', C: '08P01', M: expect.stringMatching(/invalid message length.*limit of 10000 bytes/) });
    await client.whenEnded();
    expect(logins).toHaveLength(0);

    const { client: other, backendSocket } = startSession();
    other.feed(startup({ user: 'alice' }));
    await other.readThrough('Z');
    // A Bind of 50 kB (its parameter): a statement that long would be analysed by a worker thread, which this test needs not start.
    const batch = Buffer.concat([
      serialize.parse({ text: 'select $1::text' }),
      serialize.bind({ values: ['x'.repeat(50_000)] }),
      serialize.execute(),
      serialize.sync(),
    ]);
    other.feed(batch);
    let forwarded = Buffer.alloc(0);
    await vi.waitFor(() => {
      forwarded = Buffer.concat([forwarded, backendSocket.takeWritten()]);
      expect(forwarded.length).toBe(batch.length);
    });
    expect(forwarded.equals(batch)).toBe(true);
    expect(other.ended).toBe(false);
  });

  it('asks for a cleartext password, refuses a wrong one and logs in with the right one', async () => {
    const config = auth('password', `alice:${makeScramVerifier('wonderland', 4096)}`);
    const refused = startSession({ auth: config });
    refused.client.feed(startup({ user: 'alice' }));
    expect(authCode((await refused.client.next())!.body)).toBe(3);
    refused.client.feed(serialize.password('looking-glass'));
    const [error] = await refused.client.readThrough('E');
    expect(errorFields(error!.body)).toMatchObject({ S: 'FATAL', C: '28P01', M: 'password authentication failed for user "alice"' });
    expect(refused.logins).toHaveLength(0);

    const accepted = startSession({ auth: auth('password', `alice:${makeScramVerifier('wonderland', 4096)}`) });
    accepted.client.feed(startup({ user: 'alice' }));
    expect(authCode((await accepted.client.next())!.body)).toBe(3);
    accepted.client.feed(serialize.password('wonderland'));
    expect(types(await accepted.client.readThrough('Z'))).toBe('RSSKZ');
    expect(accepted.logins.map((login) => login.user)).toEqual(['alice']);
  });

  it('asks for an md5 password with a salt and checks the answer against it', async () => {
    const { client, logins } = startSession({ auth: auth('md5', `alice:${md5Secret('alice', 'secret')}`) });
    client.feed(startup({ user: 'alice' }));
    const request = (await client.next())!;
    expect(authCode(request.body)).toBe(5);
    const salt = request.body.subarray(4, 8);
    const inner = createHash('md5').update('secretalice').digest('hex');
    client.feed(
      serialize.password(
        `md5${createHash('md5')
          .update(Buffer.concat([Buffer.from(inner), salt]))
          .digest('hex')}`,
      ),
    );
    expect(types(await client.readThrough('Z'))).toBe('RSSKZ');
    expect(logins).toHaveLength(1);
  });

  it('refuses anything but a password message while it waits for one', async () => {
    const { client } = startSession({ auth: auth('md5', `alice:${md5Secret('alice', 'secret')}`) });
    client.feed(startup({ user: 'alice' }));
    await client.next();
    client.feed(serialize.query('select 1'));
    const [error] = await client.readThrough('E');
    expect(errorFields(error!.body)).toMatchObject({ S: 'FATAL', C: '08P01', M: 'expected password response, got message type 81' });
  });

  describe('SCRAM-SHA-256', () => {
    const users = `alice:${makeScramVerifier('wonderland', 4096)}`;

    /** Runs the client side of the exchange; returns every message the server sent, in order. */
    async function scramLogin(client: MemorySocket, user: string, password: string) {
      client.feed(startup({ user }));
      const offer = (await client.next())!;
      const clientNonce = randomBytes(18).toString('base64');
      client.feed(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', `n,,n=,r=${clientNonce}`));
      const serverFirstMessage = (await client.next())!;
      const serverFirst = serverFirstMessage.body.toString('utf8', 4);
      const attribute = (name: string): string =>
        serverFirst
          .split(',')
          .find((part) => part.startsWith(`${name}=`))!
          .slice(2);
      const salted = pbkdf2Sync(password, Buffer.from(attribute('s'), 'base64'), Number(attribute('i')), 32, 'sha256');
      const key = (secret: Buffer, text: string): Buffer => createHmac('sha256', secret).update(text).digest();
      const clientKey = key(salted, 'Client Key');
      const finalWithoutProof = `c=biws,r=${attribute('r')}`;
      const authMessage = `n=,r=${clientNonce},${serverFirst},${finalWithoutProof}`;
      const signature = key(createHash('sha256').update(clientKey).digest(), authMessage);
      const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!)).toString('base64');
      client.feed(serialize.sendSCRAMClientFinalMessage(`${finalWithoutProof},p=${proof}`));
      const rest = await client.readThrough('Z');
      return { offer, serverFirst: serverFirstMessage, rest, expectedServerSignature: key(key(salted, 'Server Key'), authMessage).toString('base64') };
    }

    it('goes SASL, SASLContinue, SASLFinal, then AuthenticationOk and the session start', async () => {
      const { client, logins } = startSession({ auth: auth('scram-sha-256', users) });
      const { offer, serverFirst, rest, expectedServerSignature } = await scramLogin(client, 'alice', 'wonderland');
      expect(authCode(offer.body)).toBe(10);
      expect(offer.body.toString('utf8', 4).split('\0').filter(Boolean)).toEqual(['SCRAM-SHA-256']);
      expect(authCode(serverFirst.body)).toBe(11);
      expect(types(rest)).toBe('RRSSKZ');
      expect(authCode(rest[0]!.body)).toBe(12);
      expect(rest[0]!.body.toString('utf8', 4)).toBe(`v=${expectedServerSignature}`);
      expect(authCode(rest[1]!.body)).toBe(0);
      expect(logins).toHaveLength(1);
    });

    it('takes an unknown user through the same exchange and refuses it at the end', async () => {
      const { client, logins } = startSession({ auth: auth('scram-sha-256', users) });
      const { offer, serverFirst, rest } = await scramLogin(client, 'mallory', 'wonderland');
      expect(authCode(offer.body)).toBe(10);
      expect(authCode(serverFirst.body)).toBe(11);
      expect(types(rest)).toBe('E');
      expect(errorFields(rest[0]!.body)).toMatchObject({ S: 'FATAL', C: '28P01', M: 'password authentication failed for user "mallory"' });
      expect(logins).toHaveLength(0);
    });

    it('refuses anything but a SASL response while it waits for one, as PostgreSQL words it', async () => {
      const { client } = startSession({ auth: auth('scram-sha-256', users) });
      client.feed(startup({ user: 'alice' }));
      await client.next();
      client.feed(serialize.query('select 1'));
      const [error] = await client.readThrough('E');
      expect(errorFields(error!.body)).toMatchObject({ S: 'FATAL', C: '08P01', M: 'expected SASL response, got message type 81' });
    });

    it('refuses a mechanism it did not offer', async () => {
      const { client } = startSession({ auth: auth('scram-sha-256', users) });
      client.feed(startup({ user: 'alice' }));
      await client.next();
      client.feed(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,,n=,r=abc'));
      const [error] = await client.readThrough('E');
      expect(errorFields(error!.body)).toMatchObject({ S: 'FATAL', C: '08P01', M: 'client selected an invalid SASL authentication mechanism' });
    });
  });
});
