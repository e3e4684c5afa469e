import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ClosedPartitionStorage, DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import { ARRIVAL_SKEW_MS } from '../../src/store/columnar-partitions.js';
import { DDL_LOCK_TIMEOUT_MS } from '../../src/store/ddl-locks.js';
import { type RunningKinesql, startKinesql } from '../../src/kinesql.js';
import type { ExternalPostgres } from '../support/external-postgres.js';
import { hasColumnar, type StoredPartition, startColumnarEngine, storedPartitions, ticksDefinitions as definitions } from '../support/columnar-engine.js';
import { startHarness, testLogger, type Harness } from '../support/harness.js';

/**
 * kinesql.eviction-interval: the bound within which every closed partition must be columnar. Converting one
 * partition per interval would need N intervals for N partitions.
 */
const EVICTION_INTERVAL_MS = 20_000;
const READER_PAUSE_MS = 500;
const PUTS = 6;
const RECORDS_PER_PUT = 400;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A client running `select count(*)` every READER_PAUSE_MS until stopped, keeping every answer. */
function steadyReader(client: pg.Client): { answers: { startedAt: number; count: number }[]; stop(): Promise<void> } {
  const answers: { startedAt: number; count: number }[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const startedAt = Date.now();
      const { rows } = await client.query('select count(*)::int as n from ticks');
      answers.push({ startedAt, count: Number(rows[0]?.n) });
      await sleep(READER_PAUSE_MS);
    }
  })();
  return {
    answers,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** Upper bound of the partitions that can receive no more records: every shard's last arrival, less the skew. */
async function closedBefore(admin: pg.Client): Promise<Date> {
  const { rows } = await admin.query(
    `SELECT min(last) - make_interval(secs => $1::float8 / 1000) AS before
       FROM (SELECT max(_message_timestamp) AS last FROM public.ticks GROUP BY _shard_id) shards`,
    [ARRIVAL_SKEW_MS],
  );
  return rows[0]?.['before'] as Date;
}

/** The partitions stored after `named` are all columnar, or `boundMs` passed since `since`. */
async function awaitColumnar(admin: pg.Client, named: StoredPartition[], since: number, boundMs: number): Promise<StoredPartition[]> {
  let held = await storedPartitions(admin, 'public.ticks');
  const allColumnar = () => named.every((old) => held.find((partition) => partition.name === old.name)?.storage === 'columnar');
  while (!allColumnar() && Date.now() - since < boundMs) {
    await sleep(250);
    held = await storedPartitions(admin, 'public.ticks');
  }
  return held;
}

const storageOf = (held: StoredPartition[], named: StoredPartition[]): string[] =>
  named.map((old) => `${old.name} ${held.find((partition) => partition.name === old.name)?.storage}`);

/** kinesql on a fresh engine with citus_columnar: partitions of a second, a 10-minute window, no follower. */
async function startOnColumnarEngine(
  storage: ClosedPartitionStorage,
  logger?: Logger,
): Promise<{ engine: ExternalPostgres; admin: pg.Client; harness: Harness }> {
  const { engine, admin } = await startColumnarEngine();
  const harness = await startHarness({
    streams: [{ name: 'ticks', shards: 2 }],
    definitions,
    ...(logger ? { logger } : {}),
    configure: (config) => ({
      ...config,
      engine: { ...config.engine, url: engine.url },
      read: { ...config.read, iterFromTimestamp: true, iterOffsetSeconds: 600 },
      scan: {
        ...DEFAULT_SCAN_CONFIG,
        readBudgetShare: 0,
        evictionIntervalMs: EVICTION_INTERVAL_MS,
        partitionIntervalMs: 1000,
        closedPartitionStorage: storage,
      },
    }),
  });
  return { engine, admin, harness };
}

/**
 * Puts `puts` batches of RECORDS_PER_PUT records a second apart, then, ARRIVAL_SKEW_MS later, records on every
 * shard that close the partitions of the others. Returns how many records were put.
 */
async function putClosedPartitions(harness: Harness, puts: number): Promise<number> {
  let n = 0;
  for (let put = 0; put < puts; put++) {
    await harness.put(
      'ticks',
      Array.from({ length: RECORDS_PER_PUT }, () => ({ n: n++, word: `w${n % 7}` })),
    );
    await sleep(1_000);
  }
  await sleep(ARRIVAL_SKEW_MS + 500);
  await harness.put(
    'ticks',
    Array.from({ length: 20 }, () => ({ n: n++, word: 'closing' })),
  );
  return n;
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
    const readerClient = await harness.connect();
    const client = await harness.connect();
    const reader = steadyReader(readerClient);
    const contents = 'select n, word, _shard_id, _shard_sequence_id, _message_timestamp from ticks order by _shard_id, _shard_sequence_id';
    try {
      const total = await putClosedPartitions(harness, PUTS);
      const putsDone = Date.now();
      const before = (await client.query(contents)).rows;
      expect(before).toHaveLength(total);
      const closedAt = Date.now();
      const boundary = await closedBefore(admin);
      const heldBefore = await storedPartitions(admin, 'public.ticks');
      const closed = heldBefore.filter((partition) => partition.to.getTime() <= boundary.getTime());
      expect(closed.length).toBeGreaterThanOrEqual(3);

      const held = await awaitColumnar(admin, closed, closedAt, EVICTION_INTERVAL_MS);
      // The conversions may all finish while the reader sleeps (or before closedAt, started by the catch-ups above):
      // let it answer once more after them so that its answers span the conversions.
      await vi.waitFor(() => expect(reader.answers.some((answer) => answer.startedAt > closedAt)).toBe(true), {
        timeout: 30_000,
        interval: 100,
      });
      await reader.stop();
      const putOff = logLines.filter((line) => String(line['msg']).includes('closed partition')).map((line) => JSON.stringify(line));
      expect(storageOf(held, closed), putOff.join('\n')).toEqual(closed.map((old) => `${old.name} columnar`));

      // Readers wait behind a swap only while it holds the table: for its catalog changes, never its lock budget.
      const swaps = logLines.filter((line) => line['msg'] === 'a closed partition is now stored columnar');
      expect(swaps.length).toBeGreaterThanOrEqual(closed.length);
      for (const swap of swaps) expect(Number(swap['exclusiveMs'])).toBeLessThan(DDL_LOCK_TIMEOUT_MS);

      // Each partition holds the rows it held, and every answer during the conversions counted each record once.
      for (const old of heldBefore) expect(held.find((partition) => partition.name === old.name)?.rows).toBe(old.rows);
      expect((await client.query(contents)).rows).toEqual(before);
      const during = reader.answers.filter((answer) => answer.startedAt > putsDone);
      expect(during.length).toBeGreaterThan(0);
      expect(during.filter((answer) => answer.count !== total)).toEqual([]);
      // The partition the closing records are in can still receive records: heap.
      expect(held.at(-1)?.storage).toBe('heap');
    } finally {
      await reader.stop();
      await readerClient.end();
      await client.end();
    }
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
    const n = await putClosedPartitions(harness, 3);
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
