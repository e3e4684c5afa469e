import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { isLoopbackHost, unauthenticatedExposure } from '../../src/wire/exposure.js';

const run = promisify(execFile);

describe('serving beyond loopback needs authentication', () => {
  it('tells loopback addresses from the rest', () => {
    for (const host of ['127.0.0.1', '127.8.9.1', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.1.2.3', '192.168.0.4', 'db.example.com', '128.0.0.1']) expect(isLoopbackHost(host), host).toBe(false);
  });

  it('refuses trust on a network address, accepts it with authentication configured', () => {
    const exposed = { ...DEFAULT_CONFIG, server: { host: '0.0.0.0', port: 5433 } };
    expect(unauthenticatedExposure(exposed)).toMatch(/refusing to serve 0\.0\.0\.0:5433 without authentication/);
    expect(unauthenticatedExposure({ ...exposed, wire: { authMethod: 'scram-sha-256', users: 'a:b' } })).toBeUndefined();
    expect(unauthenticatedExposure(DEFAULT_CONFIG)).toBeUndefined();
  });

  it('`kinesql serve --host 0.0.0.0` with trust exits with the reason before listening', async () => {
    const tables = await mkdtemp(join(tmpdir(), 'kinesql-exposure-'));
    try {
      const outcome = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--host', '0.0.0.0', '--port', '0', '--tables', tables]).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
      );
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain('refusing to serve 0.0.0.0:0 without authentication');
      expect(outcome.stderr).toContain('--allow-unauthenticated-remote');
    } finally {
      await rm(tables, { recursive: true, force: true });
    }
  });
});
