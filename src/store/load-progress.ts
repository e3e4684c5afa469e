/**
 * How far each table has loaded its window: per shard, the share of the window's time span (from the
 * window start, or the oldest record held when the table has no window, to the tip) that the loaded
 * records cover, as of the shard's last read. A table's progress is the mean of its shards'. The page at
 * `/` and the kinesql_*_load_progress_ratio gauges both read it from here, so they agree.
 */
import type { ScanProgress } from './scan-request.js';
import type { ShardStatus } from './shard-loader.js';

/** What progress is worked out from: a stream table (stream-table.ts), as far as progress needs one. */
export interface ProgressSource {
  readonly definition: { schemaName: string; tableName: string };
  windowStart(now?: number): Date | undefined;
  shardStatus(): ShardStatus[];
}

/** The percent a ratio shows as, one decimal (floored: 100.0% only once all is loaded); the page, /metrics tests and the notices use it. */
export function percentText(ratio: number): string {
  return `${(Math.floor(ratio * 1000) / 10).toFixed(1)}%`;
}

export function durationText(ms: number | undefined): string {
  if (ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return withRest(minutes, 'min', seconds % 60, 's');
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return withRest(hours, 'h', minutes % 60, 'min');
  return withRest(Math.floor(hours / 24), 'd', hours % 24, 'h');
}

function withRest(whole: number, unit: string, rest: number, restUnit: string): string {
  return rest === 0 ? `${whole} ${unit}` : `${whole} ${unit} ${rest} ${restUnit}`;
}

export interface ShardProgress {
  shardId: string;
  /** 0…1 */
  ratio: number;
  /** Milliseconds of stream time in the span not loaded yet. */
  remainingMs: number;
}

export interface TableProgress {
  ratio: number;
  remainingMs: number;
  shards: ShardProgress[];
}

function loadedFromTime(shard: ShardStatus, start: number): number {
  const lower = shard.loadedFrom;
  if (lower === undefined || lower.kind === 'horizon') return start;
  if (lower.kind === 'time') return Math.max(start, lower.at.getTime());
  return Math.max(start, shard.firstArrival?.getTime() ?? start);
}

export function shardProgress(shard: ShardStatus, windowMs: number | undefined): ShardProgress {
  const { millisBehindLatest: behind, readUpTo: reached } = shard.reader;
  if (shard.state === 'closed, read to its end') return { shardId: shard.shardId, ratio: 1, remainingMs: 0 };
  // Not read since kinesql started: nothing says where its tip is.
  if (behind === undefined || reached === undefined) return { shardId: shard.shardId, ratio: 0, remainingMs: windowMs ?? 0 };
  const tip = reached + behind;
  const start = windowMs !== undefined ? tip - windowMs : (shard.firstArrival?.getTime() ?? reached);
  const span = tip - start;
  // No window and nothing held, read to the tip: an empty shard, all of it loaded.
  if (span <= 0) return { shardId: shard.shardId, ratio: 1, remainingMs: 0 };
  const loaded = Math.min(span, Math.max(0, reached - loadedFromTime(shard, start)));
  return { shardId: shard.shardId, ratio: loaded / span, remainingMs: span - loaded };
}

/** The span of a table's window in milliseconds, or undefined when it reaches back to the trim horizon. */
export function windowMillis(table: ProgressSource): number | undefined {
  const now = Date.now();
  const start = table.windowStart(now);
  return start === undefined ? undefined : now - start.getTime();
}

export function tableProgress(table: ProgressSource): TableProgress {
  const windowMs = windowMillis(table);
  const shards = table.shardStatus().map((shard) => shardProgress(shard, windowMs));
  if (shards.length === 0) return { ratio: 0, remainingMs: windowMs ?? 0, shards };
  return {
    ratio: shards.reduce((sum, shard) => sum + shard.ratio, 0) / shards.length,
    remainingMs: shards.reduce((sum, shard) => sum + shard.remainingMs, 0),
    shards,
  };
}

/** How long samples of a table's remaining span are kept to estimate its load rate. */
const RATE_WINDOW_MS = 60_000;

/**
 * Time left of each table's load at the rate of the last minute: remembers the remaining span each time it
 * is asked (the page refreshes itself, so it is asked every few seconds while open).
 */
export class LoadRate {
  private readonly samples = new Map<string, { at: number; remainingMs: number }[]>();

  /** Seconds until the table's span is loaded: 0 when it is, undefined when it is not getting closer. */
  secondsLeft(table: string, remainingMs: number, at: number): number | undefined {
    const kept = (this.samples.get(table) ?? []).filter((sample) => at - sample.at <= RATE_WINDOW_MS && sample.at < at);
    kept.push({ at, remainingMs });
    this.samples.set(table, kept);
    if (remainingMs <= 0) return 0;
    const oldest = kept[0]!;
    if (oldest.at === at) return undefined;
    const rate = (oldest.remainingMs - remainingMs) / (at - oldest.at);
    return rate > 0 ? remainingMs / rate / 1000 : undefined;
  }

  /** Forgets tables that are gone. */
  keepOnly(tables: ReadonlySet<string>): void {
    for (const table of this.samples.keys()) if (!tables.has(table)) this.samples.delete(table);
  }
}

/** A table's progress as a statement waiting for its load is told it; `rate` keeps the samples of this wait. */
export function loadProgressOf(table: ProgressSource, rate: LoadRate, now: number): ScanProgress {
  const name = `${table.definition.schemaName}.${table.definition.tableName}`;
  const progress = tableProgress(table);
  return { table: name, ratio: progress.ratio, windowMs: windowMillis(table), secondsLeft: rate.secondsLeft(name, progress.remainingMs, now) };
}

/** `loading public.demo_events: 43.0% of the window (24 h) loaded, about 1 min 20 s left` */
export function loadProgressText(progress: ScanProgress): string {
  const span = progress.windowMs === undefined ? 'the stream (from the trim horizon)' : `the window (${durationText(progress.windowMs)})`;
  const left =
    progress.secondsLeft === undefined
      ? 'time left not known yet'
      : progress.secondsLeft < 1
        ? 'less than a second left'
        : `about ${durationText(progress.secondsLeft * 1000)} left`;
  return `loading ${progress.table}: ${percentText(progress.ratio)} of ${span} loaded, ${left}`;
}
