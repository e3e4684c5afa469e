/**
 * What the status page at `/` shows, gathered from the store (tables, shards, reads), the load progress
 * both the page and /metrics report, the statement counters of /metrics and the readiness of /readyz.
 */
import type { StreamStore } from '../store/stream-store.js';
import { LoadRate, tableProgress, windowMillis } from '../store/load-progress.js';
import type { KinesqlMetrics } from './metrics.js';
import type { Readiness } from './readiness.js';
import { shardLagMs, tableLagMs } from './shard-lag.js';

export interface ShardRow {
  shardId: string;
  state: string;
  rows: number;
  invalidRows: number;
  progress: number;
  millisBehindLatest: number | undefined;
  lagMs: number | undefined;
  calls: number;
  throttles: number;
  retries: number;
  error: string | undefined;
}

export interface TableRow {
  table: string;
  stream: string;
  windowMs: number | undefined;
  rows: number;
  invalidRows: number;
  bytes: number;
  /** 0…1, the mean of its shards'. */
  progress: number;
  secondsLeft: number | undefined;
  catchingUp: boolean;
  lagMs: number | undefined;
  throttles: number;
  retries: number;
  errors: string[];
  shards: ShardRow[];
}

export interface StatusModel {
  generatedAt: Date;
  version: string;
  ready: boolean;
  /** What keeps the server from answering (as /readyz says). */
  problems: string[];
  sessions: number;
  statements: Record<'ok' | 'error' | 'refused', number>;
  tables: TableRow[];
}

export interface StatusSources {
  store: StreamStore;
  metrics: KinesqlMetrics;
  readiness: () => Promise<Readiness>;
  sessions: () => number;
  version: string;
}

export class StatusReport {
  private readonly rate = new LoadRate();

  constructor(private readonly sources: StatusSources) {}

  async gather(): Promise<StatusModel> {
    const { store, metrics } = this.sources;
    const now = Date.now();
    const readiness = await this.sources.readiness().catch((error: unknown) => ({ ready: false, problems: [(error as Error).message], tables: [] }));
    const tables = store.list().map((table): TableRow => {
      const name = `${table.definition.schemaName}.${table.definition.tableName}`;
      const status = table.shardStatus();
      const progress = tableProgress(table);
      const errors = [table.lastError, table.schemaRegistryError()].filter((error): error is string => error !== undefined);
      return {
        table: name,
        stream: table.definition.streamName,
        windowMs: windowMillis(table),
        rows: table.rowsLoaded,
        invalidRows: status.reduce((sum, shard) => sum + shard.invalidRows, 0),
        bytes: table.bytesLoaded,
        progress: progress.ratio,
        secondsLeft: this.rate.secondsLeft(name, progress.remainingMs, now),
        catchingUp: table.loading,
        lagMs: tableLagMs(status, now),
        throttles: status.reduce((sum, shard) => sum + shard.reader.throttles, 0),
        retries: status.reduce((sum, shard) => sum + shard.reader.retries, 0),
        errors,
        shards: status.map((shard, index) => ({
          shardId: shard.shardId,
          state: shard.state,
          rows: shard.rows,
          invalidRows: shard.invalidRows,
          progress: progress.shards[index]!.ratio,
          millisBehindLatest: shard.reader.millisBehindLatest,
          lagMs: shardLagMs(shard, now),
          calls: shard.reader.calls,
          throttles: shard.reader.throttles,
          retries: shard.reader.retries,
          error: shard.reader.lastError,
        })),
      };
    });
    this.rate.keepOnly(new Set(tables.map((table) => table.table)));
    return {
      generatedAt: new Date(now),
      version: this.sources.version,
      ready: readiness.ready,
      problems: readiness.problems,
      sessions: this.sources.sessions(),
      statements: await metrics.statementTotals(),
      tables,
    };
  }
}
