import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { quoteLiteral } from '../catalog/ddl.js';
import { enterReaderStatements, LEAVE_READER_STATEMENTS, type StatementVisibility } from './row-visibility.js';
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
  /** Resolves once the current worker is up; replaced while a restart reopens the data directory. */
  private ready: Promise<void> = Promise.resolve();
  /**
   * Session settings currently in force on the backend, as `[name, value]` pairs in a canonical form
   * ('' = the server defaults). Sessions share the one backend: whoever takes the lock states the
   * settings it needs and they are re-applied only when they differ (see applySettings).
   */
  private appliedSettings = '';
  /** Whether client statements' role (READER_ROLE) is in force; kinesql's own work runs as the owner. */
  private readerActive = false;
  private restarting: Promise<void> | undefined;
  /** Which session's statement the backend's unnamed prepared statement currently is (opaque token). */
  unnamedStatementOwner: unknown = undefined;

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
        this.logger.error({ code }, 'engine worker exited; reopening the data directory');
        this.restart().catch((error: unknown) => this.logger.error({ err: error }, 'engine could not be restarted'));
      }
    });
  }

  private failAll(error: Error): void {
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      // Chunks still queued for the client are dropped: after the error nothing of that reply may follow.
      delete pending.sink;
      pending.reject(error);
    }
  }

  private onReply(reply: EngineReply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    if (reply.kind === 'chunk') {
      const size = reply.data.byteLength;
      // The counter of the worker that sent the chunk, even if a restart has replaced it since.
      const inFlight = this.inFlight;
      const release = (): void => {
        Atomics.sub(inFlight, 0, size);
        Atomics.notify(inFlight, 0);
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

  private async request(body: DistributiveOmit<EngineRequest, 'id'>, sink?: ChunkSink, transfer: ArrayBuffer[] = []): Promise<EngineReply> {
    await this.ready;
    if (this.closed) throw new Error('engine is closed');
    const id = this.nextId++;
    return new Promise<EngineReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...(sink ? { sink } : {}), sinkDone: Promise.resolve() });
      this.worker.postMessage({ ...body, id }, transfer);
    });
  }

  /**
   * Waits for the engine to be free and takes it: until the returned function is called no other caller's
   * statements run. Callers queue in arrival order. A session holds the engine across several calls while
   * a transaction block (or an unsynced extended-protocol batch) of its own is open on the backend.
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    const previous = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((resolve) => (release = resolve));
    if (signal) {
      // An aborted waiter gives up its place but must still pass the lock on in order.
      const aborted = new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason as Error);
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
      try {
        await Promise.race([previous, aborted]);
      } catch (error) {
        void previous.then(release);
        throw error;
      }
    } else {
      await previous;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
    };
  }

  /**
   * Runs fn with the engine to itself: no other caller's statements interleave with fn's. fn runs under
   * the server's default settings, whatever session ran last (the store's COPY must not see a client's
   * DateStyle or search_path).
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      await this.leaveReader();
      await this.applySettings([]);
      return await fn();
    } finally {
      release();
    }
  }

  /**
   * Makes `settings` (name/value pairs as pg_settings shows them) the backend's session settings: RESET ALL
   * and set_config for each, but only when they differ from what is in force. Call with the engine held.
   */
  async applySettings(settings: readonly (readonly [string, string])[]): Promise<void> {
    const key = settingsKey(settings);
    if (key === this.appliedSettings) return;
    const sets = settings.map(([name, value]) => `set_config(${quoteLiteral(name)}, ${quoteLiteral(value)}, false)`);
    // Unknown until it worked: a failure half way must not let the next caller skip its RESET ALL.
    this.appliedSettings = UNKNOWN_SETTINGS;
    await this.exec(sets.length === 0 ? 'RESET ALL' : `RESET ALL; SELECT ${sets.join(', ')}`);
    this.appliedSettings = key;
  }

  /**
   * Runs what follows as the client statements' role, read-only, with a statement's row visibility
   * (row-visibility.ts). Call with the engine held, after applySettings.
   */
  async enterReader(visibility: StatementVisibility): Promise<void> {
    await this.exec(enterReaderStatements(visibility));
    this.readerActive = true;
  }

  private async leaveReader(): Promise<void> {
    if (!this.readerActive) return;
    await this.exec(LEAVE_READER_STATEMENTS);
    this.readerActive = false;
  }

  /** The backend's settings may have changed in ways nobody recorded (a statement failed half way). */
  forgetSettings(): void {
    this.appliedSettings = UNKNOWN_SETTINGS;
  }

  /** Records that the backend's settings changed to `settings` through a client's own statements. */
  noteSettings(settings: readonly (readonly [string, string])[]): void {
    this.appliedSettings = settingsKey(settings);
  }

  async query(sql: string, params: unknown[] = []): Promise<QueryResult> {
    // Simple queries, and PGlite's own extended-protocol queries, replace the backend's unnamed statement.
    this.unnamedStatementOwner = undefined;
    const reply = await this.request({ kind: 'query', sql, params });
    return reply.kind === 'rows' ? { rows: reply.rows, affectedRows: reply.affectedRows } : { rows: [], affectedRows: 0 };
  }

  async exec(sql: string): Promise<void> {
    this.unnamedStatementOwner = undefined;
    await this.request({ kind: 'exec', sql });
  }

  /** Runs `COPY … FROM '/dev/blob'` with data as the blob; returns the number of rows copied. */
  async copyFrom(sql: string, data: Uint8Array): Promise<number> {
    this.unnamedStatementOwner = undefined;
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
  restart(): Promise<void> {
    // A second cancel (or a crash) during a restart joins it rather than opening the data directory twice.
    this.restarting ??= this.replaceWorker().finally(() => {
      this.restarting = undefined;
    });
    return this.restarting;
  }

  private async replaceWorker(): Promise<void> {
    const old = this.worker;
    this.generation += 1;
    this.appliedSettings = '';
    this.readerActive = false;
    this.unnamedStatementOwner = undefined;
    let opened!: () => void;
    this.ready = new Promise<void>((resolve) => (opened = resolve));
    this.failAll(new EngineRestarted());
    old.removeAllListeners('exit');
    old.removeAllListeners('error');
    old.on('error', () => undefined);
    try {
      await old.terminate();
      await this.startWorker();
    } finally {
      opened();
    }
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

/** The error a request in flight fails with when the engine is restarted under it (cancel, timeout). */
export class EngineRestarted extends Error {
  constructor() {
    super('engine restarted');
  }
}

/** Matches no real settings key, so the next applySettings always runs. */
const UNKNOWN_SETTINGS = '\u0000unknown';

function settingsKey(settings: readonly (readonly [string, string])[]): string {
  return settings.length === 0 ? '' : JSON.stringify([...settings].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function toError(error: { message: string; code?: string; detail?: string; position?: string }): EngineError {
  const result: EngineError = new Error(error.message);
  if (error.code !== undefined) result.code = error.code;
  if (error.detail !== undefined) result.detail = error.detail;
  if (error.position !== undefined) result.position = error.position;
  return result;
}
