import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ClosedPartitionStorage, DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import { type RunningKinesql, startKinesql } from '../../src/kinesql.js';
import type { ExternalPostgres } from '../support/external-postgres.js';
import { hasColumnar, startColumnarEngine, storedPartitions, ticksDefinitions as definitions } from '../support/columnar-engine.js';
import {
  awaitColumnar,
  checkConversionsUnderReader,
  closedBefore,
  putClosedPartitions,
  startColumnarTicks,
  steadyReader,
  storageOf,
} from '../support/columnar-conversions.js';
import { testLogger, type Harness } from '../support/harness.js';

/**
 * kinesql.eviction-interval: the bound within which every closed partition must be columnar. Converting one
 * partition per interval would need N intervals for N partitions.
 */
const EVICTION_INTERVAL_MS = 20_000;
const PUTS = 6;
const RECORDS_PER_PUT = 400;

/** kinesql on a fresh engine with citus_columnar: partitions of a second, a 10-minute window, no follower. */
async function startOnColumnarEngine(
  storage: ClosedPartitionStorage,
  logger?: Logger,
): Promise<{ engine: ExternalPostgres; admin: pg.Client; harness: Harness }> {
  const { engine, admin } = await startColumnarEngine();
  const harness = await startColumnarTicks({ storage, evictionIntervalMs: EVICTION_INTERVAL_MS, engineUrl: engine.url, ...(logger ? { logger } : {}) });
  return { engine, admin, harness };
}

describe.skipIf(!hasColumnar)('closed partitions become columnar while a client keeps reading', () => {
  let engine: ExternalPostgres;
  let admin: pg.Client;
  let harness: Harness;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const logger = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) });
    ({ engine, admin, harness } = await startOnColumnarEngine('columnar', logger));
  }, 120_000);

  afterAll(async () => {
    await admin?.end();
    await harness?.close();
    await engine?.stop();
  });

  it('converts every closed partition within one eviction interval, every answer counting each record once', async () => {
    await checkConversionsUnderReader(harness, admin, logLines, { puts: PUTS, perPut: RECORDS_PER_PUT, boundMs: EVICTION_INTERVAL_MS });
  }, 120_000);

  it('serves a changed definition by decoding the messages its columnar partitions hold again', async () => {
    expect((await storedPartitions(admin, 'public.ticks')).some((partition) => partition.storage === 'columnar')).toBe(true);
    const client = await harness.connect();
    try {
      const before = (await client.query('select n, word, _shard_id, _shard_sequence_id from ticks order by _shard_id, _shard_sequence_id')).rows;
      const ticks = definitions['ticks.json'];
      const changed = { ...ticks, message: { ...ticks.message, fields: [...ticks.message.fields, { name: 'n_again', type: 'INTEGER', mapping: 'n' }] } };
      await writeFile(join(harness.tablesDir, 'ticks.json'), JSON.stringify(changed));
      await vi.waitFor(() => expect(logLines.some((line) => line['msg'] === 'stream table rebuilt from loaded messages')).toBe(true), {
        timeout: 30_000,
        interval: 200,
      });
      const after = (await client.query('select n, n_again, word, _shard_id, _shard_sequence_id from ticks order by _shard_id, _shard_sequence_id')).rows;
      expect(after).toEqual(before.map((row) => ({ ...row, n_again: row.n })));
    } finally {
      await client.end();
    }
  }, 60_000);
});

describe.skipIf(!hasColumnar)('a kinesql restarted with closed-partition-storage = columnar', () => {
  let engine: ExternalPostgres;
  let admin: pg.Client;
  let harness: Harness;
  let restarted: RunningKinesql | undefined;

  beforeAll(async () => {
    ({ engine, admin, harness } = await startOnColumnarEngine('heap'));
  }, 120_000);

  afterAll(async () => {
    await restarted?.close();
    await admin?.end();
    await harness?.close();
    await engine?.stop();
  });

  it('converts the partitions closed before it started, with no record arriving since', async () => {
    const n = await putClosedPartitions(harness, 3, RECORDS_PER_PUT);
    const first = await harness.connect();
    expect((await first.query('select count(*)::int as n from ticks')).rows[0]?.n).toBe(n);
    await first.end();
    const boundary = await closedBefore(admin);
    const closed = (await storedPartitions(admin, 'public.ticks')).filter((partition) => partition.to.getTime() <= boundary.getTime());
    expect(closed.length).toBeGreaterThanOrEqual(2);
    expect(closed.every((partition) => partition.storage === 'heap')).toBe(true);
    await harness.server.close();

    // Where each shard's last record arrived is stored with its position: the first statement, which reads nothing new, closes them.
    restarted = await startKinesql(
      { ...harness.config, scan: { ...DEFAULT_SCAN_CONFIG, ...harness.config.scan, closedPartitionStorage: 'columnar' } },
      testLogger,
    );
    const client = new pg.Client({ host: restarted.host, port: restarted.port, user: 'tester', database: 'kinesql' });
    await client.connect();
    const reader = steadyReader(client);
    try {
      const started = Date.now();
      const held = await awaitColumnar(admin, closed, started, EVICTION_INTERVAL_MS);
      await reader.stop();
      expect(storageOf(held, closed)).toEqual(closed.map((old) => `${old.name} columnar`));
      for (const old of closed) expect(held.find((partition) => partition.name === old.name)?.rows).toBe(old.rows);
      expect(reader.answers.length).toBeGreaterThan(0);
      expect(reader.answers.filter((answer) => answer.count !== n)).toEqual([]);
    } finally {
      await reader.stop();
      await client.end();
    }
  }, 120_000);
});
