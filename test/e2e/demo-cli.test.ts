import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function psqlCount(port: number): Promise<number | undefined> {
  try {
    const { stdout } = await run('psql', ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', String(port), '-U', 'demo', '-c', 'select count(*) from demo_events'], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '5' },
    });
    return Number(stdout.trim());
  } catch {
    return undefined;
  }
}

describe('kinesql demo (what `npm start` runs)', () => {
  let child: ChildProcess | undefined;

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
    }
  });

  it('serves a live stream to psql and stops cleanly on Ctrl-C', async () => {
    const port = await freePort();
    const started = Date.now();
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'demo', '--port', String(port), '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));

    let first: number | undefined;
    // The issue asks for an answer within 20 s of start; the limit here is generous because CI machines are shared.
    while (first === undefined && Date.now() - started < 90_000 && child.exitCode === null) {
      first = await psqlCount(port);
      if (first === undefined) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(first, output).toBeGreaterThanOrEqual(0);
    console.info(`demo answered psql ${Date.now() - started} ms after start`);
    expect(output).toContain(`psql -h 127.0.0.1 -p ${port}`);

    // The generator keeps writing: a later statement sees more events.
    let later = first!;
    const deadline = Date.now() + 30_000;
    while (later <= first! && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      later = (await psqlCount(port)) ?? later;
    }
    expect(later).toBeGreaterThan(first!);

    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
