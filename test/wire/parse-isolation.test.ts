import { type ChildProcess, spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startHarness, type Harness } from '../support/harness.js';

const definition = { tableName: 'ticks', streamName: 'ticks', message: { dataFormat: 'json', fields: [{ name: 'n', type: 'INTEGER', mapping: 'n' }] } };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `select 1` every 50 ms for `durationMs`: each answer's latency in ms. */
async function sampleLatency(client: pg.Client, durationMs: number): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    const started = performance.now();
    await client.query('select 1');
    const took = performance.now() - started;
    latencies.push(took);
    await sleep(Math.max(0, 50 - took));
  }
  return latencies;
}

const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.ceil(values.length * 0.99) - 1]!;

type Flood = { process: ChildProcess; outcomes: string[] };

/** A child process sending a statement of `bytes` over and over (test/support/statement-flood.ts); its answers' SQLSTATEs or `ok`. */
function flood(port: number, user: string, bytes: number, kind: 'select' | 'insert', protocol: 'simple' | 'extended' = 'simple'): Flood {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/statement-flood.ts', String(port), user, String(bytes), kind, protocol], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // An attacker's clients run on their own machines. Here they share the 2 cores with the server, so they get the
  // lowest priority: the victim then measures what kinesql lets one client do to another, not how this machine
  // shares its cores with the attacking processes (at priority 0 those raised the victim's p99 from 13-30 ms to
  // 77-81 ms, with stalls up to 750 ms).
  setPriority(child.pid!, 19);
  const outcomes: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => outcomes.push(line));
  return { process: child, outcomes };
}

/** How the victim fared in each kind of window: its select 1 latencies, and the server's event loop delay p99 (ms). */
interface Windows {
  control: number[];
  attacked: number[];
  controlLoopP99: number;
  attackedLoopP99: number;
}

/** Alternating windows of each kind, all WINDOW_MS long: the machine is shared and its load drifts within seconds. */
const ROUNDS = 10;
const WINDOW_MS = 1_500;

/**
 * Control and attack in turns, so both see the same machine: the flood processes are stopped (SIGSTOP) for each
 * control window and go on (SIGCONT) for each attack window, and each kind's samples are pooled. A control window
 * starts 500 ms after the stop (a statement already in a worker may still be analysed there, at the workers' lower
 * priority).
 */
async function controlAndAttack(victim: pg.Client, floods: Flood[]): Promise<Windows> {
  const control: number[] = [];
  const attacked: number[] = [];
  const controlLoop = monitorEventLoopDelay({ resolution: 5 });
  const attackedLoop = monitorEventLoopDelay({ resolution: 5 });
  for (let round = 0; round < ROUNDS; round++) {
    for (const f of floods) f.process.kill('SIGSTOP');
    await sleep(500);
    controlLoop.enable();
    control.push(...(await sampleLatency(victim, WINDOW_MS)));
    controlLoop.disable();
    for (const f of floods) f.process.kill('SIGCONT');
    await sleep(300);
    attackedLoop.enable();
    attacked.push(...(await sampleLatency(victim, WINDOW_MS)));
    attackedLoop.disable();
  }
  return { control, attacked, controlLoopP99: controlLoop.percentile(99) / 1e6, attackedLoopP99: attackedLoop.percentile(99) / 1e6 };
}

/** The victim's p99 in both kinds of window, and the server's event loop delay, as one line. */
function figures({ control, attacked, controlLoopP99, attackedLoopP99 }: Windows): { controlP99: number; attackedP99: number; line: string } {
  const [controlP99, attackedP99] = [p99(control), p99(attacked)];
  const line =
    `select 1 p99: control ${controlP99.toFixed(1)} ms (${control.length} samples), under attack ${attackedP99.toFixed(1)} ms (${attacked.length} samples), ` +
    `${(attackedP99 / controlP99).toFixed(2)}x; server event loop delay p99: control ${controlLoopP99.toFixed(1)} ms, under attack ${attackedLoopP99.toFixed(1)} ms`;
  return { controlP99, attackedP99, line };
}

/** The rule: another user's p99 under attack is at most 50 ms and at most 3x its own p99 in the control windows. */
const unhurt = ({ controlP99, attackedP99 }: { controlP99: number; attackedP99: number }) => attackedP99 <= 50 && attackedP99 <= 3 * controlP99;

/**
 * Measures the victim in control and attack windows (controlAndAttack), prints the figures with `context`, and
 * asserts the rule. A measurement that misses it is made once more and that one decides: on 2 shared cores a single
 * burst of another process can take the 3 slowest of 300 samples, while a shared thread that parses a 255 KB
 * statement (1.4-3.8 s each) or stalls for a 60 MB one misses it every time.
 */
async function expectUnhurt(victim: pg.Client, floods: Flood[], context: () => string): Promise<void> {
  let measured = figures(await controlAndAttack(victim, floods));
  console.log(`${measured.line}; ${context()}`);
  if (!unhurt(measured)) {
    measured = figures(await controlAndAttack(victim, floods));
    console.log(`measured again: ${measured.line}; ${context()}`);
  }
  expect(measured.attackedP99, 'select 1 p99 under attack (ms), at most 50').toBeLessThanOrEqual(50);
  expect(
    measured.attackedP99,
    `select 1 p99 under attack, at most 3x its p99 in the control windows (${measured.controlP99.toFixed(1)} ms)`,
  ).toBeLessThanOrEqual(3 * measured.controlP99);
}

describe('large statements are analysed off the shared thread, within a time budget, by workers that are replaced when they fail', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'ticks', shards: 1 }],
      definitions: { 'ticks.json': definition },
      configure: (config) => ({ ...config, engine: { ...config.engine, parseTimeoutMs: 5_000 } }),
    });
    await harness.put(
      'ticks',
      Array.from({ length: 20 }, (_, n) => ({ n })),
    );
  });

  afterAll(async () => {
    await harness?.close();
  });

  it("keeps another user's select 1 fast while 4 clients send 255 KB statements and 2 send 60 MB ones, and large statements work afterwards", async () => {
    const victim = new pg.Client({ ...harness.connection, user: 'victim' });
    await victim.connect();
    const floods: ReturnType<typeof flood>[] = [];
    try {
      await sampleLatency(victim, 500);
      // The 255 KB statements are inserts: refused once analysed, they cost the engine nothing, so what the
      // victim measures is kinesql's analysis of them (the engine's own CPU is shared however kinesql parses).
      for (let i = 0; i < 4; i++) floods.push(flood(harness.server.port, `medium${i}`, 255 * 1024, 'insert'));
      for (let i = 0; i < 2; i++) floods.push(flood(harness.server.port, `huge${i}`, 60 * 1024 * 1024, 'select'));
      // Under way: every 255 KB client has had an answer.
      while (floods.slice(0, 4).some((f) => f.outcomes.length === 0)) await sleep(100);

      await expectUnhurt(
        victim,
        floods,
        () =>
          `answers to the 255 KB clients: ${floods
            .slice(0, 4)
            .map((f) => f.outcomes.length)
            .join(', ')}; to the 60 MB clients: ${floods
            .slice(4)
            .map((f) => f.outcomes.join(' ') || 'none yet')
            .join(' | ')}`,
      );
      for (const f of floods) f.process.kill();
      // Every 255 KB insert was analysed and refused as read-only; every 60 MB statement got "statement too
      // complex" (never a broken parser's 42601 or an error without a SQLSTATE).
      for (const f of floods.slice(0, 4)) expect(new Set(f.outcomes)).toEqual(new Set(['25006']));
      for (const f of floods.slice(4)) for (const outcome of f.outcomes) expect(outcome).toBe('54001');

      // Large statements work again afterwards.
      const inList = Array.from({ length: 100_000 }, (_, i) => i).join(', ');
      expect((await victim.query(`select count(*)::int as n from ticks where n in (${inList})`)).rows).toEqual([{ n: 20 }]);
    } finally {
      for (const f of floods) f.process.kill();
      await victim.end();
    }
  }, 180_000);

  it("keeps another user's select 1 fast while clients send multi-megabyte Parse messages: analysed off the shared thread, or refused from their header", async () => {
    const victim = new pg.Client({ ...harness.connection, user: 'victim' });
    await victim.connect();
    const floods: Flood[] = [];
    try {
      await sampleLatency(victim, 500);
      for (let i = 0; i < 2; i++) floods.push(flood(harness.server.port, `parse${i}`, 4 * 1024 * 1024, 'select', 'extended'));
      floods.push(flood(harness.server.port, 'hugeparse', 60 * 1024 * 1024, 'select', 'extended'));
      while (floods.some((f) => f.outcomes.length === 0)) await sleep(100);
      await expectUnhurt(
        victim,
        floods,
        () =>
          `beside Parse messages; answers to the 4 MB clients: ${floods
            .slice(0, 2)
            .map((f) => f.outcomes.length)
            .join(', ')}; to the 60 MB client: ${floods[2]!.outcomes.join(' ')}`,
      );
      for (const f of floods) f.process.kill();
      // A 4 MB statement is analysed in a worker and runs, or takes longer than kinesql.parse-timeout there; a
      // 60 MB one is refused from its header, as a Query of that size is.
      for (const f of floods.slice(0, 2)) for (const outcome of f.outcomes) expect(['ok', '54001']).toContain(outcome);
      for (const outcome of floods[2]!.outcomes) expect(outcome).toBe('54001');
    } finally {
      for (const f of floods) f.process.kill();
      await victim.end();
    }
  }, 180_000);
});
