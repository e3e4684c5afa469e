import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import type { StreamStore } from '../store/stream-store.js';
import { StreamReadError } from '../store/stream-read-error.js';
import { checkStatements } from './readonly-gate.js';
import { referencedRelations, type RelationName } from './stream-tables.js';

/** What the executor needs to know about the session a statement comes from. */
export interface SessionContext {
  searchPath: string[];
}

/** A statement refused before it reaches the engine, reported to the client as an ErrorResponse. */
export class StatementError extends Error {
  constructor(
    message: string,
    readonly sqlstate: string,
    readonly position?: number,
  ) {
    super(message);
  }
}

export type ReplySink = (bytes: Uint8Array) => Promise<void>;

/**
 * Runs client statements: parses them with the PostgreSQL grammar, brings every stream table they read
 * up to the streams' tips as of the moment they arrived, then lets the engine answer with its own bytes.
 */
export class StatementExecutor {
  constructor(
    private readonly engine: Engine,
    private readonly store: StreamStore,
    private readonly logger: Logger,
  ) {}

  /**
   * Checks a client's SQL string with the read-only gate (every statement in it, before any runs) and
   * returns the relations it names. A refused or unparsable string throws StatementError.
   */
  analyze(sql: string): RelationName[] {
    const verdict = checkStatements(sql);
    if (!verdict.allowed) throw new StatementError(verdict.message, verdict.sqlstate, verdict.position);
    return verdict.statements.flatMap((statement) => referencedRelations(statement.node));
  }

  /**
   * Brings the stream tables among `relations` (from analyze) up to the streams' tips as of now, before
   * a session's statements reach the engine. `signal` aborts the wait (CancelRequest, statement_timeout):
   * the statement fails with its reason at once; the catch-up itself finishes in the background, so the
   * store's bookkeeping always matches what the engine holds.
   */
  async catchUp(relations: readonly RelationName[], session: SessionContext, signal?: AbortSignal): Promise<void> {
    const tables = this.store.resolve([...relations], session.searchPath);
    if (tables.length === 0) return;
    const catchingUp = this.store.catchUp(tables, new Date()).catch((error: unknown) => {
      const readError = StreamReadError.from(error, tables.map((table) => table.definition.streamName).join(', '));
      this.logger.warn({ err: error, stream: readError.streamName }, 'stream catch-up failed');
      throw new StatementError(readError.message, readError.sqlstate);
    });
    if (!signal) return catchingUp;
    catchingUp.catch(() => undefined);
    signal.throwIfAborted();
    let onAbort!: () => void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([catchingUp, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Brings the stream tables among `relations` up to date, then sends `messages` (raw frontend protocol
   * bytes ending in Query, Sync or Flush) to the engine with no other session's statements in between.
   */
  async run(relations: RelationName[], messages: Uint8Array, session: SessionContext, reply: ReplySink): Promise<void> {
    const statementStart = new Date();
    const tables = this.store.resolve([...relations], session.searchPath);
    if (tables.length > 0) {
      try {
        await this.store.catchUp(tables, statementStart);
      } catch (error) {
        const readError = StreamReadError.from(error, tables.map((table) => table.definition.streamName).join(', '));
        this.logger.warn({ err: error, stream: readError.streamName }, 'stream catch-up failed');
        throw new StatementError(readError.message, readError.sqlstate);
      }
    }
    await this.engine.exclusive(() => this.engine.protocol(messages, reply));
  }
}
