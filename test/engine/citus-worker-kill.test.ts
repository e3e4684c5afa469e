import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import { citusMissing } from '../support/citus-cluster.js';
import { checkExactness } from '../support/exactness.js';
import { fromServer, keySeqDefinition, startFaultLoad, UNDER_WAY, untilServedAgain } from '../support/fault-load.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * One worker of the Citus cluster killed (SIGKILL of its postmaster) while records arrive and clients query:
 * statements that need the worker fail with a SQLSTATE and a message that says which node, loads are tried
 * again, and once the worker is started again every record is shown exactly once and every client is served.
 */
const onCitus = process.env['KINESQL_TEST_ENGINE'] === 'citus';
const CLIENTS = 4;
/** How long the worker stays down. */
const DOWN_MS = 3_000;
/** Clients must be served again within this long of the worker's return. */
const SERVED_AGAIN_MS = 10_000;
/** Nothing a client is told may be an internal error or name a file or socket path. */
const UNCLEAN = /internal error|\/tmp\/|\.s\.PGSQL|\.c:\d|at .*\.(ts|js):\d/;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!onCitus || citusMissing() !== undefined)('a Citus worker killed under load', () => {
  let harness: Harness;
  const logs: { msg?: string; level?: number }[] = [];

  beforeAll(async () => {
    harness = await startHarness({
      streams: [{ name: 'orders', shards: 2 }],
      definitions: { 'orders.json': keySeqDefinition('orders') },
      configure: (config) => ({
        ...config,
        // The background follower loads too, as in production.
        scan: { ...DEFAULT_SCAN_CONFIG, ...config.scan, readBudgetShare: 0.2 },
      }),
      logger: pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as { msg?: string }) }),
    });
  }, 180_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('SIGKILL of one worker mid-load: clear errors meanwhile, every record exactly once after its return', async () => {
    const worker = harness.citus!.workers[0]!;
    const { load, stop } = startFaultLoad(harness, 'orders', CLIENTS);
    let killedAt = Number.NaN;
    let backAt = Number.POSITIVE_INFINITY;
    try {
      await vi.waitFor(() => expect(load.underWay()).toBe(true), UNDER_WAY);
      await sleep(1_000);
      killedAt = load.now();
      await worker.crash();
      // A new session logs in, and what needs no worker is answered meanwhile.
      const meanwhile = await harness.connect();
      try {
        expect((await meanwhile.query(`select table_name from information_schema.tables where table_name = 'orders'`)).rows).toEqual([
          { table_name: 'orders' },
        ]);
      } finally {
        await meanwhile.end();
      }
      await sleep(DOWN_MS);
      await worker.startAgain();
      backAt = load.now();
      await untilServedAgain(load, backAt, SERVED_AGAIN_MS * 3);
    } finally {
      await stop();
    }
    expect(load.writerErrors).toEqual([]);
    const servedAgain = load.servedAgainAfter(backAt);
    const errors = load.errors();
    const whileDown = errors.filter((error) => error.end >= killedAt);
    /** Each message a client was told, with its SQLSTATE and how often. */
    const kinds = new Map<string, number>();
    for (const error of errors) {
      const kind = `${error.code ?? '(client)'} ${error.message ?? ''}`;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    console.info(
      `worker down ${(backAt - killedAt).toFixed(0)} ms; every client served again within ${Math.max(...servedAgain).toFixed(0)} ms of its return; ` +
        `${load.answers.length - errors.length} answers, ${errors.length} errors (${whileDown.length} after the kill); ${load.put} records put\n` +
        [...kinds].map(([kind, count]) => `  ${count} × ${kind}`).join('\n'),
    );
    const warnings = [...new Set(logs.filter((line) => (line.level ?? 0) >= 40).map((line) => line.msg))];
    console.info(`kinesql warnings and errors: ${warnings.join(' | ')}`);
    // Statements that needed the worker while it was down were told so by the server, with a SQLSTATE.
    expect(whileDown.filter(fromServer).length).toBeGreaterThan(0);
    expect(errors.filter((error) => !fromServer(error))).toEqual([]);
    expect(errors.filter((error) => error.code === 'XX000' || UNCLEAN.test(error.message ?? ''))).toEqual([]);
    expect(Math.max(...servedAgain)).toBeLessThan(SERVED_AGAIN_MS);
    // The coordinator stayed up: nobody was told the engine itself was away, and kinesql did not reconnect to it.
    expect(errors.filter((error) => /engine is unavailable/.test(error.message ?? ''))).toEqual([]);
    expect(logs.map((line) => line.msg)).not.toContain('engine connection lost; reconnecting');

    const check = await harness.connect();
    try {
      const exact = await checkExactness(harness.kinesis, 'orders', check, 'orders');
      console.info(
        `orders: ${exact.records} records in the stream, ${exact.rows} rows shown; lost ${exact.lost.length}, duplicated ${exact.duplicated.length}, out of order ${exact.outOfOrderShards.length + exact.outOfOrderKeys.length}`,
      );
      expect(exact.records).toBe(load.put);
      expect(exact.lost).toEqual([]);
      expect(exact.duplicated).toEqual([]);
      expect(exact.unknown).toEqual([]);
      expect(exact.outOfOrderShards).toEqual([]);
      expect(exact.outOfOrderKeys).toEqual([]);
    } finally {
      await check.end();
    }
  }, 180_000);
});
