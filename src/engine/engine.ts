import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { EngineReply, EngineRequest, WorkerInit } from './worker-messages.js';

export interface EngineError extends Error {
  code?: string;
  detail?: string;
  position?: string;
}

export interface QueryResult {
  rows: Record<string, unknown>[];
  affectedRows: number;
}

/** Receives reply bytes of a protocol message; may return a promise to slow the engine down (backpressure). */
export type ChunkSink = (chunk: Uint8Array) => void | Promise<void>;

interface Pending {
  resolve: (reply: EngineReply) => void;
  reject: (error: Error) => void;
  sink?: ChunkSink;
  sinkDone: Promise<void>;
}

const HIGH_WATER_BYTES = 4 * 1024 * 1024;

/**
 * Starts the worker script. Under tsx (tests, `npm start`) the sources are .ts, and the worker registers
 * the same loader before importing its script.
 */
function spawnWorker(workerData: WorkerInit): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./pglite-worker.js', import.meta.url), { workerData });
  const script = new URL('./pglite-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(script)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/**
 * PGlite (PostgreSQL in WASM) running in a worker thread over a data directory. Everything here is
 * one backend: callers that need several messages to run back to back use `exclusive`.
 */
export class Engine {
  private worker!: Worker;
  private inFlight!: Int32Array;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private lock: Promise<void> = Promise.resolve();
  private closed = false;
  private generation = 0;

  private constructor(
    readonly dataDir: string,
    private readonly logger: Logger,
  ) {}

  static async open(dataDir: string, logger: Logger): Promise<Engine> {
    const engine = new Engine(dataDir, logger);
    await engine.startWorker();
    return engine;
  }

  /** Incremented every time the worker is replaced; the store compares it to know what the engine still holds. */
  get restarts(): number {
    return this.generation;
  }

  private async startWorker(): Promise<void> {
    const shared = new SharedArrayBuffer(4);
    this.inFlight = new Int32Array(shared);
    const init: WorkerInit = { dataDir: this.dataDir, inFlight: shared, highWaterBytes: HIGH_WATER_BYTES };
    const worker = spawnWorker(init);
    this.worker = worker;
    await new Promise<void>((resolve, reject) => {
      const onFirst = (reply: EngineReply): void => {
        if (reply.id === 0) {
          worker.off('error', reject);
          resolve();
        }
      };
      worker.once('message', onFirst);
      worker.once('error', reject);
    });
    worker.on('message', (reply: EngineReply) => this.onReply(reply));
    worker.on('error', (error) => {
      this.logger.error({ err: error }, 'engine worker failed');
      this.failAll(error);
    });
    worker.on('exit', (code) => {
      if (this.worker === worker && !this.closed) {
        this.logger.error({ code }, 'engine worker exited');
        this.failAll(new Error(`engine worker exited with code ${code}`));
      }
    });
  }

  private failAll(error: Error): void {
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      pending.reject(error);
    }
  }

  private onReply(reply: EngineReply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    if (reply.kind === 'chunk') {
      const size = reply.data.byteLength;
      const release = (): void => {
        Atomics.sub(this.inFlight, 0, size);
        Atomics.notify(this.inFlight, 0);
      };
      // Chunks are handed to the sink in order; the worker's wait is released once the sink has taken each.
      pending.sinkDone = pending.sinkDone.then(async () => {
        try {
          await pending.sink?.(reply.data);
        } finally {
          release();
        }
      });
      return;
    }
    this.pending.delete(reply.id);
    pending.sinkDone.then(
      () => (reply.kind === 'failed' ? pending.reject(toError(reply.error)) : pending.resolve(reply)),
      (error: unknown) => pending.reject(error as Error),
    );
  }

  private request(body: DistributiveOmit<EngineRequest, 'id'>, sink?: ChunkSink, transfer: ArrayBuffer[] = []): Promise<EngineReply> {
    if (this.closed) return Promise.reject(new Error('engine is closed'));
    const id = this.nextId++;
    return new Promise<EngineReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...(sink ? { sink } : {}), sinkDone: Promise.resolve() });
      this.worker.postMessage({ ...body, id }, transfer);
    });
  }

  /** Runs fn with the engine to itself: no other caller's statements interleave with fn's. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((resolve) => (release = resolve));
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  async query(sql: string, params: unknown[] = []): Promise<QueryResult> {
    const reply = await this.request({ kind: 'query', sql, params });
    return reply.kind === 'rows' ? { rows: reply.rows, affectedRows: reply.affectedRows } : { rows: [], affectedRows: 0 };
  }

  async exec(sql: string): Promise<void> {
    await this.request({ kind: 'exec', sql });
  }

  /** Runs `COPY … FROM '/dev/blob'` with data as the blob; returns the number of rows copied. */
  async copyFrom(sql: string, data: Uint8Array): Promise<number> {
    const reply = await this.request({ kind: 'copy-from', sql, data });
    return reply.kind === 'rows' ? reply.affectedRows : 0;
  }

  /** Sends raw frontend protocol bytes to the backend; its reply bytes go to sink as they are produced. */
  async protocol(message: Uint8Array, sink: ChunkSink): Promise<void> {
    await this.request({ kind: 'protocol', message }, sink);
  }

  /**
   * Stops the worker at once (even mid-query) and reopens the same data directory. Logged tables come
   * back through WAL replay (DESIGN.md §2); everything pending fails.
   */
  async restart(): Promise<void> {
    const old = this.worker;
    this.generation += 1;
    this.failAll(new Error('engine restarted'));
    await old.terminate();
    await this.startWorker();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.request({ kind: 'close' });
    } catch (error) {
      this.logger.warn({ err: error }, 'engine did not close cleanly');
    }
    this.closed = true;
    await this.worker.terminate();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function toError(error: { message: string; code?: string; detail?: string; position?: string }): EngineError {
  const result: EngineError = new Error(error.message);
  if (error.code !== undefined) result.code = error.code;
  if (error.detail !== undefined) result.detail = error.detail;
  if (error.position !== undefined) result.position = error.position;
  return result;
}
