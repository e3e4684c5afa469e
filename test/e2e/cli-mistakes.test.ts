import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const TABLES = ['--tables', 'config/tables'];

/** Runs `kinesql` (bin/kinesql.js, as `npx kinesql` does) and returns its exit code and what it printed. */
async function kinesql(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/kinesql.js', ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('kinesql on the command line: mistakes get one line that says what to do, before the engine starts', { timeout: 60_000 }, () => {
  const servers: Server[] = [];

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => new Promise((done) => server.close(done))));
  });

  async function listener(onConnection: (socket: import('node:net').Socket) => void): Promise<number> {
    const server = createServer(onConnection);
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return (server.address() as { port: number }).port;
  }

  it('runs from a checkout with no build: scram-verifier prints a verifier', async () => {
    const child = execFile(process.execPath, ['bin/kinesql.js', 'scram-verifier']);
    child.stdin?.end('a password\n');
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await once(child, 'exit');
    expect(output).toMatch(/^SCRAM-SHA-256\$4096:[^$]+\$[^:]+:[^\s]+\n$/);
  });

  it('suggests the nearest option for an unknown one', async () => {
    const { code, stderr } = await kinesql(['serve', '--prot', '5433']);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('kinesql: unknown option --prot; did you mean --port? ("kinesql --help" lists the options)');
  });

  it('names the port flag when the port is taken', async () => {
    const port = await listener(() => undefined);
    const { code, stderr } = await kinesql(['serve', ...TABLES, '--port', String(port)]);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(
      `kinesql: the port 127.0.0.1:${port} is already in use: stop what listens there, or choose another port with --port (kinesql.port)`,
    );
  });

  it('refuses a definitions directory that does not exist', async () => {
    const { code, stderr } = await kinesql(['serve', '--tables', '/nonexistent/tables']);
    expect(code).toBe(1);
    expect(stderr).toContain('table definitions: /nonexistent/tables does not exist; set --tables');
  });

  it('refuses a data directory on a pseudo-filesystem instead of hanging', async () => {
    const { code, stderr } = await kinesql(['serve', ...TABLES, '--data-dir', '/proc/kinesql']);
    expect(code).toBe(1);
    expect(stderr).toContain("is on the kernel's proc pseudo-filesystem");
  });

  it('names the engine URL when nothing listens there, and when what listens is not PostgreSQL', async () => {
    const closed = await listener(() => undefined);
    await new Promise((done) => servers.pop()?.close(done));
    const refused = await kinesql(['serve', ...TABLES, '--engine-url', `postgresql://u:p@127.0.0.1:${closed}/db`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`the engine at 127.0.0.1:${closed} (--engine-url, kinesql.engine-url) refuses connections`);

    const hangsUp = await listener((socket) => socket.destroy());
    const notPostgres = await kinesql(['serve', ...TABLES, '--engine-url', `postgresql://u:p@127.0.0.1:${hangsUp}/db`]);
    expect(notPostgres.code).toBe(1);
    expect(notPostgres.stderr).toContain('accepted a connection but is not a PostgreSQL server');
  });
});
