/** Runs statement-text.ts in one worker thread, started on first use, for SQL too large to parse on the main thread. */
import { Worker } from 'node:worker_threads';
import type { ParsedStatement } from './parse.js';
import type { GateContext } from './readonly-gate.js';
import { analyzeText, type TextAnalysis } from './statement-text.js';
import type { TextReply, TextRequest } from './text-worker.js';

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

/** Under tsx (tests, `npm start`) the sources are .ts: the worker registers the same loader first. */
function spawn(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./text-worker.js', import.meta.url));
  const script = new URL('./text-worker.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(script)}); })`, { eval: true });
}

export class TextWorker {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  private start(): Promise<void> {
    this.ready ??= new Promise<void>((resolve, reject) => {
      const worker = spawn();
      this.worker = worker;
      worker.unref();
      worker.on('message', (reply: TextReply) => {
        if (reply.id === 0) return resolve();
        const pending = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        if ('error' in reply) pending?.reject(new Error(reply.error));
        else pending?.resolve(reply.result);
      });
      const fail = (error: Error): void => {
        // Requests in flight fail; the next one starts a new worker.
        for (const pending of this.pending.values()) pending.reject(error);
        this.pending.clear();
        this.ready = undefined;
        this.worker = undefined;
        reject(error);
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (this.worker === worker) fail(new Error(`the SQL parsing worker exited (${code})`));
      });
    });
    return this.ready;
  }

  private async request<T>(body: Omit<TextRequest, 'id'>): Promise<T> {
    await this.start();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker!.postMessage({ ...body, id } as TextRequest);
    });
  }

  analyze(sql: string, gate: GateContext = {}): Promise<TextAnalysis> {
    return this.request<TextAnalysis>({ kind: 'analyze', sql, gate });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}

/** SQL above this size is parsed in a worker thread: parsing takes about 0.3 s per MB, all of it blocking. */
const LARGE_SQL_CHARS = 256 * 1024;

/** Analyses client SQL (statement-text.ts) under the operator's limits, off the main thread when it is large. */
export class StatementAnalyzer {
  constructor(
    private readonly gate: GateContext = {},
    private readonly worker = new TextWorker(),
  ) {}

  /** The analysis, and the parse trees when the main thread made them (the worker's stay in the worker). */
  async analyze(sql: string): Promise<{ analysis: TextAnalysis; statements: ParsedStatement[] }> {
    if (sql.length > LARGE_SQL_CHARS) return { analysis: await this.worker.analyze(sql, this.gate), statements: [] };
    return analyzeText(sql, this.gate);
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}
