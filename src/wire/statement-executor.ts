import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import type { CheckpointDefaults } from '../engine/roles.js';
import { checkpointMode, saveCheckpoints, type CheckpointMode } from '../store/checkpoints.js';
import { loadProgressText } from '../store/load-progress.js';
import type { CatchUpRequest, StreamStore } from '../store/stream-store.js';
import type { ScanBounds, ScanProgress, ScanWindow } from '../store/scan-request.js';
import { SESSION_PROPERTIES, sessionPropertyValue } from '../config/session-properties.js';
import { sessionScan } from '../store/session-scan.js';
import { namesStatusTable, STATUS_TABLES } from '../store/status-tables.js';
import { StreamReadError } from '../store/stream-read-error.js';
import type { StreamTable } from '../store/stream-table.js';
import { untilRowsVisible } from '../store/visible-rows.js';
import { backend } from '../pg/backend-messages.js';
import type { TextCodec } from '../pg/client-encoding.js';
import { INTERNAL_COLUMNS } from '../catalog/definition.js';
import type { ColumnVisibility } from '../sql/hidden-columns.js';
import { StatementAnalyzer } from '../sql/off-thread.js';
import type { RelationRead, StatementPlan } from '../sql/statement-plan.js';
import { prepareText, rewritesNothing, type StarContext } from '../sql/statement-text.js';
import { PgError } from '../pg/pg-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import { publishSessionSettings, type SessionBackend, unreachableWorker, withdrawSessionSettings } from '../engine/citus.js';

/** What the executor needs to know about the session a statement comes from. */
export interface SessionContext {
  searchPath: string[];
  /** The session's settings as its backend has them (lower-case names, e.g. `kinesis.iter_offset_seconds`). */
  settings?: ReadonlyMap<string, string>;
  /** The session's engine backend, whose settings are published to the workers of a distributed engine. */
  backend?: SessionBackend;
}

export type ReplySink = (bytes: Uint8Array) => Promise<void>;

/** What a statement's catch-up did, for the bookkeeping after the statement ran (checkpoint mode). */
export interface CaughtUp {
  checkpoint?: { mode: CheckpointMode; visibleFrom: Date | undefined; tables: { table: StreamTable; reached: Map<string, string> }[] };
}

/**
 * A client statement's way to the engine: its plan (sql/statement-plan.ts), then, for a statement that reads
 * stream tables, their catch-up in the store up to the streams' tips as of the moment it arrived (reading only
 * what its WHERE can see, as its plan says), then the text the session forwards to its own engine backend.
 */
export class StatementExecutor {
  /** Where catch-up waits are recorded (the operator's /metrics), when served. */
  metrics: { catchUpFinished(seconds: number): void } | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly store: StreamStore,
    private readonly logger: Logger,
    private readonly checkpointDefaults: CheckpointDefaults | undefined,
    private readonly hideInternalColumns = false,
    private readonly analyzer = new StatementAnalyzer(),
  ) {}

  /** Stops the workers that parse SQL off the main thread. */
  close(): Promise<void> {
    return this.analyzer.close();
  }

  /** The columns `*` stands for in a table with hidden columns (the Trino connector's `hidden`, hide-internal-columns). */
  private visibleColumns(table: StreamTable): ColumnVisibility | undefined {
    const fields = table.definition.message.fields;
    if (!this.hideInternalColumns && !fields.some((field) => field.hidden)) return undefined;
    const visible = fields.filter((field) => !field.hidden).map((field) => field.name);
    if (!this.hideInternalColumns) visible.push(...INTERNAL_COLUMNS.map((column) => column.name));
    return { visible };
  }

  /** What prepareText needs to spell out `*` over tables with hidden columns, for a session's search_path. */
  private starContext(session: SessionContext): StarContext {
    const tables = this.store.list().flatMap((table) => {
      const visibility = this.visibleColumns(table);
      return visibility ? [{ schema: table.definition.schemaName, name: table.definition.tableName, visible: visibility.visible }] : [];
    });
    // Only an engine that renamed them (PostgreSQL 17 and newer) needs older clients' names translated.
    return { searchPath: session.searchPath, tables, renameOldCatalogColumns: this.engine.serverVersionNum >= 170000 };
  }

  /** The engine's text of a plan (as prepareSql), or undefined when it is the client's own: then it need not even be decoded. */
  engineSql(plan: StatementPlan, session: SessionContext): string | undefined {
    return rewritesNothing(plan.text) ? undefined : this.prepareSql(plan, session);
  }

  /** The client's SQL as the engine gets it (statement-text.ts), spliced together from its plan's analysis. */
  prepareSql(plan: StatementPlan, session: SessionContext): string {
    // Most statements need no rewrite: the session's tables and search_path are not even looked at.
    if (rewritesNothing(plan.text)) return plan.sql;
    return prepareText(plan.sql, plan.text, this.starContext(session));
  }

  /** Why SQL of `bytes` is too large to analyse within its time budget (54001), known before it is even read; undefined when it is not. */
  sqlSizeRefusal(bytes: number): string | undefined {
    return this.analyzer.refusalBySize(bytes);
  }

  /**
   * Whether any of the relations could be a stream table or a status table under some search_path: only
   * such statements need the session's settings and a catch-up.
   */
  mayReadStreams(relations: RelationRead[]): boolean {
    if (relations.length === 0) return false;
    const tables = this.store.list();
    return relations.some(
      (relation) => (STATUS_TABLES as readonly string[]).includes(relation.name) || tables.some((table) => table.definition.tableName === relation.name),
    );
  }

  /**
   * Checks a client's SQL string with the read-only gate (every statement in it, before any runs) and
   * returns its plan (sql/statement-plan.ts), which the catch-up and the engine's text are made from: at once,
   * unless SQL that could take more than a few milliseconds to parse is analysed in a worker thread
   * (sql/off-thread.ts), which sends its statements' scan bounds back as data. A refused or unparsable string,
   * or a session property set to a value it can never take, throws a PgError (the client's ErrorResponse; a
   * worker's analysis rejects with it).
   */
  analyze(sql: string): StatementPlan | Promise<StatementPlan> {
    return this.analyzer.plan(sql);
  }

  /** As analyze, for SQL the client sent as `bytes` in `codec` (`text` decodes them, only when needed: sql/off-thread.ts). */
  analyzeBytes(bytes: Buffer, codec: TextCodec, text: () => string): StatementPlan | Promise<StatementPlan> {
    return this.analyzer.planBytes(bytes, codec, text);
  }

  /**
   * Brings the stream tables among `relations` (from plans, with their bounds) up to the streams' tips as of now, reading
   * only what their WHERE can see. `signal` aborts the wait (CancelRequest, statement_timeout): the
   * statement fails with its reason at once; the catch-up itself finishes in the background, so the store's
   * bookkeeping always matches what the engine holds. Progress NOTICEs of a long catch-up go to `reply`.
   */
  async catchUp(relations: RelationRead[], session: SessionContext, signal?: AbortSignal, reply?: ReplySink): Promise<CaughtUp> {
    const statementStart = new Date();
    const tables = this.store.resolve(relations, session.searchPath);
    if (namesStatusTable(relations, session.searchPath)) await this.store.refreshStatus();
    if (tables.length === 0) return {};
    if (this.store.distributed && session.backend) await this.publish(session.backend, session.settings);
    const bounds = this.boundsByTable(tables, relations, session.searchPath, statementStart);
    // A session property set to a value it cannot take fails the statement with its SessionSettingError.
    const scan = sessionScan(session.settings, this.store.windowDefaults(), statementStart);
    const mode = checkpointMode(session.settings, this.checkpointDefaults);
    const maxStalenessMs = sessionPropertyValue(session.settings, SESSION_PROPERTIES.maxStaleness) ?? this.store.defaultMaxStalenessMs();
    const request: CatchUpRequest = {
      stopAt: statementStart,
      boundsFor: (table) => bounds.get(table),
      ...(scan.window ? { windowFor: () => scan.window } : {}),
      ...(scan.read ? { read: scan.read } : {}),
      // Checkpoint mode needs exactly what its iteration saw up to its start.
      ...(maxStalenessMs > 0 && !mode ? { maxStalenessMs } : {}),
      onProgress: (progress) => {
        reply?.(backend.notice({ severity: 'NOTICE', sqlstate: SQLSTATE.successfulCompletion, message: progressMessage(progress) })).catch(() => undefined);
      },
      onUnreadable: (table, since) => {
        const message =
          `Kinesis stream "${table.definition.streamName}" cannot be read since ${since.toISOString()}: ` +
          `table ${table.definition.schemaName}.${table.definition.tableName} answers from the records loaded before, within kinesql.max_staleness`;
        const detail = table.lastError === undefined ? {} : { detail: table.lastError };
        reply?.(backend.notice({ severity: 'NOTICE', sqlstate: SQLSTATE.successfulCompletion, message, ...detail })).catch(() => undefined);
      },
    };
    // Tables read recently enough for the session's max_staleness: nothing to wait for, no timer, no race.
    if (this.store.freshEnough(tables, request)) {
      signal?.throwIfAborted();
      this.metrics?.catchUpFinished(0);
    } else {
      // `SELECT … FROM t LIMIT n` is answered by any n rows of its snapshot: once n are loaded and visible, the
      // rest of the load goes on in the background (checkpoint mode needs the positions the whole read reaches).
      const enough = mode ? undefined : this.rowsEnough(tables, relations);
      await this.waitForCatchUp(tables, request, enough === undefined ? undefined : { rows: enough, window: scan.window }, signal);
    }
    for (const table of tables) {
      const notice = table.streamNotice();
      if (notice) reply?.(backend.notice({ severity: 'NOTICE', sqlstate: SQLSTATE.successfulCompletion, message: notice })).catch(() => undefined);
    }
    if (!mode) return {};
    const windowStart = scan.window
      ? scan.window.start
      : this.store.windowDefaults().iterFromTimestamp
        ? new Date(statementStart.getTime() - this.store.windowDefaults().iterOffsetSeconds * 1000)
        : undefined;
    return { checkpoint: { mode, visibleFrom: windowStart, tables: tables.map((table) => ({ table, reached: table.reachedPositions() })) } };
  }

  /** Catches `tables` up as `request` says, until `enough` of its rows are visible when given; `signal` stops the wait. */
  private async waitForCatchUp(
    tables: StreamTable[],
    request: CatchUpRequest,
    enough: { rows: number; window: ScanWindow | undefined } | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const catchingUp = this.store.catchUp(tables, request).catch((error: unknown) => {
      const readError = StreamReadError.from(error, tables.map((table) => table.definition.streamName).join(', '));
      this.logger.warn({ err: error, stream: readError.streamName }, 'stream catch-up failed');
      throw readError;
    });
    const waitStarted = performance.now();
    void catchingUp.then(
      () => this.metrics?.catchUpFinished((performance.now() - waitStarted) / 1000),
      () => undefined,
    );
    const answerable = enough === undefined ? catchingUp : untilRowsVisible(this.engine, tables[0]!, enough.rows, enough.window, catchingUp);
    if (!signal) return answerable;
    answerable.catch(() => undefined);
    signal.throwIfAborted();
    let onAbort!: () => void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([answerable, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** n when the statements are one `SELECT … FROM t LIMIT n` of the one stream table they read (sql/limit-rows.ts). */
  private rowsEnough(tables: StreamTable[], relations: RelationRead[]): number | undefined {
    if (tables.length !== 1 || relations.length !== 1) return undefined;
    const table = tables[0]!.definition;
    return relations[0]!.bounds.rowsEnough({ schema: table.schemaName, name: table.tableName });
  }

  /** The session's settings where the workers' shard policies read them (engine/citus.ts). */
  private async publish(backend: SessionBackend, settings: ReadonlyMap<string, string> | undefined): Promise<void> {
    try {
      await publishSessionSettings(this.engine, backend, settings);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const worker = unreachableWorker(error);
      throw new PgError(
        `the session's settings could not be given to the engine's workers: ${worker?.message ?? (error as Error).message}`,
        worker?.sqlstate ?? (typeof code === 'string' ? code : SQLSTATE.connectionFailure),
      );
    }
  }

  /** The session ended: the settings it published for the workers go with it. */
  async sessionEnded(backend: SessionBackend): Promise<void> {
    await withdrawSessionSettings(this.engine, backend).catch((error: unknown) =>
      this.logger.warn({ err: error, backend: backend.processId }, "an ended session's published settings stay until the next sweep"),
    );
  }

  /** After a statement ran without error: checkpoint mode's bookkeeping. */
  async afterStatement(caughtUp: CaughtUp): Promise<void> {
    const checkpoint = caughtUp.checkpoint;
    if (checkpoint) await saveCheckpoints(this.engine, checkpoint.mode, checkpoint.visibleFrom, checkpoint.tables);
  }

  /** Per table, the loosest bounds over every place the statements name it (none if any place has none). */
  private boundsByTable(tables: StreamTable[], relations: RelationRead[], searchPath: string[], start: Date): Map<StreamTable, ScanBounds> {
    const result = new Map<StreamTable, ScanBounds>();
    for (const table of tables) {
      const ref = { schema: table.definition.schemaName, name: table.definition.tableName };
      const naming = relations.filter((relation) => this.store.resolve([relation], searchPath)[0] === table);
      // The statements naming it, by where their bounds come from (one string's analysis, however often it is planned).
      const statements = new Set(naming.map((relation) => relation.bounds));
      if (statements.size !== 1) continue;
      const bounds = [...statements][0]!.boundsFor(ref, start);
      if (bounds) result.set(table, bounds);
    }
    return result;
  }
}

function progressMessage(progress: ScanProgress[]): string {
  return progress.map(loadProgressText).join('; ');
}
