import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureStream, startKinesisStandIn } from '../../src/demo/kinesis-standin.js';
import { createKinesisClient } from '../../src/kinesis/client.js';
import { freePort } from '../support/child-server.js';

const run = promisify(execFile);
const ROOT = resolve('.');

interface Instruction {
  stage: number;
  keyword: string;
  args: string;
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped, each tagged with its stage. */
function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\n\s*/g, ' ');
  let stage = -1;
  const result: Instruction[] = [];
  for (const line of joined.split('\n')) {
    const match = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (!match || line.trimStart().startsWith('#')) continue;
    if (match[1] === 'FROM') stage += 1;
    result.push({ stage, keyword: match[1]!, args: match[2]!.trim() });
  }
  return result;
}

/**
 * No Docker daemon runs on these machines, so the image is checked by what can be checked without one: the
 * Dockerfile's promises against each other, and its final stage's layout (no src/, compiled dist/) served for
 * real, with the HEALTHCHECK's own command asking /readyz.
 */
describe('the container image (Dockerfile)', { timeout: 420_000 }, () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('runs Node 22, keeps its data in a volume, serves the HTTP port its health check asks, and copies nothing .dockerignore drops', async () => {
    const steps = instructions(await readFile('Dockerfile', 'utf8'));
    const from = steps.filter((step) => step.keyword === 'FROM').map((step) => step.args.split(' ')[0]);
    expect(from).toEqual(['node:22-bookworm-slim', 'node:22-bookworm-slim']);
    const final = steps.filter((step) => step.stage === 1);
    const cmd = JSON.parse(final.find((step) => step.keyword === 'CMD')!.args) as string[];
    const httpPort = cmd[cmd.indexOf('--http-port') + 1];
    const dataDir = cmd[cmd.indexOf('--data-dir') + 1];
    expect(final.find((step) => step.keyword === 'VOLUME')?.args).toBe(dataDir);
    expect(final.find((step) => step.keyword === 'EXPOSE')?.args.split(' ')).toContain(httpPort);
    expect(final.find((step) => step.keyword === 'HEALTHCHECK')?.args).toContain(`http://127.0.0.1:${httpPort}/readyz`);

    const ignored = (await readFile('.dockerignore', 'utf8'))
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    const copied = steps.filter((step) => step.keyword === 'COPY' && !step.args.startsWith('--from')).flatMap((step) => step.args.split(' ').slice(0, -1));
    expect(copied.filter((source) => ignored.includes(source.replace(/\/$/, '')))).toEqual([]);
  });

  it('serves from the final stage layout (compiled dist/, no src/), and its HEALTHCHECK command passes', async () => {
    const build = await mkdtemp(join(tmpdir(), 'kinesql-image-build-'));
    const image = await mkdtemp(join(tmpdir(), 'kinesql-image-app-'));
    dirs.push(build, image);
    // The build stage: package files, tsconfig.json and src/, then `npm run build` (npm ci is the lock's install).
    for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'src']) await cp(join(ROOT, entry), join(build, entry), { recursive: true });
    await symlink(join(ROOT, 'node_modules'), join(build, 'node_modules'));
    await run('npm', ['run', 'build'], { cwd: build });
    // The final stage: what its COPY lines take.
    await cp(join(build, 'dist'), join(image, 'dist'), { recursive: true });
    for (const entry of ['package.json', 'bin', 'config']) await cp(join(ROOT, entry), join(image, entry), { recursive: true });
    await symlink(join(ROOT, 'node_modules'), join(image, 'node_modules'));

    // The image serves config/tables (the demo's definition) by default: give it that stream on a stand-in.
    const standIn = await startKinesisStandIn();
    const kinesis = createKinesisClient({ region: 'us-east-1', kinesisEndpoint: standIn.endpoint, accessKeyId: 'test', secretAccessKey: 'test' });
    await ensureStream(kinesis, 'demo-events', 1);
    kinesis.destroy();
    const port = await freePort();
    const httpPort = await freePort();
    const server = spawn(
      process.execPath,
      ['bin/kinesql.js', 'serve', '--port', String(port), '--http-port', String(httpPort), '--kinesis-endpoint', standIn.endpoint, '--log-level', 'warn'],
      { cwd: image, env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let errors = '';
    server.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    try {
      const steps = instructions(await readFile('Dockerfile', 'utf8'));
      const check = JSON.parse(/CMD\s+(\[.*\])/.exec(steps.find((step) => step.keyword === 'HEALTHCHECK')!.args)![1]!) as string[];
      const command = check.map((arg) => arg.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${httpPort}`));
      let healthy = false;
      for (let attempt = 0; attempt < 120 && !healthy && server.exitCode === null; attempt += 1) {
        healthy = await run(command[0] === 'node' ? process.execPath : command[0]!, command.slice(1)).then(
          () => true,
          () => false,
        );
        if (!healthy) await new Promise((done) => setTimeout(done, 500));
      }
      expect(healthy, errors).toBe(true);
      expect(server.exitCode).toBeNull();
    } finally {
      server.kill('SIGTERM');
      await once(server, 'exit');
      await standIn.close();
    }
  });
});
