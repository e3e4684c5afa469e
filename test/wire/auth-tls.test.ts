import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { md5Secret } from '../../src/wire/auth/credentials.js';
import { makeScramVerifier } from '../../src/wire/auth/scram.js';
import { startHarness, type Harness } from '../support/harness.js';

const run = promisify(execFile);

describe.each(['scram-sha-256', 'md5', 'password'] as const)('authentication with %s and TLS', (method) => {
  let harness: Harness;
  let certDir: string;
  let ca: Buffer;

  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'kinesql-tls-'));
    await run('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(certDir, 'server.key'), '-out', join(certDir, 'server.crt'),
    ]);
    ca = await readFile(join(certDir, 'server.crt'));
    harness = await startHarness({
      streams: [],
      definitions: {},
      configure: (config) => ({
        ...config,
        wire: {
          authMethod: method,
          // alice has a SCRAM verifier, bob an md5 hash: neither password is stored in clear.
          users: `alice:${makeScramVerifier('wonderland')}, bob:${md5Secret('bob', 'builder')}`,
          tlsCertFile: join(certDir, 'server.crt'),
          tlsKeyFile: join(certDir, 'server.key'),
        },
      }),
    });
  });

  afterAll(async () => {
    await harness?.close();
    await rm(certDir, { recursive: true, force: true });
  });

  const connect = async (user: string, password: string, ssl: pg.ClientConfig['ssl'] = false): Promise<pg.Client> => {
    const client = new pg.Client({ ...harness.connection, user, password, ssl });
    await client.connect();
    return client;
  };

  it('lets a user with the right password in, over TLS verified against the configured certificate', async () => {
    const users = method === 'md5' ? [['bob', 'builder']] : method === 'scram-sha-256' ? [['alice', 'wonderland']] : [['alice', 'wonderland'], ['bob', 'builder']];
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
        PGHOST: 'localhost', PGPORT: String(harness.server.port), PGUSER: user, PGPASSWORD: password, PGDATABASE: 'kinesql',
        PGSSLMODE: 'verify-full', PGSSLROOTCERT: join(certDir, 'server.crt'), PGCONNECT_TIMEOUT: '10',
      },
    });
    expect(out.stdout.trim()).toBe('42');
  });
});
