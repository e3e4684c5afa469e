import type { Logger } from 'pino';
import type pg from 'pg';
import { expect, vi } from 'vitest';
import { type ClosedPartitionStorage, DEFAULT_SCAN_CONFIG } from '../../src/config/config.js';
import { ARRIVAL_SKEW_MS } from '../../src/store/columnar-partitions.js';
import { DDL_LOCK_TIMEOUT_MS } from '../../src/store/ddl-locks.js';
import { type StoredPartition, storedPartitions, ticksDefinitions } from './columnar-engine.js';
import { type Harness, startHarness } from './harness.js';

const READER_PAUSE_MS = 500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ColumnarTicksOptions {
  storage: ClosedPartitionStorage;
  evictionIntervalMs: number;
  /** The engine, when not the harness's own. */
  engineUrl?: string;
  logger?: Logger;
}

/** A harness serving ticks (`ticksDefinitions`, two shards) in partitions of a second over a 10-minute window, with no follower. */
export function startColumnarTicks(options: ColumnarTicksOptions): Promise<Harness> {
  const { storage, evictionIntervalMs, engineUrl, logger } = options;
  return startHarness({
    streams: [{ name: 'ticks', shards: 2 }],
    definitions: ticksDefinitions,
    ...(logger ? { logger } : {}),
    configure: (config) => ({
      ...config,
      ...(engineUrl ? { engine: { ...config.engine, url: engineUrl } } : {}),
      read: { ...config.read, iterFromTimestamp: true, iterOffsetSeconds: 600 },
      scan: { ...DEFAULT_SCAN_CONFIG, readBudgetShare: 0, evictionIntervalMs, partitionIntervalMs: 1000, closedPartitionStorage: storage },
    }),
  });
}

/** A client running `select count(*)` on ticks every READER_PAUSE_MS until stopped, keeping every answer. */
export function steadyReader(client: pg.Client): { answers: { startedAt: number; count: number }[]; stop(): Promise<void> } {
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

/** Upper bound of the partitions of ticks that can receive no more records: every shard's last arrival, less the skew. */
export async function closedBefore(admin: pg.Client): Promise<Date> {
  const { rows } = await admin.query(
    `SELECT min(last) - make_interval(secs => $1::float8 / 1000) AS before
       FROM (SELECT max(_message_timestamp) AS last FROM public.ticks GROUP BY _shard_id) shards`,
    [ARRIVAL_SKEW_MS],
  );
  return rows[0]?.['before'] as Date;
}

/** The partitions of ticks stored after `named` are all columnar, or `boundMs` passed since `since`. */
export async function awaitColumnar(admin: pg.Client, named: StoredPartition[], since: number, boundMs: number): Promise<StoredPartition[]> {
  let held = await storedPartitions(admin, 'public.ticks');
  const allColumnar = () => named.every((old) => held.find((partition) => partition.name === old.name)?.storage === 'columnar');
  while (!allColumnar() && Date.now() - since < boundMs) {
    await sleep(250);
    held = await storedPartitions(admin, 'public.ticks');
  }
  return held;
}

/** `name storage` of each of `named` as `held` has it. */
export const storageOf = (held: StoredPartition[], named: StoredPartition[]): string[] =>
  named.map((old) => `${old.name} ${held.find((partition) => partition.name === old.name)?.storage}`);

/**
 * Puts `puts` batches of `perPut` records `{ n, word }` into ticks a second apart, then, ARRIVAL_SKEW_MS later,
 * records on every shard that close the partitions of the others. Returns how many records were put.
 */
export async function putClosedPartitions(harness: Harness, puts: number, perPut: number): Promise<number> {
  let n = 0;
  for (let put = 0; put < puts; put++) {
    await harness.put(
      'ticks',
      Array.from({ length: perPut }, () => ({ n: n++, word: `w${n % 7}` })),
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

export interface ConversionsOptions {
  puts: number;
  perPut: number;
  /** Every closed partition must be columnar this long (ms) after the records that close them were loaded. */
  boundMs: number;
  /** Called with the partitions as they are once the records are loaded, before (most of) the conversions. */
  beforeConversions?: (partitions: StoredPartition[]) => Promise<void>;
}

export interface ConversionsSeen {
  /** The partitions that were closed once the records were loaded, as they were then. */
  closed: StoredPartition[];
  /** Every partition once the closed ones were columnar. */
  held: StoredPartition[];
  /** The log lines of the swaps. */
  swaps: Record<string, unknown>[];
  /** How many of the reader's answers came during the conversions. */
  answersDuring: number;
}

/**
 * Puts records into ticks that close three or more of its partitions while a client keeps counting, waits until
 * they are columnar, and checks what conversions must show wherever they run: each closed partition columnar
 * within the bound, each partition with the rows it held, every answer counting each record once, no swap
 * holding the table as long as the lock budget, the open partition heap. `logLines` are kinesql's log lines.
 */
export async function checkConversionsUnderReader(
  harness: Harness,
  admin: pg.Client,
  logLines: Record<string, unknown>[],
  options: ConversionsOptions,
): Promise<ConversionsSeen> {
  const readerClient = await harness.connect();
  const client = await harness.connect();
  const reader = steadyReader(readerClient);
  const contents = 'select n, word, _shard_id, _shard_sequence_id, _message_timestamp from ticks order by _shard_id, _shard_sequence_id';
  try {
    const total = await putClosedPartitions(harness, options.puts, options.perPut);
    const putsDone = Date.now();
    const before = (await client.query(contents)).rows;
    expect(before).toHaveLength(total);
    const closedAt = Date.now();
    const boundary = await closedBefore(admin);
    const heldBefore = await storedPartitions(admin, 'public.ticks');
    await options.beforeConversions?.(heldBefore);
    const closed = heldBefore.filter((partition) => partition.to.getTime() <= boundary.getTime());
    expect(closed.length).toBeGreaterThanOrEqual(3);

    const held = await awaitColumnar(admin, closed, closedAt, options.boundMs);
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
    return { closed, held, swaps, answersDuring: during.length };
  } finally {
    await reader.stop();
    await readerClient.end();
    await client.end();
  }
}
