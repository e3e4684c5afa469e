import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import type { EngineRestart } from '../../src/engine/engine.js';
import { fromServer, keySeqDefinition, startFaultLoad, UNDER_WAY } from '../support/fault-load.js';
import { startHarness, type Harness } from '../support/harness.js';
import { errorFields, RawClient } from '../support/raw-client.js';

/**
 * The embedded engine's postmaster killed with kill -9 (kinesql starts it again itself), and kinesql shut
 * down, each while clients connect and query: what clients are told is PostgreSQL's word for it (57P03
 * while the engine starts up, 57P01 at shutdown), never an internal error or a path of kinesql's.
 */
const SERVED_AGAIN_MS = 10_000;
const UNCLEAN = /internal error|\/tmp\/|\.s\.PGSQL|ECONNREFUSED|Cannot use a pool/;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type LogLine = { msg?: string; err?: { message?: string }; reason?: string };

async function startWithLogs(logs: LogLine[]): Promise<Harness> {
  return startHarness({
    streams: [{ name: 'events', shards: 2 }],
    definitions: { 'events.json': keySeqDefinition('events') },
    configure: (config) => ({ ...config, scan: { ...DEFAULT_SCAN_CONFIG, ...config.scan, readBudgetShare: 0.2 } }),
    logger: pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) }),
  });
}

/** The engine's postmaster: the parent of a backend of kinesql's own. */
async function postmasterPid(harness: Harness): Promise<number> {
  const { rows } = await harness.server.engine.query('SELECT pg_backend_pid() AS pid');
  const status = await readFile(`/proc/${Number(rows[0]?.['pid'])}/status`, 'utf8');
  return Number(/^PPid:\s*(\d+)/m.exec(status)?.[1]);
}

describe('the embedded engine killed with kill -9 under load', () => {
  let harness: Harness;
  const logs: LogLine[] = [];
  const restarts: EngineRestart[] = [];

  beforeAll(async () => {
    harness = await startWithLogs(logs);
    harness.server.engine.onRestart((restart) => restarts.push(restart));
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('answers a login during the restart with 57P03, and serves it once the engine is back', async () => {
    const { load, stop } = startFaultLoad(harness, 'events', 4);
    const logins: { at: number; code?: string; message?: string }[] = [];
    let killedAt = 0;
    try {
      await vi.waitFor(() => expect(load.underWay()).toBe(true), UNDER_WAY);
      const postmaster = await postmasterPid(harness);
      killedAt = load.now();
      process.kill(postmaster, 'SIGKILL');
      // A client logging in again and again from the kill on, until it is served.
      for (;;) {
        const client = new pg.Client(harness.connection);
        client.on('error', () => undefined);
        const at = load.now();
        try {
          await client.connect();
          await client.query('select count(*) from events');
          logins.push({ at });
          break;
        } catch (error) {
          const { code, message } = error as { code?: string; message: string };
          logins.push({ at, ...(code ? { code } : {}), message });
          if (at - killedAt > SERVED_AGAIN_MS * 3) break;
        } finally {
          await client.end().catch(() => undefined);
        }
        await sleep(50);
      }
      await vi.waitFor(() => expect(restarts.length).toBe(1), { timeout: SERVED_AGAIN_MS, interval: 50 });
      const backAt = load.now();
      await vi.waitFor(() => expect(load.servedAgainAfter(backAt).every(Number.isFinite)).toBe(true), { timeout: SERVED_AGAIN_MS, interval: 100 });
    } finally {
      await stop();
    }
    const refused = logins.filter((login) => login.code !== undefined || login.message !== undefined);
    const served = logins.at(-1)!;
    console.info(
      `embedded engine back ${restarts[0]?.downMs} ms after its kill; a client logging in was refused ${refused.length} times ` +
        `(${[...new Set(refused.map((login) => `${login.code}: ${login.message}`))].join('; ')}) and served ${(served.at - killedAt).toFixed(0)} ms after the kill`,
    );
    expect(served.code).toBeUndefined();
    expect(served.message).toBeUndefined();
    expect(served.at - killedAt).toBeLessThan(SERVED_AGAIN_MS);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.filter((login) => login.code !== '57P03')).toEqual([]);
    const errors = load.errors();
    expect(errors.filter((error) => fromServer(error) && (error.code === 'XX000' || UNCLEAN.test(error.message ?? '')))).toEqual([]);
  }, 120_000);
});

/** The ErrorResponses a session gets until its connection closes, as severity and SQLSTATE. */
async function errorsUntilClosed(client: RawClient): Promise<string[]> {
  const errors: string[] = [];
  for (let message = await client.next(); message; message = await client.next()) {
    if (message.type === 'E') {
      const fields = errorFields(message.body);
      errors.push(`${fields['S']} ${fields['C']}`);
    }
  }
  return errors;
}

describe("kinesql's connections to an engine that stays up", () => {
  let harness: Harness;
  const restarts: EngineRestart[] = [];

  /** Runs SQL as the engine's superuser, on a connection of its own. */
  async function asAdmin(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    const admin = new pg.Client({ ...harness.server.engine.endpoint });
    await admin.connect();
    try {
      return (await admin.query(sql, params)).rows;
    } finally {
      await admin.end();
    }
  }

  beforeAll(async () => {
    harness = await startWithLogs([]);
    harness.server.engine.onRestart((restart) => restarts.push(restart));
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
  });

  it("an administrator ending kinesql's own connections counts as one restart, and kinesql goes on serving", async () => {
    const client = await harness.connect();
    await harness.put('events', [{ k: 'a', seq: 0 }]);
    expect((await client.query('select count(*)::int as n from events')).rows).toEqual([{ n: 1 }]);
    const rows = await asAdmin(
      `SELECT count(pg_terminate_backend(pid))::int AS ended FROM pg_stat_activity WHERE application_name LIKE 'kinesql%' AND pid <> pg_backend_pid()`,
    );
    expect(rows[0]?.['ended']).toBeGreaterThanOrEqual(2);
    await vi.waitFor(() => expect(restarts).toHaveLength(1), { timeout: SERVED_AGAIN_MS, interval: 20 });
    expect(restarts[0]?.reason).toMatch(/terminating connection due to administrator command/);
    await harness.put('events', [{ k: 'a', seq: 1 }]);
    expect((await client.query('select count(*)::int as n from events')).rows).toEqual([{ n: 2 }]);
    expect(restarts).toHaveLength(1);
    await client.end();
  }, 60_000);

  it('a watch connection that goes silent (its backend stopped) is given up after the heartbeat timeout, and kinesql reconnects', async () => {
    const before = restarts.length;
    const rows = await asAdmin(`SELECT pid FROM pg_stat_activity WHERE application_name = 'kinesql watch'`);
    expect(rows).toHaveLength(1);
    const pid = Number(rows[0]?.['pid']);
    process.kill(pid, 'SIGSTOP');
    try {
      await vi.waitFor(() => expect(restarts).toHaveLength(before + 1), { timeout: 30_000, interval: 100 });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(restarts.at(-1)?.reason).toMatch(/did not answer within/);
    const client = await harness.connect();
    expect((await client.query('select count(*)::int as n from events')).rows).toEqual([{ n: 2 }]);
    await client.end();
  }, 60_000);

  // Last: killing a backend makes the engine reset every process, as after a crash.
  it("a session gets the backend's own FATAL when the engine ends it, and kinesql's 08006 when it ends without one", async () => {
    const terminated = await RawClient.startup(harness.server.port);
    await asAdmin('SELECT pg_terminate_backend($1)', [terminated.key!.processId]);
    expect(await errorsUntilClosed(terminated)).toEqual(['FATAL 57P01']);
    const before = restarts.length;
    const killed = await RawClient.startup(harness.server.port);
    process.kill(killed.key!.processId, 'SIGKILL');
    expect(await errorsUntilClosed(killed)).toEqual(['FATAL 08006']);
    // kinesql's own connections went with the reset: it reconnects once the engine has recovered.
    await vi.waitFor(() => expect(restarts).toHaveLength(before + 1), { timeout: 30_000, interval: 50 });
    const client = await harness.connect();
    expect((await client.query('select count(*)::int as n from events')).rows).toEqual([{ n: 2 }]);
    await client.end();
  }, 60_000);
});

describe('kinesql shut down under load', () => {
  it('ends sessions with 57P01 and logs nothing about a pool used after its end', async () => {
    const logs: LogLine[] = [];
    const harness = await startWithLogs(logs);
    const { load, stop } = startFaultLoad(harness, 'events', 4);
    try {
      // A fixed warm-up: the close must meet queries in flight, and right after the load got under way
      // (FaultLoad.underWay) it met none in a run here.
      await sleep(1_500);
      await harness.close();
      await sleep(500);
    } finally {
      await stop();
    }
    const told = load.errors();
    expect(told.filter((error) => fromServer(error) && (error.code === 'XX000' || UNCLEAN.test(error.message ?? '')))).toEqual([]);
    const logged = logs.map((line) => `${line.msg} ${line.err?.message ?? ''} ${line.reason ?? ''}`);
    console.info(`at shutdown clients were told: ${[...new Set(told.map((error) => `${error.code}: ${error.message}`))].join('; ')}`);
    expect(told.filter(fromServer).map((error) => error.code)).toContain('57P01');
    expect(told.filter((error) => fromServer(error) && error.code !== '57P01')).toEqual([]);
    // Work of kinesql's that still reaches for the engine after it was closed (a catch-up finishing in the
    // background, a timer) is told that kinesql is shutting down.
    const late = { sqlstate: '57P01', message: 'terminating connection because kinesql is shutting down' };
    await expect(harness.server.engine.query('SELECT 1')).rejects.toMatchObject(late);
    await expect(harness.server.engine.transaction((tx) => tx.query('SELECT 1'))).rejects.toMatchObject(late);
    expect(logged.filter((line) => /Cannot use a pool|internal error/.test(line))).toEqual([]);
  }, 120_000);
});
