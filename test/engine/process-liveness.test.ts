import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isRunning } from '../../src/engine/process-liveness.js';

describe('isRunning', () => {
  it('counts an exited process its parent has not reaped (a zombie) as gone, and its live parent as running', async () => {
    // The shell starts a short sleep, then becomes a long sleep that never reaps it.
    const parent = spawn('/bin/sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
      const child = Number.parseInt(line.toString(), 10);
      await expect.poll(() => isRunning(child), { timeout: 10_000, interval: 50 }).toBe(false);
      // kill -0 still finds it: only its state says it has exited.
      expect(() => process.kill(child, 0)).not.toThrow();
      expect(isRunning(parent.pid!)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('counts a pid no process has as gone', async () => {
    const done = spawn('/bin/true');
    await once(done, 'exit');
    expect(isRunning(done.pid!)).toBe(false);
  });
});
