/**
 * Connection slots a client cannot take from others: connections that never finish logging in hold no
 * kinesql.max-connections slot, are bounded per address, and are closed at the authentication timeout; one
 * user's sessions can be capped. Over real sockets, with node-postgres logging in to a real engine.
 */
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeScramVerifier } from '../../src/wire/auth/scram.js';
import { startHarness, type Harness } from '../support/harness.js';
import { errorFields, RawClient, socketFrom } from '../support/raw-client.js';

const MAX_CONNECTIONS = 3;
const PENDING_PER_ADDRESS = 5;

describe('fair connection slots', () => {
  let harness: Harness;
  const clients: pg.Client[] = [];
  /** The server's log lines. */
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });

  beforeAll(async () => {
    harness = await startHarness({
      streams: [],
      definitions: {},
      configure: (config) => ({
        ...config,
        engine: { ...config.engine, maxConnections: MAX_CONNECTIONS },
        wire: {
          authMethod: 'scram-sha-256',
          users: `alice:${makeScramVerifier('wonderland')}, bob:${makeScramVerifier('builder')}`,
          authenticationTimeoutMs: 3_000,
          maxPendingLoginsPerAddress: PENDING_PER_ADDRESS,
          maxSessionsPerUser: 2,
        },
      }),
      logger,
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    await harness?.close();
  });

  const login = async (user: string, password: string, from: string): Promise<pg.Client> => {
    const client = new pg.Client({ ...harness.connection, user, password, stream: () => socketFrom(from) });
    client.on('error', () => undefined);
    await client.connect();
    clients.push(client);
    return client;
  };

  /** Waits until alice can log in from `from` (the address's slots have come back). */
  const loggedInOnceFreed = (from: string, timeout: number): Promise<void> =>
    expect
      .poll(
        async () =>
          login('alice', 'wonderland', from).then(
            async (client) => {
              await client.end();
              return 'logged in';
            },
            (error: { code?: string }) => error.code,
          ),
        { timeout, interval: 250 },
      )
      .toBe('logged in');

  /** A connection that sends its startup message, reads the password request, and never answers it. */
  const silentLogin = async (from: string): Promise<RawClient> => {
    const client = await RawClient.open(harness.server.port, '127.0.0.1', from);
    client.write(serialize.startup({ user: 'alice', database: 'kinesql' }));
    return client;
  };

  /** The FATAL a connection ends with, once it has ended. */
  const fatalOf = async (client: RawClient): Promise<Record<string, string>> => {
    for (;;) {
      const message = await client.next();
      if (!message) throw new Error('connection closed without an error');
      if (message.type === 'E') {
        await client.waitClosed();
        return errorFields(message.body);
      }
    }
  };

  it('100 silent logins from 100 addresses hold no session slot: users log in up to max-connections, and the silent ones go at the timeout', async () => {
    const silent = await Promise.all(Array.from({ length: 100 }, (_, i) => silentLogin(`127.0.2.${i + 1}`)));
    for (const client of silent) expect((await client.next())?.type).toBe('R');
    // Every slot is still there for users with a password.
    const sessions = [await login('alice', 'wonderland', '127.0.0.1'), await login('bob', 'builder', '127.0.0.1'), await login('bob', 'builder', '127.0.0.2')];
    for (const session of sessions) expect((await session.query('select current_user as u')).rows).toHaveLength(1);
    await expect(login('alice', 'wonderland', '127.0.0.3')).rejects.toMatchObject({ code: '53300', message: 'sorry, too many clients already' });
    // At the authentication timeout each silent login is told why and closed.
    const endings = await Promise.all(silent.map(fatalOf));
    expect(new Set(endings.map((fields) => `${fields['S']} ${fields['C']} ${fields['M']}`))).toEqual(
      new Set(['FATAL 57014 canceling authentication due to timeout']),
    );
    await Promise.all(sessions.map((session) => session.end()));
  });

  it('one address holds at most max-pending-logins-per-address logins in progress; more are refused at once, other addresses log in', async () => {
    const busy = await login('bob', 'builder', '127.0.3.1');
    const sleeping = busy.query('select pg_sleep(60)').then(
      () => 'finished',
      (error: { code?: string }) => error.code,
    );
    const silent = await Promise.all(Array.from({ length: 100 }, () => silentLogin('127.0.3.1')));
    const answers = await Promise.all(silent.map((client) => client.next()));
    const waiting = silent.filter((_, i) => answers[i]?.type === 'R');
    const refused = answers.filter((answer) => answer?.type === 'E').map((answer) => errorFields(answer!.body));
    expect(waiting).toHaveLength(PENDING_PER_ADDRESS);
    expect(refused).toHaveLength(100 - PENDING_PER_ADDRESS);
    for (const fields of refused) {
      expect([fields['S'], fields['C']]).toEqual(['FATAL', '53300']);
      expect(fields['M']).toContain('too many connections from host "127.0.3.1" that have not logged in');
    }
    // A real login from that address is refused alike while they wait; a CancelRequest from it still cancels.
    await expect(login('alice', 'wonderland', '127.0.3.1')).rejects.toMatchObject({ code: '53300' });
    const key = busy as unknown as { processID: number; secretKey: number };
    const canceller = await RawClient.open(harness.server.port, '127.0.0.1', '127.0.3.1');
    canceller.write(serialize.cancel(key.processID, key.secretKey));
    expect(await canceller.waitClosed()).toBe(true);
    expect(await sleeping).toBe('57014');
    await busy.end();
    const other = await login('alice', 'wonderland', '127.0.3.2');
    expect((await other.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await other.end();
    // Once the silent ones are gone, the address logs in again.
    await Promise.all(waiting.map(fatalOf));
    const again = await login('alice', 'wonderland', '127.0.3.1');
    expect((await again.query('select session_user as u')).rows).toEqual([{ u: 'alice' }]);
    await again.end();
  });

  const failures = (from: string): number => logs.filter((line) => line['msg'] === 'failed login' && line['address'] === from).length;
  /** A SCRAM login for alice with a wrong proof; hangs up once the server has refused it, or reads the answer. */
  const guess = async (from: string, hangUp: boolean): Promise<Record<string, string> | undefined> => {
    const failedBefore = failures(from);
    const client = await silentLogin(from);
    expect((await client.next())?.type).toBe('R');
    client.write(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=,r=guessnonce'));
    const serverFirst = (await client.next())!.body.toString('utf8', 4);
    const nonce = /r=([^,]+)/.exec(serverFirst)![1]!;
    client.write(serialize.sendSCRAMClientFinalMessage(`c=biws,r=${nonce},p=${Buffer.alloc(32).toString('base64')}`));
    if (hangUp) {
      await expect.poll(() => failures(from), { interval: 5 }).toBe(failedBefore + 1);
      client.close();
      return undefined;
    }
    return fatalOf(client);
  };

  it('a refused password keeps its slot until its delayed answer, even when the guesser hangs up', async () => {
    // Four failures (answered after 0, 250, 500 and 1000 ms): the pair's next ones wait 2 s, then 4 s each, one after another.
    for (let i = 0; i < 4; i += 1) expect((await guess('127.0.5.1', false))?.['C']).toBe('28P01');
    for (let i = 0; i < PENDING_PER_ADDRESS; i += 1) await guess('127.0.5.1', true);
    // A round trip from elsewhere, so that the server has seen the guessers hang up before the next attempt.
    const elsewhere = await silentLogin('127.0.5.2');
    expect((await elsewhere.next())?.type).toBe('R');
    elsewhere.close();
    // The guessers are gone, but their answers are not due yet: the address has no slot for anyone.
    await expect(login('alice', 'wonderland', '127.0.5.1')).rejects.toMatchObject({ code: '53300' });
    // As their delayed answers come due, the slots come back.
    await loggedInOnceFreed('127.0.5.1', 30_000);
  });

  it('answers a refused password waiting out its delay with 28P01 even past the authentication timeout, never sooner with 57014', async () => {
    // Five guesses at once: answered 0, 0.25, 0.75, 1.75 and 3.75 s after their proofs, the last past the 3 s timeout.
    const answers = await Promise.all(Array.from({ length: PENDING_PER_ADDRESS }, () => guess('127.0.6.1', false)));
    expect(answers.map((fields) => `${fields?.['S']} ${fields?.['C']}`)).toEqual(Array(PENDING_PER_ADDRESS).fill('FATAL 28P01'));
    const delays = logs.filter((line) => line['msg'] === 'failed login' && line['address'] === '127.0.6.1').map((line) => line['delayMs'] as number);
    expect(Math.max(...delays)).toBeGreaterThan(3_000);
  });

  it('closes a refused connection whose client never closes its end at the authentication timeout, giving its slot back', async () => {
    const lingering = await Promise.all(
      Array.from({ length: PENDING_PER_ADDRESS }, async () => {
        // A client that keeps its end open after the server's FATAL (Node's sockets close theirs by default).
        const socket = connect({ port: harness.server.port, host: '127.0.0.1', localAddress: '127.0.8.1', allowHalfOpen: true });
        await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
        const client = RawClient.over(socket);
        // No user name: refused at once with FATAL 28000.
        client.write(serialize.startup({ database: 'kinesql' }));
        return client;
      }),
    );
    for (const client of lingering) {
      const refusal = await client.next();
      expect(refusal?.type).toBe('E');
    }
    await expect(login('alice', 'wonderland', '127.0.8.1')).rejects.toMatchObject({ code: '53300' });
    // At the authentication timeout the server closes them (their clients see nothing: both ends were already sent FIN).
    await loggedInOnceFreed('127.0.8.1', 15_000);
    for (const client of lingering) client.close();
  });

  it('caps the sessions of one user after the password is checked, leaving other users alone', async () => {
    const first = await login('alice', 'wonderland', '127.0.4.1');
    const second = await login('alice', 'wonderland', '127.0.4.2');
    await expect(login('alice', 'wonderland', '127.0.4.3')).rejects.toMatchObject({
      code: '53300',
      message: 'too many connections for role "alice" (kinesql.max-sessions-per-user = 2)',
    });
    // The cap says nothing before the password is right.
    await expect(login('alice', 'wrong', '127.0.4.4')).rejects.toMatchObject({ code: '28P01' });
    const bob = await login('bob', 'builder', '127.0.4.5');
    expect((await bob.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await first.end();
    const third = await login('alice', 'wonderland', '127.0.4.6');
    expect((await third.query('select current_user as u')).rows).toEqual([{ u: 'alice' }]);
    await Promise.all([second.end(), bob.end(), third.end()]);
  });

  it("psql (sslmode=prefer, then disable) shows the refusal of a login over its address's cap", async () => {
    const silent = await Promise.all(Array.from({ length: PENDING_PER_ADDRESS }, () => silentLogin('127.0.0.1')));
    for (const client of silent) expect((await client.next())?.type).toBe('R');
    for (const sslmode of ['prefer', 'disable']) {
      const refused = promisify(execFile)(
        'psql',
        ['-X', '-c', 'select 1', `host=127.0.0.1 port=${harness.server.port} user=alice dbname=kinesql sslmode=${sslmode}`],
        {
          env: { ...process.env, PGPASSWORD: 'wonderland', PGCONNECT_TIMEOUT: '10' },
        },
      );
      await expect(refused, sslmode).rejects.toMatchObject({
        stderr: expect.stringContaining('FATAL:  too many connections from host "127.0.0.1" that have not logged in (kinesql.max-pending-logins-per-address)'),
      });
    }
    await Promise.all(silent.map(fatalOf));
  });
});
