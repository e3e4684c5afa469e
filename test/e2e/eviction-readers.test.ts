import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WireConfig } from '../../src/config/config.js';
import { type ChildServer, engineUrlOf, startChildServer } from '../support/child-server.js';
import type { Harness } from '../support/harness.js';
import { startWindowedTicks } from '../support/windowed-table.js';

/**
 * Eviction against a session that holds the stream table in an open transaction: partitions past the window
 * are given up at once and detached concurrently (no lock a reader conflicts with), so other sessions'
 * statements never wait in the engine's lock queue, and the partitions are gone once the holder ends (here by
 * the operator's idle-in-transaction timeout, longer than the window).
 */
const WINDOW_SECONDS = 6;
const IDLE_TIMEOUT_MS = 8_000;
/** Partitions of one second: the window spans six, plus the one being filled and one just expired. */
const PARTITION_BOUND = WINDOW_SECONDS + 2;
/** How far back a session may widen its window (kinesql.max-window). */
const WIDEST_WINDOW_SECONDS = 120;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? Number.NaN;
}

interface PartitionState {
  attached: number;
  pending: number;
  /** Tables of kinesql_partitions that are no partition (detached, not dropped yet). */
  detached: number;
  oldestEnd: Date | undefined;
}

async function partitionState(admin: pg.Client): Promise<PartitionState> {
  const { rows } = await admin.query(
    `SELECT count(*) FILTER (WHERE i.inhrelid IS NOT NULL AND NOT i.inhdetachpending)::int AS attached,
            count(*) FILTER (WHERE i.inhdetachpending)::int AS pending,
            count(*) FILTER (WHERE i.inhrelid IS NULL)::int AS detached,
            min((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz) AS oldest_end
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
      WHERE n.nspname = 'kinesql_partitions' AND c.relkind = 'r' AND c.relname LIKE 'ticks%'`,
  );
  const row = rows[0] as { attached: number; pending: number; detached: number; oldest_end: Date | null };
  return { attached: row.attached, pending: row.pending, detached: row.detached, oldestEnd: row.oldest_end ?? undefined };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

/** The harness for table ticks: a 6 s window in partitions of one second. */
function startTicks(evictionIntervalMs: number, wire: WireConfig, maxWindowSeconds?: number): Promise<Harness> {
  return startWindowedTicks({
    windowSeconds: WINDOW_SECONDS,
    scan: { evictionIntervalMs },
    configure: (config) => ({
      ...config,
      engine: { ...config.engine, ...(maxWindowSeconds === undefined ? {} : { maxWindowSeconds }) },
      wire: { ...config.wire, ...wire },
    }),
  });
}

/** Puts one record into ticks every 200 ms, its n counting up from `from`, until stopped. */
function steadyWriter(harness: Harness, from: number): { running: boolean; stop(): Promise<void> } {
  let next = from;
  const writer = {
    running: true,
    stop: async (): Promise<void> => {
      writer.running = false;
      await done;
    },
  };
  const done = (async () => {
    while (writer.running) {
      await harness.put('ticks', [{ n: next++ }]);
      await sleep(200);
    }
  })();
  return writer;
}

function adminClient(harness: Harness): pg.Client {
  const { host, port, user, password, database } = harness.server.engine.endpoint;
  return new pg.Client({ host, port, user, password, database });
}

describe('eviction while a session holds the stream table', () => {
  let harness: Harness;
  let admin: pg.Client;

  beforeAll(async () => {
    harness = await startTicks(0, { idleInTransactionTimeoutMs: IDLE_TIMEOUT_MS }, WIDEST_WINDOW_SECONDS);
    admin = adminClient(harness);
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
    await harness?.close();
  });

  it('drops partitions past the window once the holder ends, and never queues another session behind eviction', async () => {
    const writer = steadyWriter(harness, 0);
    const reader = await harness.connect();
    const holder = await harness.connect();
    const holderEnded = new Promise<void>((resolve) => {
      holder.on('error', () => resolve());
      holder.on('end', () => resolve());
    });
    let holding = false;
    let holderGone = false;
    void holderEnded.then(() => {
      holderGone = true;
    });
    let pendingSeen = false;
    /** Readers' statements that completed while the holder held the table and a partition's detach was pending. */
    let completedWhilePending = 0;
    let maxPartitionsWhileHeld = 0;
    const clientLockWaits: string[] = [];
    const latencies = { control: [] as number[], held: [] as number[] };

    const sampling = (async () => {
      while (writer.running) {
        const { rows } = await admin.query(
          `SELECT a.query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.usename = 'tester'`,
        );
        for (const row of rows) clientLockWaits.push(String(row['query']));
        const state = await partitionState(admin);
        if (holding && !holderGone) {
          if (state.pending > 0) pendingSeen = true;
          maxPartitionsWhileHeld = Math.max(maxPartitionsWhileHeld, state.attached + state.pending);
        }
        await sleep(25);
      }
    })();
    const read = async (into: number[]): Promise<void> => {
      const started = performance.now();
      const pendingBefore = pendingSeen && !holderGone;
      await reader.query('select count(*)::int as n from ticks');
      into.push(performance.now() - started);
      if (pendingBefore && !holderGone) completedWhilePending += 1;
    };

    try {
      // The first load is not part of the figures.
      await reader.query('select count(*) from ticks');
      const controlUntil = Date.now() + 5_000;
      while (Date.now() < controlUntil) await read(latencies.control);

      await holder.query('begin');
      await holder.query('lock table ticks in access share mode');
      expect((await holder.query('select count(*)::int as n from ticks')).rows[0]?.n).toBeGreaterThan(0);
      holding = true;
      // The holder stays idle in its transaction for longer than the window, until the idle timeout ends it.
      while (!holderGone) await read(latencies.held);
      await expect(holder.query('select 1')).rejects.toThrow();

      // With the holder gone, the next evictions finish the pending detach and drop what expired meanwhile.
      await until('the partitions are back within the window', async () => {
        await read(latencies.held);
        const state = await partitionState(admin);
        return state.pending === 0 && state.detached === 0 && state.attached <= PARTITION_BOUND;
      });
      const state = await partitionState(admin);
      expect(state.oldestEnd!.getTime()).toBeGreaterThan(Date.now() - (WINDOW_SECONDS + 2) * 1000);
    } finally {
      await writer.stop();
      await sampling;
      await reader.end();
      await holder.end().catch(() => undefined);
    }

    console.log(
      `count p99 without a holder ${p99(latencies.control).toFixed(1)} ms (${latencies.control.length} statements), ` +
        `with one idle in a transaction ${p99(latencies.held).toFixed(1)} ms (${latencies.held.length}); ` +
        `partitions while held at most ${maxPartitionsWhileHeld}, ${completedWhilePending} counts completed while a detach was pending`,
    );
    // Eviction ran while the holder held the table: a partition's detach was pending, and readers went on meanwhile.
    expect(pendingSeen).toBe(true);
    expect(completedWhilePending).toBeGreaterThan(0);
    // No client session ever waited for a lock in the engine.
    expect(clientLockWaits).toEqual([]);
    // Every record in the window is there once, and the shards' counts agree with the rows held.
    const client = await harness.connect();
    try {
      const seen = await client.query('select count(*)::int as n, count(distinct n)::int as d from ticks');
      expect(seen.rows[0]?.n).toBe(seen.rows[0]?.d);
      const held = await admin.query('select count(*)::int as n from public.ticks');
      const shards = await client.query('select sum(records)::int as n from kinesql.shards where table_name = $1', ['ticks']);
      expect(shards.rows[0]?.n).toBe(held.rows[0]?.['n']);
    } finally {
      await client.end();
    }
  });

  it('answers a session that widens its window into a partition whose detach is pending with 55P03, and serves it once the holder ends', async () => {
    const writer = steadyWriter(harness, 10_000);
    const reader = await harness.connect();
    const holder = await harness.connect();
    const wide = await harness.connect();
    try {
      await reader.query('select count(*) from ticks');
      await holder.query('begin');
      await holder.query('select count(*) from ticks');
      await until('a partition waits to be detached', async () => {
        await reader.query('select count(*) from ticks');
        return (await partitionState(admin)).pending > 0;
      });
      await wide.query(`set kinesis.iter_offset_seconds = ${WIDEST_WINDOW_SECONDS}`);
      await expect(wide.query('select count(*) from ticks')).rejects.toMatchObject({ code: '55P03', message: expect.stringMatching(/are being evicted/) });
      await holder.query('commit');
      let widened = 0;
      await until('the widened session is served', () =>
        wide.query('select count(*)::int as n from ticks').then(
          (result) => {
            widened = result.rows[0]?.n as number;
            return true;
          },
          () => false,
        ),
      );
      const narrow = (await reader.query('select count(*)::int as n from ticks')).rows[0]?.n as number;
      expect(widened).toBeGreaterThan(narrow);
    } finally {
      await writer.stop();
      await Promise.all([reader.end(), holder.end().catch(() => undefined), wide.end()]);
    }
  });
});

describe('a concurrent detach cut short by kill -9 of kinesql', () => {
  let harness: Harness;
  let admin: pg.Client;
  let child: ChildServer | undefined;
  let propertiesDir: string;

  beforeAll(async () => {
    // This process's server evicts nothing during the test: the child does.
    harness = await startTicks(3_600_000, {});
    admin = adminClient(harness);
    await admin.connect();
    propertiesDir = await mkdtemp(join(tmpdir(), 'kinesql-eviction-'));
    await writeFile(
      join(propertiesDir, 'kinesql.properties'),
      [
        'kinesis.iter-from-timestamp=true',
        `kinesis.iter-offset-seconds=${WINDOW_SECONDS}`,
        'kinesis.read-budget-share=0',
        'kinesql.eviction-interval=0ms',
        'kinesql.partition-interval=1s',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await child?.stop();
    await admin?.end();
    await harness?.close();
    await rm(propertiesDir, { recursive: true, force: true });
  });

  const startChild = (port?: number): Promise<ChildServer> =>
    startChildServer({
      ...(port === undefined ? {} : { port }),
      tablesDir: harness.tablesDir,
      kinesisEndpoint: harness.config.aws.kinesisEndpoint!,
      engineUrl: engineUrlOf(harness.server.engine.endpoint),
      readyTable: 'ticks',
      propertiesFile: join(propertiesDir, 'kinesql.properties'),
    });

  const countThrough = async (port: number): Promise<number> => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'tester', database: 'kinesql' });
    await client.connect();
    try {
      return (await client.query('select count(*)::int as n from ticks')).rows[0]?.n as number;
    } finally {
      await client.end();
    }
  };

  it('leaves the partition detach pending, and the next start finishes it: rows match the stream', async () => {
    child = await startChild();
    await harness.put(
      'ticks',
      Array.from({ length: 20 }, (_, n) => ({ n })),
    );
    expect(await countThrough(child.port)).toBe(20);
    const holder = await harness.connect();
    await holder.query('begin');
    await holder.query('select count(*) from ticks');

    await sleep((WINDOW_SECONDS + 1) * 1000);
    await harness.put(
      'ticks',
      Array.from({ length: 5 }, (_, n) => ({ n: 100 + n })),
    );
    // The child's eviction gives up the expired partitions and starts detaching them, which waits for the holder.
    expect(await countThrough(child.port)).toBe(5);
    await until('the child detaches a partition concurrently', async () => {
      const { rows } = await admin.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%DETACH PARTITION%CONCURRENTLY' AND state = 'active'`,
      );
      return rows[0]?.['n'] === 1;
    });
    child.process.kill('SIGKILL');
    await once(child.process, 'exit');
    // Its engine backend gives up waiting; the partition stays detach pending.
    await until('the detach is left pending', async () => {
      const { rows } = await admin.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%DETACH PARTITION%CONCURRENTLY' AND state = 'active'`,
      );
      return rows[0]?.['n'] === 0 && (await partitionState(admin)).pending === 1;
    });
    await holder.query('commit');
    await holder.end();

    child = await startChild(child.port);
    // The restart takes about as long as the window: records put now are the ones the window shows.
    await harness.put(
      'ticks',
      Array.from({ length: 7 }, (_, n) => ({ n: 200 + n })),
    );
    expect(await countThrough(child.port)).toBeGreaterThanOrEqual(7);
    await until('the next start finished the detach and dropped the partitions', async () => {
      await countThrough(child!.port);
      const state = await partitionState(admin);
      return (
        state.pending === 0 && state.detached === 0 && state.oldestEnd !== undefined && state.oldestEnd.getTime() > Date.now() - (WINDOW_SECONDS + 2) * 1000
      );
    });

    // What the engine holds is exactly the stream's records since the oldest partition kept, each once.
    const held = await admin.query(
      `SELECT count(*)::int AS n, count(DISTINCT _shard_id || '/' || _shard_sequence_id)::int AS d, min(n)::int AS lo FROM public.ticks`,
    );
    const { rows: bounds } = await admin.query(
      `SELECT min((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz) AS oldest
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.ticks'::regclass`,
    );
    const oldest = bounds[0]!['oldest'] as Date;
    const inStream = await streamRecordsSince(harness, 'ticks', oldest);
    expect(held.rows[0]).toMatchObject({ n: inStream, d: inStream });
    // The first batch went with the partitions whose detach was cut short.
    expect(held.rows[0]?.['lo']).toBeGreaterThanOrEqual(100);
    expect(inStream).toBeGreaterThanOrEqual(7);
  }, 180_000);
});

/** Records of a stream that arrived at or after `since`, read from TRIM_HORIZON. */
async function streamRecordsSince(harness: Harness, stream: string, since: Date): Promise<number> {
  const { Shards = [] } = await harness.kinesis.send(new ListShardsCommand({ StreamName: stream }));
  let count = 0;
  for (const shard of Shards) {
    let { ShardIterator: iterator } = await harness.kinesis.send(
      new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    while (iterator) {
      const page = await harness.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
      count += (page.Records ?? []).filter((record) => record.ApproximateArrivalTimestamp! >= since).length;
      if ((page.Records ?? []).length === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return count;
}
