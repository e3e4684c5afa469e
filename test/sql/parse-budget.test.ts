import { describe, expect, it } from 'vitest';
import { budgetVerdict } from '../../src/sql/parse-pool.js';
import { currentThreadId, threadCpuMs } from '../../src/sql/thread-cpu.js';

describe("a statement's analysis budget counts its CPU time", () => {
  it('refuses an analysis that used its budget of CPU time, naming kinesql.parse-timeout', () => {
    expect(budgetVerdict(1_000, 1_000, 1_000)).toBe('statement too complex: analysing it took longer than 1000 ms (kinesql.parse-timeout)');
    expect(budgetVerdict(1_200, 4_000, 1_000)).toMatch(/longer than 1000 ms \(kinesql\.parse-timeout\)/);
  });

  it('lets an analysis that waited for a core go on until it used its budget, looking again when the rest could be used', () => {
    // 300 ms of CPU in the first second of wall-clock time: 700 ms of budget are left.
    expect(budgetVerdict(300, 1_000, 1_000)).toBe(700);
    // Nearly all of it used: looked at again soon, not in a busy loop.
    expect(budgetVerdict(990, 1_500, 1_000)).toBe(50);
  });

  it('refuses an analysis still short of its CPU budget after five budgets of wall-clock time, saying the cores were busy', () => {
    expect(budgetVerdict(120, 4_900, 1_000)).toBe(100);
    const refusal = budgetVerdict(120, 5_000, 1_000);
    expect(refusal).toMatch(/took longer than 5000 ms, 5 times kinesql\.parse-timeout, on cores busy with other work \(120 ms of CPU time\)/);
  });
});

describe('the CPU time of a thread, from /proc', () => {
  const tid = currentThreadId();

  it.runIf(tid !== undefined)('grows with work the thread does and not while it sleeps', () => {
    const start = threadCpuMs(tid!)!;
    expect(start).toBeGreaterThanOrEqual(0);
    // Asleep for 300 ms of wall-clock time: at most a tick or two of CPU.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    const afterSleep = threadCpuMs(tid!)!;
    expect(afterSleep - start).toBeLessThanOrEqual(20);
    // Busy until the thread's own count shows 100 ms more (or, if it never moves, until the test gives up).
    const giveUpAt = performance.now() + 20_000;
    let now = afterSleep;
    while (now - afterSleep < 100 && performance.now() < giveUpAt) now = threadCpuMs(tid!)!;
    expect(now - afterSleep).toBeGreaterThanOrEqual(100);
  });
});
