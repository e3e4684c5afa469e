/**
 * Where client SQL is analysed (statement-text.ts). Nothing a client sends may hold the shared thread for
 * more than a few milliseconds, so the main thread analyses only statements it expects to take at most
 * MAIN_THREAD_BUDGET_MS, judged by the cost per character it has measured lately (its own analyses and the
 * workers'); everything else goes to the worker pool (parse-pool.ts). Analyses are kept by text in a small
 * cache, each with its plan (statement-plan.ts) once made: the same text under the same limits always gets the
 * same analysis, and a statement sent again is planned without a parse and without a promise.
 */
import type { Logger } from 'pino';
import type { TextCodec } from '../pg/client-encoding.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import { ParsePool, type WorkerText } from './parse-pool.js';
import type { ParsedStatement } from './parse.js';
import type { GateContext } from './readonly-gate.js';
import { boundsOfPrecomputed, boundsOfTree } from './statement-bounds.js';
import { statementPlan, type AnalyzedText, type StatementPlan } from './statement-plan.js';
import { analyzeText, refusedAnalysis } from './statement-text.js';

/** How long one analysis may hold the main thread. */
const MAIN_THREAD_BUDGET_MS = 2;
/**
 * The cost per character (µs) assumed before anything worse is measured: ordinary SQL takes 0.5–3 µs per
 * character; some shapes (long lists of `*`, of ORs) take 10–30.
 */
const ASSUMED_US_PER_CHAR = 4;
/** A measured cost above the assumed one counts half as much every this many ms. */
const COST_HALF_LIFE_MS = 60_000;
/** Statements shorter than this are always analysed on the main thread (their cost is mostly fixed overhead). */
const ALWAYS_MAIN_CHARS = 64;
/** The least cost per byte (µs) assumed before a lower one is measured on a statement of LARGE_BYTES or more. */
const ASSUMED_BEST_US_PER_BYTE = 0.25;
const LARGE_BYTES = 64 * 1024;

/**
 * The worst cost per character measured lately, decaying back to the assumed one (how long a statement may be
 * to be analysed on the main thread), and the least cost per byte measured on large statements (how long
 * one may be to be worth decoding at all).
 */
class CostModel {
  private worst = ASSUMED_US_PER_CHAR;
  private measuredAt = 0;
  private best = ASSUMED_BEST_US_PER_BYTE;

  recordBytes(bytes: number, ms: number): void {
    if (bytes >= LARGE_BYTES) this.best = Math.min(this.best, (ms * 1000) / bytes);
  }

  /** The least time (ms) analysing `bytes` of SQL can take. */
  leastMs(bytes: number): number {
    return (bytes * this.best) / 1000;
  }

  private current(now: number): number {
    const excess = this.worst - ASSUMED_US_PER_CHAR;
    return ASSUMED_US_PER_CHAR + excess * 0.5 ** ((now - this.measuredAt) / COST_HALF_LIFE_MS);
  }

  record(chars: number, ms: number, now = performance.now()): void {
    if (chars < ALWAYS_MAIN_CHARS) return;
    const usPerChar = (ms * 1000) / chars;
    const current = this.current(now);
    if (usPerChar > current) {
      this.worst = usPerChar;
      this.measuredAt = now;
    }
  }

  /** The longest statement the main thread may analyse now. */
  mainThreadChars(now = performance.now()): number {
    return Math.max(ALWAYS_MAIN_CHARS, Math.floor((MAIN_THREAD_BUDGET_MS * 1000) / this.current(now)));
  }
}

/** An analysis kept by its text, with the plan made of it (none while it is refused). */
interface CachedAnalysis {
  readonly analyzed: AnalyzedText;
  plan: StatementPlan | undefined;
}

/** Least recently used analyses by text, up to a total number of characters. */
class AnalysisCache {
  private readonly entries = new Map<string, CachedAnalysis>();
  private chars = 0;

  constructor(private readonly maxChars: number) {}

  /** Whether `sql` may be kept: looking a string up hashes all of it, so long ones are not even looked up. */
  private fits(sql: string): boolean {
    return sql.length <= this.maxChars / 64;
  }

  get(sql: string): CachedAnalysis | undefined {
    if (!this.fits(sql)) return undefined;
    const found = this.entries.get(sql);
    if (found) {
      this.entries.delete(sql);
      this.entries.set(sql, found);
    }
    return found;
  }

  set(sql: string, analyzed: CachedAnalysis): void {
    if (!this.fits(sql) || this.entries.has(sql)) return;
    this.entries.set(sql, analyzed);
    this.chars += sql.length;
    for (const [oldest] of this.entries) {
      if (this.chars <= this.maxChars) break;
      this.entries.delete(oldest);
      this.chars -= oldest.length;
    }
  }
}

const DEFAULT_BUDGET_MS = 10_000;
/**
 * SQL of at least this many bytes is handed to a worker undecoded. It is too long to be cached, and decoding
 * it on the main thread would cost about a millisecond per 255 KB (V8 puts a string this long in memory of
 * its own, fresh each time), for nothing when the statement is refused.
 */
const WORKER_DECODES_BYTES = 128 * 1024;

export interface AnalyzerOptions {
  /** The longest a worker may take over one statement (kinesql.parse-timeout). */
  budgetMs?: number;
  logger?: Logger;
  /** Worker threads (the machine's cores when unset). */
  workers?: number;
}

/** Analyses client SQL under the operator's limits (the read-only gate's context) without holding the main thread. */
export class StatementAnalyzer {
  private readonly pool: ParsePool;
  private readonly cost = new CostModel();
  private readonly cache = new AnalysisCache(8 * 1024 * 1024);
  private readonly budgetMs: number;

  constructor(
    private readonly gate: GateContext = {},
    options: AnalyzerOptions = {},
  ) {
    this.budgetMs = options.budgetMs ?? DEFAULT_BUDGET_MS;
    this.pool = new ParsePool(this.budgetMs, options.logger, options.workers);
  }

  /**
   * Why SQL of `bytes` is refused before it is even decoded (decoding and handing over tens of megabytes
   * costs the main thread too): its analysis could not finish within the time budget at the least cost per
   * byte measured.
   */
  refusalBySize(bytes: number): string | undefined {
    const leastMs = this.cost.leastMs(bytes);
    if (leastMs <= this.budgetMs) return undefined;
    return `statement too complex: analysing ${bytes} bytes of SQL would take at least ${Math.round(leastMs)} ms, longer than kinesql.parse-timeout (${this.budgetMs} ms)`;
  }

  /** The longest statement analysed on the main thread now (the rest go to workers). */
  get mainThreadChars(): number {
    return this.cost.mainThreadChars();
  }

  /**
   * The plan of `sql` (statement-plan.ts): at once unless a worker analyses it. A string the read-only gate refuses
   * throws its PgError (a worker's refusal rejects with it).
   */
  plan(sql: string): StatementPlan | Promise<StatementPlan> {
    let entry = this.cache.get(sql);
    if (!entry && sql.length <= this.cost.mainThreadChars()) {
      entry = { analyzed: this.onMainThread(sql), plan: undefined };
      this.cache.set(sql, entry);
    }
    if (entry) {
      entry.plan ??= statementPlan(sql, entry.analyzed);
      return entry.plan;
    }
    return this.inWorker(sql).then((analyzed) => {
      // A worker's refusal (time budget, fault) depends on more than the text: it is not kept.
      if (analyzed.analysis.refusal?.sqlstate !== SQLSTATE.statementTooComplex) this.cache.set(sql, { analyzed, plan: undefined });
      return statementPlan(sql, analyzed);
    });
  }

  /**
   * As plan, for SQL the client sent as `bytes` in `codec`; `text` decodes them. From WORKER_DECODES_BYTES on, the
   * worker that analyses the statement decodes it, and the main thread only if a plan needs the text.
   */
  planBytes(bytes: Buffer, codec: TextCodec, text: () => string): StatementPlan | Promise<StatementPlan> {
    if (bytes.length < WORKER_DECODES_BYTES) return this.plan(text());
    return this.inWorker({ bytes, encoding: codec.name }).then((analyzed) => statementPlan(text, analyzed));
  }

  private onMainThread(sql: string): AnalyzedText {
    const started = performance.now();
    const { analysis, statements } = analyzeText(sql, this.gate);
    this.cost.record(sql.length, performance.now() - started);
    return { analysis, bounds: statements.map((statement: ParsedStatement) => boundsOfTree(statement.node)) };
  }

  private async inWorker(text: WorkerText): Promise<AnalyzedText> {
    const result = await this.pool.analyze(text, this.gate, Date.now());
    if ('refusal' in result) return { analysis: refusedAnalysis(result.refusal), bounds: [] };
    this.cost.record(result.chars, result.ms);
    this.cost.recordBytes(result.bytes, result.ms);
    return { analysis: result.analysis.analysis, bounds: result.analysis.bounds.map(boundsOfPrecomputed) };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
