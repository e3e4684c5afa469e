import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { md5Secret } from '../../src/wire/auth/credentials.js';
import { makeScramVerifier } from '../../src/wire/auth/scram.js';
import { makeCertificate } from '../support/certificates.js';
import { startHarness, type Harness } from '../support/harness.js';
import { socketFrom } from '../support/raw-client.js';

const run = promisify(execFile);

describe.each(['scram-sha-256', 'md5', 'password'] as const)('authentication with %s and TLS', (method) => {
  let harness: Harness;
  let certDir: string;
  let ca: Buffer;
  /** The server's log lines, to follow the order of events. */
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });

  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'kinesql-tls-'));
    await makeCertificate(certDir, 'server');
    ca = await readFile(join(certDir, 'server.crt'));
    harness = await startHarness({
      streams: [],
      definitions: {},
      configure: (config) => ({
        ...config,
        wire: {
          authMethod: method,
          // alice has a SCRAM verifier, bob an md5 hash: neither password is stored in clear. scram-sha-256 takes no
          // md5 hash (the server would not start with one), so there bob has a verifier too.
          users: `alice:${makeScramVerifier('wonderland')}, bob:${method === 'scram-sha-256' ? makeScramVerifier('builder') : md5Secret('bob', 'builder')}`,
          tlsCertFile: join(certDir, 'server.crt'),
          tlsKeyFile: join(certDir, 'server.key'),
        },
      }),
      logger,
    });
  });

  afterAll(async () => {
    await harness?.close();
    await rm(certDir, { recursive: true, force: true });
  });

  const connect = async (user: string, password: string, ssl: pg.ClientConfig['ssl'] = false, more: pg.ClientConfig = {}): Promise<pg.Client> => {
    const client = new pg.Client({ ...harness.connection, user, password, ssl, ...more });
    await client.connect();
    return client;
  };

  it('lets a user with the right password in, over TLS verified against the configured certificate', async () => {
    const users =
      method === 'md5'
        ? [['bob', 'builder']]
        : method === 'scram-sha-256'
          ? [['alice', 'wonderland']]
          : [
              ['alice', 'wonderland'],
              ['bob', 'builder'],
            ];
    for (const [user, password] of users) {
      const client = await connect(user!, password!, { ca, servername: 'localhost' });
      try {
        const result = await client.query('select current_setting($1) as v, 1 + 1 as two', ['server_encoding']);
        expect(result.rows).toEqual([{ v: 'UTF8', two: 2 }]);
        expect((client as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream.encrypted).toBe(true);
      } finally {
        await client.end();
      }
    }
  });

  it('refuses a wrong password and an unknown user with 28P01', async () => {
    const user = method === 'md5' ? 'bob' : 'alice';
    await expect(connect(user, 'wrong')).rejects.toMatchObject({ code: '28P01' });
    await expect(connect('mallory', 'x')).rejects.toMatchObject({ code: '28P01' });
  });

  it('works from psql with sslmode=verify-full', async () => {
    const [user, password] = method === 'md5' ? ['bob', 'builder'] : ['alice', 'wonderland'];
    const out = await run('psql', ['-X', '-A', '-t', '-c', 'select 6 * 7'], {
      env: {
        ...process.env,
        PGHOST: 'localhost',
        PGPORT: String(harness.server.port),
        PGUSER: user,
        PGPASSWORD: password,
        PGDATABASE: 'kinesql',
        PGSSLMODE: 'verify-full',
        PGSSLROOTCERT: join(certDir, 'server.crt'),
        PGCONNECT_TIMEOUT: '10',
      },
    });
    expect(out.stdout.trim()).toBe('42');
  });

  const psqlEnv = (user: string, password: string, more: Record<string, string>): NodeJS.ProcessEnv => ({
    ...process.env,
    PGHOST: 'localhost',
    PGPORT: String(harness.server.port),
    PGUSER: user,
    PGPASSWORD: password,
    PGDATABASE: 'kinesql',
    PGCONNECT_TIMEOUT: '10',
    ...more,
  });

  // alice has a SCRAM verifier, which md5 authentication uses too; cleartext passwords cannot bind to the channel.
  it.runIf(method !== 'password')(
    'binds SCRAM to the TLS channel: psql with channel_binding=require, and node-postgres with enableChannelBinding',
    async () => {
      const out = await run('psql', ['-X', '-A', '-t', '-c', 'select 6 * 7'], {
        env: psqlEnv('alice', 'wonderland', { PGSSLMODE: 'require', PGCHANNELBINDING: 'require' }),
      });
      expect(out.stdout.trim()).toBe('42');
      const client = await connect('alice', 'wonderland', { ca, servername: 'localhost' }, { enableChannelBinding: true });
      try {
        expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      } finally {
        await client.end();
      }
    },
  );

  it.runIf(method !== 'password')('cannot satisfy channel_binding=require without TLS', async () => {
    const refused = run('psql', ['-X', '-A', '-t', '-c', 'select 1'], {
      env: psqlEnv('alice', 'wonderland', { PGSSLMODE: 'disable', PGCHANNELBINDING: 'require' }),
    });
    await expect(refused).rejects.toMatchObject({ stderr: expect.stringMatching(/channel binding/) });
  });

  it.runIf(method === 'scram-sha-256')(
    'slows the failures of an (address, user) pair, answering them one after another, and never a correct password',
    async () => {
      const from = (address: string, password: string, user = 'alice'): Promise<pg.Client> =>
        connect(user, password, false, { stream: () => socketFrom(address) });
      const failures = (address: string): Record<string, unknown>[] => logs.filter((line) => line['msg'] === 'failed login' && line['address'] === address);

      // One after the other, each failure of the pair is answered later than the one before.
      for (let i = 0; i < 4; i += 1) await expect(from('127.0.0.9', 'wrong')).rejects.toMatchObject({ code: '28P01' });
      expect(failures('127.0.0.9').map((line) => [line['user'], line['failures'], line['delayMs']])).toEqual([
        ['alice', 1, 0],
        ['alice', 2, 250],
        ['alice', 3, 500],
        ['alice', 4, 1000],
      ]);

      // Six guesses at once from 127.0.0.7 are answered one after another, each after the one before it.
      const events: string[] = [];
      const guesses = Array.from({ length: 6 }, () =>
        from('127.0.0.7', 'wrong').then(
          () => events.push('guess let in'),
          (error: { code?: string }) => events.push(`guess refused ${error.code}`),
        ),
      );
      await expect.poll(() => failures('127.0.0.7').length, { timeout: 10_000 }).toBe(6);
      const delays = failures('127.0.0.7').map((line) => line['delayMs'] as number);
      expect(delays[0]).toBe(0);
      for (let i = 1; i < delays.length; i += 1) expect(delays[i]).toBeGreaterThan(delays[i - 1]!);
      // The last waits for all the others: longer than the longest single delay (4 s).
      expect(delays[5]).toBeGreaterThan(4_000);
      // Meanwhile the right password from the same address is let in at once, and an unknown user's first failure is not delayed.
      const alice = await from('127.0.0.7', 'wonderland');
      try {
        expect((await alice.query('select session_user as u')).rows).toEqual([{ u: 'alice' }]);
        events.push('alice logged in');
      } finally {
        await alice.end();
      }
      await expect(from('127.0.0.7', 'x', 'mallory')).rejects.toMatchObject({ code: '28P01' });
      expect(
        failures('127.0.0.7')
          .filter((line) => line['user'] === 'mallory')
          .map((line) => [line['failures'], line['delayMs']]),
      ).toEqual([[1, 0]]);
      await Promise.all(guesses);
      expect(events.filter((event) => event.startsWith('guess'))).toEqual(Array(6).fill('guess refused 28P01'));
      expect(events.indexOf('alice logged in')).toBeLessThan(events.length - 1);
      expect(failures('127.0.0.8')).toEqual([]);
    },
  );
});
