import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { typedMessage } from '../../src/pg/framing.js';
import { startHarness, type Harness } from '../support/harness.js';
import { RawClient } from '../support/raw-client.js';

const definition = {
  tableName: 'cafes',
  streamName: 'cafes',
  message: { dataFormat: 'json', fields: [{ name: 'name', type: 'VARCHAR', mapping: 'name' }] },
};

/** psql reading its script from stdin as raw bytes, with the given environment; stdout as bytes. */
function psql(harness: Harness, script: Buffer, env: Record<string, string>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'psql',
      ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-h', harness.server.host, '-p', String(harness.server.port), '-U', 'tester', '-d', 'kinesql'],
      {
        env: { PATH: process.env['PATH'] ?? '', ...env },
      },
    );
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(Buffer.concat(err).toString('latin1')))));
    child.stdin.end(script);
  });
}

describe('client encodings other than UTF8', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'cafes', shards: 1 }], definitions: { 'cafes.json': definition } });
    await harness.put('cafes', [{ name: 'café' }, { name: 'bar' }]);
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('reads and writes LATIN1 with PGCLIENTENCODING=LATIN1 and no LANG, and SQL in that encoding finds the row', async () => {
    const script = Buffer.from(
      "show client_encoding;\nselect name from cafes where name = 'café';\nselect count(*) from cafes where name like '%é';\n",
      'latin1',
    );
    const out = await psql(harness, script, { PGCLIENTENCODING: 'LATIN1' });
    expect(out).toEqual(Buffer.from('LATIN1\ncafé\n1\n', 'latin1'));
  });

  it('follows SET client_encoding (psql \\encoding) in the middle of a session, and SQL_ASCII as psqlODBC asks without LANG', async () => {
    // In WIN1252 '€' is the byte 0x80 and 'é' 0xe9.
    const win1252 = (text: string) => Buffer.from(Array.from(text, (char) => (char === '€' ? 0x80 : char.charCodeAt(0))));
    const script = Buffer.concat([
      win1252("\\encoding WIN1252\nselect name || ' €' from cafes where name = 'café';\n"),
      Buffer.from("set client_encoding to 'SQL_ASCII';\nshow client_encoding;\nselect name from cafes where name = 'café';\n", 'utf8'),
    ]);
    const out = await psql(harness, script, {});
    expect(out).toEqual(Buffer.concat([win1252('café €\n'), Buffer.from('SQL_ASCII\ncafé\n', 'utf8')]));
  });

  it("sends kinesql's own errors in the session's encoding, as PostgreSQL sends its own", async () => {
    // psql prints a message's bytes as they came: in LATIN1 'ô' is the byte 0xf4, in WIN1252 '€' is 0x80.
    const refusal = async (script: Buffer, env: Record<string, string>): Promise<Buffer> => {
      const error = await psql(harness, script, env).then(
        () => undefined,
        (failure: Error) => failure,
      );
      expect(error).toBeDefined();
      return Buffer.from(error!.message, 'latin1');
    };
    const latin1 = await refusal(Buffer.from('set role "rôle";\n', 'latin1'), { PGCLIENTENCODING: 'LATIN1' });
    expect(latin1.includes(Buffer.from('permission denied to set role "rôle": kinesql is read-only', 'latin1'))).toBe(true);
    // A statement of 128 KB or more is decoded by the worker that analyses it, in the session's encoding too.
    const long = await refusal(Buffer.from(`set role${' '.repeat(200_000)}"rôle";\n`, 'latin1'), { PGCLIENTENCODING: 'LATIN1' });
    expect(long.includes(Buffer.from('permission denied to set role "rôle": kinesql is read-only', 'latin1'))).toBe(true);
    const win1252 = await refusal(Buffer.from([...Buffer.from('set role "'), 0x80, ...Buffer.from('uro";\n')]), { PGCLIENTENCODING: 'WIN1252' });
    expect(win1252.includes(Buffer.from([...Buffer.from('set role "'), 0x80, ...Buffer.from('uro"')]))).toBe(true);
    // The same session in UTF8 gets UTF-8.
    const utf8 = await refusal(Buffer.from('set role "rôle";\n', 'utf8'), { PGCLIENTENCODING: 'UTF8' });
    expect(utf8.includes(Buffer.from('set role "rôle"', 'utf8'))).toBe(true);
  });

  it('reads a Parse of 128 KB or more in the session encoding too: the worker that analyses it decodes it', async () => {
    const client = await RawClient.startup(harness.server.port, { user: 'tester' });
    try {
      client.write(typedMessage('Q', Buffer.from("set client_encoding to 'LATIN1'\0")));
      await client.readUntilReady();
      const sql = Buffer.from(`set role${' '.repeat(200_000)}"rôle"`, 'latin1');
      // The unnamed statement, no parameter types.
      client.write(typedMessage('P', Buffer.from([0]), sql, Buffer.from([0, 0, 0])));
      client.write(typedMessage('S'));
      const error = (await client.readUntilReady()).find((reply) => reply.type === 'E');
      expect(error?.body.includes(Buffer.from('permission denied to set role "rôle": kinesql is read-only', 'latin1'))).toBe(true);
    } finally {
      client.close();
    }
  });

  it('refuses a multi-byte encoding kinesql cannot read SQL in, naming what it can', async () => {
    await expect(psql(harness, Buffer.from('select 1;\n'), { PGCLIENTENCODING: 'EUC_JP' })).rejects.toThrow(
      /client_encoding" can only name UTF8, SQL_ASCII or a single-byte encoding/,
    );
  });
});
