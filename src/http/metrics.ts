/**
 * What `/metrics` shows, in the Prometheus text format (prom-client). Stream and shard figures are read
 * from the store when scraped; statements and catch-ups are counted as they happen (StatementMetrics).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Engine } from '../engine/engine.js';
import type { StreamStore } from '../store/stream-store.js';
import type { ShardReaderStats } from '../kinesis/shard-reader-stats.js';
import type { ShardStatus } from '../store/stream-table.js';
import type { ShardLeases } from '../store/shard-leases.js';
import { tableProgress } from '../store/load-progress.js';
import { shardLagMs, tableLagMs } from './shard-lag.js';

/** Where metrics of client statements are recorded: by the wire layer and the statement executor. */
export interface StatementMetrics {
  statementFinished(outcome: 'ok' | 'error' | 'refused', seconds: number): void;
  catchUpFinished(seconds: number): void;
  /** A statement waited this long for the read replica to replay what it needs. */
  replayWaitFinished(seconds: number): void;
}

export interface MetricsSources {
  store: StreamStore;
  engine: Engine;
  sessions: () => number;
  /** Sessions waiting for the read replica's replay now, when sessions run on one. */
  replayWaiters?: () => number;
  /** Servers on one engine dividing the shards: the leases this server holds. */
  leases?: ShardLeases;
}

const SHARD_LABELS = ['table', 'stream', 'shard'] as const;

/** Counters whose values live elsewhere: each scrape sets them from their source. */
function shardCounter(registry: Registry, store: StreamStore, name: string, help: string, pick: (stats: ShardReaderStats) => number): void {
  new Counter({
    name,
    help,
    labelNames: SHARD_LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const table of store.list()) {
        for (const shard of table.shardStatus()) {
          this.inc(shardLabels(table.definition, shard.shardId), pick(shard.reader));
        }
      }
    },
  });
}

type TableOfStream = { schemaName: string; tableName: string; streamName: string };

function tableLabels(definition: TableOfStream): { table: string; stream: string } {
  return { table: `${definition.schemaName}.${definition.tableName}`, stream: definition.streamName };
}

function shardLabels(definition: TableOfStream, shard: string): Record<(typeof SHARD_LABELS)[number], string> {
  return { ...tableLabels(definition), shard };
}

/** A gauge per shard, read from its status when scraped; a shard whose value is undefined is left out. */
function shardGauge(registry: Registry, store: StreamStore, name: string, help: string, value: (shard: ShardStatus, now: number) => number | undefined): void {
  new Gauge({
    name,
    help,
    labelNames: SHARD_LABELS,
    registers: [registry],
    collect() {
      this.reset();
      const now = Date.now();
      for (const table of store.list()) {
        for (const shard of table.shardStatus()) {
          const current = value(shard, now);
          if (current !== undefined) this.set(shardLabels(table.definition, shard.shardId), current);
        }
      }
    },
  });
}

export class KinesqlMetrics implements StatementMetrics {
  readonly registry = new Registry();
  private readonly statements: Counter<'outcome'>;
  private readonly statementSeconds: Histogram<'outcome'>;
  private readonly catchUpSeconds: Histogram;
  private readonly replayWaitSeconds: Histogram;

  constructor(sources: MetricsSources) {
    const { registry } = this;
    const { store, engine } = sources;
    // process_* and nodejs_* (CPU, memory, event loop lag, open handles) of the kinesql process itself.
    collectDefaultMetrics({ register: registry });
    this.statements = new Counter({
      name: 'kinesql_statements_total',
      help: 'Client statement turns by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.statementSeconds = new Histogram({
      name: 'kinesql_statement_duration_seconds',
      help: 'Time from a client statement turn arriving to its answer, catch-up included',
      labelNames: ['outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    this.catchUpSeconds = new Histogram({
      name: 'kinesql_catch_up_duration_seconds',
      help: 'Time statements waited for their stream tables to be caught up',
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    });
    this.replayWaitSeconds = new Histogram({
      name: 'kinesql_replica_replay_wait_seconds',
      help: 'Time statements waited for the read replica to replay what they needed (kinesql.engine-read-url)',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    new Gauge({
      name: 'kinesql_replica_waiting_sessions',
      help: 'Sessions waiting for the read replica to replay what their statement needs',
      registers: [registry],
      collect() {
        this.set(sources.replayWaiters?.() ?? 0);
      },
    });
    new Gauge({
      name: 'kinesql_sessions',
      help: 'Client sessions logged in',
      registers: [registry],
      collect() {
        this.set(sources.sessions());
      },
    });
    shardGauge(
      registry,
      store,
      'kinesql_shard_millis_behind_latest',
      'How far the last read of a shard was behind its tip (GetRecords MillisBehindLatest)',
      (shard) => shard.reader.millisBehindLatest,
    );
    shardCounter(registry, store, 'kinesql_shard_records_read_total', 'Records read from a shard', (stats) => stats.records);
    shardCounter(registry, store, 'kinesql_shard_bytes_read_total', 'Bytes of record data read from a shard', (stats) => stats.bytes);
    shardCounter(registry, store, 'kinesql_shard_get_records_calls_total', 'GetRecords calls made for a shard', (stats) => stats.calls);
    shardCounter(registry, store, 'kinesql_shard_throttles_total', 'GetRecords calls Kinesis throttled', (stats) => stats.throttles);
    shardCounter(registry, store, 'kinesql_shard_retries_total', 'Kinesis calls retried after an error or timeout', (stats) => stats.retries);
    shardCounter(
      registry,
      store,
      'kinesql_shard_subscribe_to_shard_calls_total',
      'SubscribeToShard calls made for a shard (enhanced fan-out)',
      (stats) => stats.subscribeCalls,
    );
    shardCounter(
      registry,
      store,
      'kinesql_shard_subscription_events_total',
      'SubscribeToShard events received for a shard (enhanced fan-out)',
      (stats) => stats.subscriptionEvents,
    );
    shardGauge(
      registry,
      store,
      'kinesql_follower_lag_milliseconds',
      'Milliseconds since a shard was last read to its tip (by the follower, a statement or a subscription event at the tip); open shards read at least once',
      shardLagMs,
    );
    new Gauge({
      name: 'kinesql_stream_follower_lag_milliseconds',
      help: "The largest kinesql_follower_lag_milliseconds of a table's shards: how old its freshest complete answer is",
      labelNames: ['table', 'stream'],
      registers: [registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const table of store.list()) {
          const lag = tableLagMs(table.shardStatus(), now);
          if (lag !== undefined) this.set(tableLabels(table.definition), lag);
        }
      },
    });
    new Gauge({
      name: 'kinesql_table_shard_leases',
      help: "Shards of a table whose lease this server holds (servers on one engine dividing the reading): only this server's follower reads them",
      labelNames: ['table', 'stream'],
      registers: [registry],
      collect() {
        this.reset();
        const { leases } = sources;
        if (!leases) return;
        for (const table of store.list()) this.set(tableLabels(table.definition), leases.ownedShards(table).length);
      },
    });
    shardCounter(
      registry,
      store,
      'kinesql_shard_expired_iterators_total',
      'Shard iterators that had expired and were renewed',
      (stats) => stats.expiredIterators,
    );
    new Gauge({
      name: 'kinesql_table_rows',
      help: 'Rows a stream table holds',
      labelNames: ['table', 'stream', 'validity'],
      registers: [registry],
      collect() {
        this.reset();
        for (const table of store.list()) {
          const labels = tableLabels(table.definition);
          const invalid = table.shardStatus().reduce((sum, shard) => sum + shard.invalidRows, 0);
          this.set({ ...labels, validity: 'valid' }, table.rowsLoaded - invalid);
          this.set({ ...labels, validity: 'invalid' }, invalid);
        }
      },
    });
    new Gauge({
      name: 'kinesql_table_load_progress_ratio',
      help: "Share (0-1) of a table's window its loaded records cover, as of each shard's last read; the mean of its shards (the bar on the status page)",
      labelNames: ['table', 'stream'],
      registers: [registry],
      collect() {
        this.reset();
        for (const table of store.list()) this.set(tableLabels(table.definition), tableProgress(table).ratio);
      },
    });
    new Gauge({
      name: 'kinesql_shard_load_progress_ratio',
      help: "Share (0-1) of a table's window the records loaded from a shard cover, as of its last read",
      labelNames: SHARD_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const table of store.list()) {
          for (const shard of tableProgress(table).shards) this.set(shardLabels(table.definition, shard.shardId), shard.ratio);
        }
      },
    });
    new Gauge({
      name: 'kinesql_table_errors',
      help: '1 when the last catch-up of a stream table failed',
      labelNames: ['table', 'stream'],
      registers: [registry],
      collect() {
        this.reset();
        for (const table of store.list()) {
          this.set(tableLabels(table.definition), table.lastError ? 1 : 0);
        }
      },
    });
    const loadBudget = store.loadBudget;
    const loadBufferGauge = (name: string, help: string, value: () => number): void =>
      void new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(value());
        },
      });
    loadBufferGauge(
      'kinesql_load_buffer_limit_bytes',
      'What batches on their way into the engine may hold (kinesql.load-buffer-bytes)',
      () => loadBudget.limitBytes,
    );
    loadBufferGauge(
      'kinesql_load_buffer_bytes',
      'What batches on their way into the engine hold now, over every table: records read or being read, and their COPY text',
      () => loadBudget.heldBytes,
    );
    loadBufferGauge('kinesql_load_buffer_peak_bytes', 'The most kinesql_load_buffer_bytes was since kinesql started', () => loadBudget.peakHeldBytes);
    loadBufferGauge(
      'kinesql_load_buffer_decoded_records',
      'Records decoded into COPY text and not committed yet, over every table',
      () => loadBudget.decodedRecords,
    );
    loadBufferGauge(
      'kinesql_load_buffer_peak_decoded_records',
      'The most kinesql_load_buffer_decoded_records was since kinesql started',
      () => loadBudget.peakDecodedRecords,
    );
    new Gauge({
      name: 'kinesql_engine_up',
      help: 'Whether kinesql reaches its engine: 0 while it reconnects after a restart, crash or failover of the engine',
      registers: [registry],
      collect() {
        this.set(engine.unavailableReason === undefined ? 1 : 0);
      },
    });
    const reconnects = new Counter({
      name: 'kinesql_engine_reconnects_total',
      help: "Times kinesql's connections to the engine were lost and came back",
      registers: [registry],
    });
    engine.onRestart(() => reconnects.inc());
    // While the engine is away its own figures are left out: the rest of /metrics still answers.
    const fromEngine = async <T>(sql: string, use: (rows: Record<string, unknown>[]) => T): Promise<T | undefined> => {
      if (engine.unavailableReason !== undefined) return undefined;
      const answer = await engine.query(sql).catch(() => undefined);
      return answer ? use(answer.rows) : undefined;
    };
    new Gauge({
      name: 'kinesql_engine_database_bytes',
      help: "Size of the engine's database",
      registers: [registry],
      async collect() {
        // While the engine is away this keeps the size it had.
        const bytes = await fromEngine('SELECT pg_database_size(current_database())::float8 AS bytes', (rows) => Number(rows[0]?.['bytes'] ?? 0));
        if (bytes !== undefined) this.set(bytes);
      },
    });
    new Gauge({
      name: 'kinesql_engine_connections',
      help: "Connections to the engine's database, by state",
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        const rows = await fromEngine(
          `SELECT coalesce(state, 'unknown') AS state, count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1`,
          (found) => found,
        );
        this.reset();
        for (const row of rows ?? []) this.set({ state: String(row['state']) }, Number(row['n']));
      },
    });
  }

  statementFinished(outcome: 'ok' | 'error' | 'refused', seconds: number): void {
    this.statements.inc({ outcome });
    this.statementSeconds.observe({ outcome }, seconds);
  }

  /** Client statement turns so far, by outcome. */
  async statementTotals(): Promise<Record<'ok' | 'error' | 'refused', number>> {
    const totals = { ok: 0, error: 0, refused: 0 };
    for (const { labels, value } of (await this.statements.get()).values) totals[labels.outcome as keyof typeof totals] += value;
    return totals;
  }

  catchUpFinished(seconds: number): void {
    this.catchUpSeconds.observe(seconds);
  }
  replayWaitFinished(seconds: number): void {
    this.replayWaitSeconds.observe(seconds);
  }
}
