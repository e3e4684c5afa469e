/**
 * Worker threads that analyse client SQL (text-worker.ts), in two lanes so that small statements never wait
 * behind huge ones: one worker for statements up to SMALL_LANE_CHARS, the others (at least one) for larger
 * ones. Each statement has a time budget of CPU time (where Linux tells a thread's, thread-cpu.ts; wall-clock time
 * elsewhere), and at most WALL_BUDGETS budgets of wall-clock time while it waits for a core; a worker that exceeds
 * either, faults or dies is replaced, and its statement gets 54001 with a message saying why.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { SQLSTATE } from '../pg/sqlstate.js';
import type { GateContext } from './readonly-gate.js';
import type { EncodedSql, TextReply, TextRequest, WorkerAnalysis } from './text-worker.js';
import { threadCpuMs } from './thread-cpu.js';

/** Statements up to this many characters (bytes, when sent undecoded) go to the small lane. */
const SMALL_LANE_CHARS = 64 * 1024;
/**
 * How many budgets of wall-clock time an analysis may take while its worker, at the lowest priority, waits for
 * cores the sessions and the engine keep busy.
 */
const WALL_BUDGETS = 5;
/** The least wait before the CPU time of an analysis under budget is looked at again (ms). */
const RECHECK_MS = 50;

/** What a worker's statement came to: its analysis, or why there is none (a refusal the client gets). */
export type PoolResult = { analysis: WorkerAnalysis; ms: number; bytes: number; chars: number } | { refusal: { message: string; sqlstate: string } };

/** SQL as a string, or as the client's bytes for the worker to decode. */
export type WorkerText = string | EncodedSql;

const sizeOf = (text: WorkerText): number => (typeof text === 'string' ? text.length : text.bytes.length);

interface Job {
  text: WorkerText;
  gate: GateContext;
  at: number;
  done: (result: PoolResult) => void;
}

/** Under tsx (tests, `npm start`) the sources are .ts: the worker registers the same loader first. */
function spawn(): Worker {
  const options = { resourceLimits: { maxOldGenerationSizeMb: 2048 } };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./text-worker.js', import.meta.url), options);
  const script = new URL('./text-worker.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(script)}); })`, { ...options, eval: true });
}

const tooComplex = (message: string): PoolResult => ({ refusal: { message, sqlstate: SQLSTATE.statementTooComplex } });

/** One worker thread and the statement it is analysing. */
class LaneWorker {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private job: { id: number; done: (result: PoolResult) => void; timer: NodeJS.Timeout | undefined } | undefined;
  private nextId = 1;
  /** The worker's thread id, whose CPU time the budget counts (undefined: wall-clock time). */
  private tid: number | undefined;

  constructor(
    private readonly budgetMs: number,
    private readonly logger: Logger | undefined,
  ) {}

  get busy(): boolean {
    return this.job !== undefined;
  }

  private start(): Promise<void> {
    this.ready ??= new Promise<void>((resolve, reject) => {
      const worker = spawn();
      this.worker = worker;
      worker.unref();
      worker.on('message', (reply: TextReply) => {
        if ('ready' in reply) {
          this.tid = reply.tid;
          return resolve();
        }
        this.answer(reply);
      });
      const fail = (error: Error): void => {
        reject(error);
        if (this.worker !== worker) return;
        this.discard();
        this.finish(tooComplex(`statement too complex: the SQL analysis worker failed on it (${error.message})`));
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    });
    return this.ready;
  }

  /** Forgets the worker (terminating it): the next statement starts a fresh one. */
  private discard(): void {
    const worker = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    if (worker) void worker.terminate();
  }

  private finish(result: PoolResult): void {
    const job = this.job;
    this.job = undefined;
    if (!job) return;
    clearTimeout(job.timer);
    job.done(result);
  }

  private answer(reply: Exclude<TextReply, { ready: true }>): void {
    if (reply.id !== this.job?.id) return;
    if (reply.faulted) {
      this.logger?.warn('SQL analysis worker faulted; replacing it');
      this.discard();
    }
    if ('error' in reply) this.finish(tooComplex(`statement too complex: the SQL analysis failed on it (${reply.error})`));
    else this.finish({ analysis: reply.result, ms: reply.ms, bytes: reply.bytes, chars: reply.chars });
  }

  async run(job: Job, onIdle: () => void): Promise<void> {
    const id = this.nextId++;
    this.job = {
      id,
      timer: undefined,
      done: (result) => {
        job.done(result);
        onIdle();
      },
    };
    try {
      await this.start();
    } catch {
      return; // fail() has answered the job already.
    }
    this.watchBudget(this.job, sizeOf(job.text));
    const text = typeof job.text === 'string' ? { sql: job.text } : { encoded: job.text };
    this.worker?.postMessage({ id, kind: 'analyze', ...text, gate: job.gate, at: job.at } satisfies TextRequest);
  }

  /** Refuses the job once its analysis used the budget in CPU time, or WALL_BUDGETS budgets in wall-clock time. */
  private watchBudget(job: NonNullable<LaneWorker['job']>, size: number): void {
    // The budget counts the analysis, not the start of a fresh worker.
    const tid = this.tid;
    const cpuAtStart = tid === undefined ? undefined : threadCpuMs(tid);
    const startedAt = performance.now();
    const check = (): void => {
      if (this.job !== job) return;
      const waitedMs = performance.now() - startedAt;
      const cpuNow = cpuAtStart === undefined ? undefined : threadCpuMs(tid!);
      const usedMs = cpuNow === undefined ? waitedMs : cpuNow - cpuAtStart!;
      const verdict = budgetVerdict(usedMs, waitedMs, this.budgetMs);
      if (typeof verdict === 'number') {
        job.timer = setTimeout(check, verdict);
        return;
      }
      this.logger?.warn(
        { budgetMs: this.budgetMs, cpuMs: Math.round(usedMs), wallMs: Math.round(waitedMs), size },
        'SQL analysis over its time budget; replacing its worker',
      );
      this.discard();
      this.finish(tooComplex(verdict));
    };
    job.timer = setTimeout(check, this.budgetMs);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}

/**
 * Whether an analysis that used `usedMs` of CPU time in `waitedMs` is over a budget of `budgetMs`: the refusal's
 * message if it is, else how long to wait before looking again (ms).
 */
export function budgetVerdict(usedMs: number, waitedMs: number, budgetMs: number): string | number {
  if (usedMs >= budgetMs) return `statement too complex: analysing it took longer than ${budgetMs} ms (kinesql.parse-timeout)`;
  const wallMs = WALL_BUDGETS * budgetMs;
  if (waitedMs >= wallMs) {
    return `statement too complex: analysing it took longer than ${wallMs} ms, ${WALL_BUDGETS} times kinesql.parse-timeout, on cores busy with other work (${Math.round(usedMs)} ms of CPU time)`;
  }
  return Math.max(RECHECK_MS, Math.min(budgetMs - usedMs, wallMs - waitedMs));
}

/** A queue of statements and the workers that take them, first come first served. */
class Lane {
  private readonly queue: Job[] = [];
  private readonly workers: LaneWorker[];

  constructor(size: number, budgetMs: number, logger: Logger | undefined) {
    this.workers = Array.from({ length: size }, () => new LaneWorker(budgetMs, logger));
  }

  submit(job: Job): void {
    this.queue.push(job);
    this.dispatch();
  }

  private dispatch(): void {
    for (const worker of this.workers) {
      if (worker.busy) continue;
      const job = this.queue.shift();
      if (!job) return;
      void worker.run(job, () => this.dispatch());
    }
  }

  async close(): Promise<void> {
    for (const job of this.queue.splice(0)) job.done(tooComplex('the server is shutting down'));
    await Promise.all(this.workers.map((worker) => worker.close()));
  }
}

export class ParsePool {
  private readonly small: Lane;
  private readonly large: Lane;

  constructor(budgetMs: number, logger?: Logger, size = availableParallelism()) {
    this.small = new Lane(1, budgetMs, logger);
    this.large = new Lane(Math.max(1, size - 1), budgetMs, logger);
  }

  /** Analyses `text` in a worker; `at` is when it arrived (its scan bounds are worked out for statements starting then or later). */
  analyze(text: WorkerText, gate: GateContext, at: number): Promise<PoolResult> {
    return new Promise((done) => (sizeOf(text) <= SMALL_LANE_CHARS ? this.small : this.large).submit({ text, gate, at, done }));
  }

  async close(): Promise<void> {
    await Promise.all([this.small.close(), this.large.close()]);
  }
}
