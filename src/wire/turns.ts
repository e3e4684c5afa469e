/**
 * A logged-in session's traffic, turn by turn. A simple Query, or an extended-protocol batch up to its Sync or
 * Flush, is one turn: its SQL passes the read-only gate, the stream tables it reads are caught up (turn-catch-up.ts:
 * stopped by a cancel request, statement_timeout or the connection's end; the read replica's replay waited for), and it
 * goes to the session's own engine backend, whose replies the relay passes back untouched. Transactions,
 * cursors, prepared statements and settings are the backend's own; kinesql keeps track of the few settings a
 * catch-up plans with (tracked-settings.ts) and of what each prepared statement reads. Where the connection is
 * in the protocol (ready, in an extended batch, discarding until Sync) is the connection's state
 * (connection-state.ts); the prepared statements and portals by name are kept in named-statements.ts.
 */
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import type { ReadReplica } from '../engine/replica.js';
import { backend } from '../pg/backend-messages.js';
import { PgError, type ErrorFields } from '../pg/pg-error.js';
import { inClientEncoding } from '../pg/message-encoding.js';
import type { TextCodec } from '../pg/client-encoding.js';
import { TransactionStatus } from '../pg/protocol-constants.js';
import type { SettingChange } from '../sql/setting-changes.js';
import type { RelationRead, StatementPlan } from '../sql/statement-plan.js';
import type { CaughtUp, SessionContext, StatementExecutor } from './statement-executor.js';
import type { SessionBackend } from '../engine/citus.js';
import type { BackendRelay, TurnAnswer } from './backend-relay.js';
import { messageVerdict, type ConnectionState, type ExtendedPlace } from './connection-state.js';
import { batchBytes, planBatch, type BatchPlan } from './batch-plan.js';
import { buildParse, SYNC, type ReadParse } from './extended-messages.js';
import { BodyReader, type FrontendMessage } from './frontend-reader.js';
import type { MessageSink } from './message-sink.js';
import { engineQueryMessage } from './query-message.js';
import { NamedStatements } from './named-statements.js';
import { TurnCatchUp } from './turn-catch-up.js';
import { ClientSql, type TurnText } from './turn-text.js';
import { READ_SETTINGS_EXCHANGE, readSettingsReply, searchPathSchemas, timeoutMs } from './session-settings.js';
import type { TrackedSettings } from './tracked-settings.js';
import { typedMessage } from '../pg/framing.js';
import { SQLSTATE } from '../pg/sqlstate.js';

/** Messages of the extended protocol, collected until Sync or Flush and then forwarded together. */
const EXTENDED_MESSAGES = new Set(['P', 'B', 'D', 'E', 'C', 'H', 'S']);

/** A Flush of kinesql's, ending the extended messages a simple Query follows: their answers come before its. */
const FLUSH: FrontendMessage = { type: 'H', body: Buffer.alloc(0), raw: typedMessage('H') };

/**
 * How a turn ends: with a simple Query, a fastpath call or a Sync, each answered by a ReadyForQuery, or with a
 * Flush, after which the batch goes on to its Sync.
 */
type TurnEnd = 'query' | 'fastpath' | 'sync' | 'flush';

/** Fails the backend's open transaction block where kinesql refused a statement, as PostgreSQL's own refusal would. */
const FAIL_BLOCK = Buffer.concat([
  buildParse({
    name: '',
    query: `DO $$ BEGIN RAISE EXCEPTION 'kinesql refused a statement of this transaction' USING ERRCODE = '25006'; END $$`,
    rest: Buffer.from([0, 0]),
  }),
  typedMessage('B', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])),
  typedMessage('E', Buffer.from([0, 0, 0, 0, 0])),
  SYNC,
]);

export type StopReason = 'user' | 'timeout';

/** A statement turn as the statement log tells it. */
export interface FinishedStatement {
  user: string;
  /** The SQL of the turn (for an Execute of a statement prepared earlier, its text when known). */
  text: TurnText;
  sqlstate?: string;
  rows?: number;
}

/** What a session records of its statements (the /metrics registry and the statement log implement it). */
export interface SessionMetrics {
  statementFinished(outcome: 'ok' | 'error' | 'refused', seconds: number, statement?: FinishedStatement): void;
  replayWaitFinished(seconds: number): void;
}

/** What the turns need of the connection they run on. */
export interface TurnServices {
  executor: StatementExecutor;
  engine: Engine;
  /** The hot standby the session's backend runs on, when there is one: statements wait for its replay. */
  replica?: ReadReplica;
  metrics?: SessionMetrics;
  logger: Logger;
  /** Writes kinesql's own messages to the client. */
  send: MessageSink;
  /** Ends the connection with a FATAL error. */
  fatal(fields: Omit<ErrorFields, 'severity'>): Promise<void>;
  /** The client said Terminate. */
  end(): void;
  /** Where the connection is in the protocol: the turns move it between ready, extended and discarding. */
  state: ConnectionState;
}

export class SessionTurns {
  /** When the turn being handled arrived (performance.now()), for its latency. */
  private turnStarted = 0;
  /** The SQL of the turn being handled, for the statement log. */
  private turnText: TurnText = [];
  private readonly named = new NamedStatements();
  private context: SessionContext;
  /** The values `context` was made from. */
  private contextValues: ReadonlyMap<string, string> | undefined;
  /** The engine backend, and the settings last published for it (a distributed engine). */
  private readonly backend: SessionBackend;
  private readonly catchUp: TurnCatchUp;
  private readonly executor: StatementExecutor;
  private readonly engine: Engine;
  private readonly replica: ReadReplica | undefined;
  private readonly metrics: TurnServices['metrics'];
  private readonly logger: Logger;
  private readonly send: MessageSink;
  private readonly state: ConnectionState;

  constructor(
    private readonly relay: BackendRelay,
    private readonly session: TurnServices,
    private readonly user: string,
    defaultSchema: string,
    /** The engine backend's key, for forwarding cancel requests. */
    private readonly backendKey: { processId: number; secretKey: number },
    /** The settings a catch-up plans with, as kinesql keeps them. */
    private readonly settings: TrackedSettings,
  ) {
    this.executor = session.executor;
    this.engine = session.engine;
    this.replica = session.replica;
    this.metrics = session.metrics;
    this.logger = session.logger;
    this.state = session.state;
    // kinesql's own errors and notices, in the session's client encoding as the engine's are.
    this.send = (bytes) => session.send(inClientEncoding(bytes, relay.codec));
    this.backend = { processId: backendKey.processId, secretKey: backendKey.secretKey };
    this.context = { searchPath: [defaultSchema, 'public'], backend: this.backend };
    this.useSettings(settings.preview([]));
    const onReplayWait = (seconds: number) => this.metrics?.replayWaitFinished(seconds);
    this.catchUp = new TurnCatchUp({ executor: this.executor, replica: this.replica, send: this.send, onReplayWait });
  }

  /**
   * Handles one client message: at once, with nothing to wait for, when it needs no catch-up and its SQL is
   * analysed already or on this thread (then it returns undefined); otherwise the returned promise settles once
   * it is handled.
   */
  onMessage(message: FrontendMessage): Promise<void> | undefined {
    const relay = this.relay;
    const place = this.state.now;
    const verdict = messageVerdict(place, message.type);
    if (verdict === 'ignore') return undefined;
    if (verdict !== 'take') return this.violation(verdict.violation);
    if (message.type === 'X') {
      relay.send(message.raw);
      this.session.end();
      return undefined;
    }
    if (place.phase === 'discarding') {
      // The Sync that ends the batch kinesql refused: its ReadyForQuery comes from the backend.
      this.state.move({ phase: 'ready' });
      relay.send(SYNC, this.answered(place.refusedWith));
      return undefined;
    }
    if (EXTENDED_MESSAGES.has(message.type)) {
      const batch: ExtendedPlace = place.phase === 'extended' ? place : { phase: 'extended', pending: [], flushed: false };
      if (batch !== place) this.state.move(batch);
      batch.pending.push(message);
      return message.type === 'S' || message.type === 'H' ? this.onExtendedBatch(batch) : undefined;
    }
    // PostgreSQL runs the extended messages before a simple Query first, in the same implicit transaction, and
    // skips the Query when one of them failed: they go first, the Query behind them, unless kinesql refused one.
    if (place.phase === 'extended' && place.pending.length > 0) return this.afterBatch(place, message);
    return this.onSimple(message);
  }

  /** After the replies to everything before it, as PostgreSQL reaches it only then. */
  private async violation(violation: string): Promise<void> {
    await this.relay.whenIdle();
    await this.session.fatal({ sqlstate: SQLSTATE.protocolViolation, message: violation });
  }

  private async afterBatch(place: ExtendedPlace, message: FrontendMessage): Promise<void> {
    place.pending.push(FLUSH);
    await this.onExtendedBatch(place);
    if (this.state.phase === 'discarding') return;
    await this.onSimple(message, this.turnText);
  }

  /** A simple Query or a fastpath call; `before`: the SQL of the extended messages sent just before it, which its ReadyForQuery answers too. */
  private onSimple(message: FrontendMessage, before: TurnText = []): Promise<void> | undefined {
    const handled =
      message.type === 'Q'
        ? this.onQuery(message, before)
        : this.refuse({ sqlstate: SQLSTATE.featureNotSupported, message: 'fastpath function calls are not supported' }, 'fastpath');
    if (handled) return handled.then(() => this.queryEnded());
    this.queryEnded();
    return undefined;
  }

  /** A Query ends the batch before it: the next Sync finds nothing pending. */
  private queryEnded(): void {
    if (this.state.phase === 'extended') this.state.move({ phase: 'ready' });
  }

  // ---- simple query ------------------------------------------------------------------------------

  private onQuery(message: FrontendMessage, before: TurnText): Promise<void> | undefined {
    this.turnStarted = performance.now();
    const codec = this.relay.codec;
    // Decoded when first needed: a long statement is decoded by the worker that analyses it, and here only to be
    // rewritten (or written anew in another encoding) for the engine.
    const sql = new ClientSql(new BodyReader(message.body).cstringBytes(), codec);
    this.turnText = before.length === 0 ? [sql] : [...before, sql];
    let planned: StatementPlan | Promise<StatementPlan>;
    try {
      planned = this.executor.analyzeBytes(sql.bytes, codec, () => sql.text);
    } catch (error) {
      return this.refuseFailed(error, 'query');
    }
    if (planned instanceof Promise) {
      return planned.then(
        (plan) => this.runQuery(message, plan, sql, codec),
        (error: unknown) => this.refuseFailed(error, 'query'),
      );
    }
    return this.runQuery(message, planned, sql, codec);
  }

  private runQuery(message: FrontendMessage, plan: StatementPlan, sql: ClientSql, codec: TextCodec): Promise<void> | undefined {
    const executes = plan.prepared.executes;
    const relations = executes.length === 0 ? plan.relations : [...plan.relations, ...this.named.executedRelations(executes)];
    const build = (context: SessionContext): Buffer => engineQueryMessage(message, () => sql.text, this.executor.engineSql(plan, context), codec);
    const forwarded = this.forward(relations, build, 'query', plan.text.settingChanges);
    if (forwarded) return forwarded.then(() => this.named.applySql(plan.prepared));
    this.named.applySql(plan.prepared);
    return undefined;
  }

  // ---- extended protocol -------------------------------------------------------------------------

  private onExtendedBatch(place: ExtendedPlace): Promise<void> | undefined {
    this.turnStarted = performance.now();
    const batch = place.pending.splice(0);
    const codec = this.relay.codec;
    // Each Parse is read once, its SQL left undecoded: a text of megabytes is decoded by the worker that
    // analyses it (off-thread.ts), and here only to be rewritten for the engine.
    const read = new Map<FrontendMessage, ReadParse>();
    this.turnText = this.named.textOfBatch(batch, read, codec);
    const ends: TurnEnd = batch.at(-1)?.type === 'S' ? 'sync' : 'flush';
    let planned: BatchPlan | Promise<BatchPlan>;
    try {
      planned = planBatch(batch, read, { named: this.named, analyze: (sql) => this.executor.analyzeBytes(sql.bytes, codec, () => sql.text), codec });
    } catch (error) {
      return this.refuseFailed(error, ends);
    }
    if (planned instanceof Promise) {
      return planned.then(
        (plan) => this.forwardBatch(plan, ends, codec),
        (error: unknown) => this.refuseFailed(error, ends),
      );
    }
    return this.forwardBatch(planned, ends, codec);
  }

  private forwardBatch(plan: BatchPlan, ends: TurnEnd, codec: TextCodec): Promise<void> | undefined {
    const build = (context: SessionContext): Buffer => batchBytes(plan, (statement) => this.executor.engineSql(statement, context), codec);
    const forwarded = this.forward(plan.relations, build, ends, plan.changes);
    if (forwarded) return forwarded.then(() => this.batchForwarded(ends));
    this.batchForwarded(ends);
    return undefined;
  }

  /** The batch went to the backend (unless the forward was refused, and moved the connection itself). */
  private batchForwarded(ends: TurnEnd): void {
    if (this.state.phase === 'extended') this.state.move(ends === 'sync' ? { phase: 'ready' } : { phase: 'extended', pending: [], flushed: true });
  }

  /** A statement's error is reported as kinesql's refusal (refuse); anything else ends the session. */
  private refuseFailed(error: unknown, ends: TurnEnd): Promise<void> {
    if (!failsStatement(error)) throw error;
    return this.refuse(error, ends);
  }

  // ---- forwarding --------------------------------------------------------------------------------

  /**
   * Counts (and logs) a turn: one kinesql refused (with the SQLSTATE it sent) at once, as its client may
   * hang up before the backend's ReadyForQuery comes back; one the engine ran, failed or answered, at that
   * ReadyForQuery.
   */
  private answered(refusedWith?: string, changes: readonly SettingChange[] = []): (answer: TurnAnswer) => void {
    const track = this.settings.sent(changes, true);
    const metrics = this.metrics;
    const started = this.turnStarted;
    const text = this.turnText;
    const finish = (outcome: 'ok' | 'error' | 'refused', sqlstate?: string, rows?: number) =>
      metrics?.statementFinished(outcome, (performance.now() - started) / 1000, {
        user: this.user,
        text,
        ...(sqlstate !== undefined ? { sqlstate } : {}),
        ...(rows !== undefined ? { rows } : {}),
      });
    if (refusedWith !== undefined) {
      finish('refused', refusedWith);
      return (answer) => track?.(answer);
    }
    return (answer) => {
      track?.(answer);
      finish(answer.failed ? 'error' : 'ok', answer.sqlstate, answer.rows);
    };
  }

  /**
   * Sends a turn's messages to the backend. When they may read stream tables, kinesql first waits for the
   * backend to answer everything before them (so that what they set is known) and catches the tables up with
   * the session's settings as kept by kinesql (with the turn's own SETs); only when those are not known does
   * it read them from the backend first. A catch-up that fails (or is cancelled) is reported instead of running
   * the statement.
   */
  private forward(
    relations: RelationRead[],
    build: (context: SessionContext) => Buffer,
    ends: TurnEnd,
    changes: readonly SettingChange[],
  ): Promise<void> | undefined {
    if (this.executor.mayReadStreams(relations)) return this.forwardCaughtUp(relations, build, ends, changes);
    this.sendTurn(build(this.context), ends, changes);
    return undefined;
  }

  private async forwardCaughtUp(
    relations: RelationRead[],
    build: (context: SessionContext) => Buffer,
    ends: TurnEnd,
    changes: readonly SettingChange[],
  ): Promise<void> {
    const relay = this.relay;
    let caughtUp: CaughtUp = {};
    await relay.whenIdle();
    // A failed block, or a batch before the statement that failed, makes the backend skip it: no catch-up.
    if (relay.status !== TransactionStatus.Failed && !relay.skippingToSync) {
      // Between a Flush and its Sync the backend cannot be asked (asyncpg's Parse, Describe, Flush, then Bind,
      // Execute, Sync): the settings known last stand, and the catch-up comes all the same.
      if (this.settings.unknown && !this.state.awaitingSync) {
        const read = readSettingsReply(await relay.exchange(READ_SETTINGS_EXCHANGE));
        if (read) this.settings.learned(read, relay.status);
      }
      this.useSettings(this.settings.preview(changes));
      try {
        caughtUp = await this.catchUp.run(relations, this.context, timeoutMs(this.context.settings?.get('statement_timeout')));
      } catch (error) {
        if (!failsStatement(error)) throw error;
        await this.refuse(error, ends);
        return;
      }
    }
    this.sendTurn(build(this.context), ends, changes);
    if (caughtUp.checkpoint) {
      const errorsBefore = relay.errors;
      await relay.whenIdle();
      if (relay.errors === errorsBefore && relay.status !== TransactionStatus.Failed) {
        await this.executor.afterStatement(caughtUp).catch((error: unknown) => this.logger.warn({ err: error }, 'checkpoint not saved'));
      }
    }
  }

  private sendTurn(bytes: Buffer, ends: TurnEnd, changes: readonly SettingChange[]): void {
    if (ends !== 'flush') this.relay.send(bytes, this.answered(undefined, changes));
    else {
      this.settings.sent(changes, false);
      this.relay.send(bytes);
    }
  }

  /** The context catch-ups and the engine's text are made with, from the settings' values when they are known. */
  private useSettings(values: ReadonlyMap<string, string> | undefined): void {
    if (values === undefined || values === this.contextValues) return;
    this.contextValues = values;
    this.context = { searchPath: searchPathSchemas(values.get('search_path') ?? '', this.user), settings: values, backend: this.backend };
  }

  /**
   * Reports a statement kinesql refuses (or whose catch-up failed) where PostgreSQL would report its error:
   * after everything before it, with a transaction block it was in failed, and ReadyForQuery from the
   * backend itself at the Sync (or for the simple Query) that ends the turn. When the backend skips everything
   * up to the client's Sync (an extended message before failed there), PostgreSQL would not reach the statement:
   * nothing is reported.
   */
  private async refuse(fields: ErrorFields, ends: TurnEnd): Promise<void> {
    const relay = this.relay;
    await relay.whenIdle();
    if (relay.skippingToSync) {
      if (ends === 'sync') this.syncTurn(this.answered());
      return;
    }
    // Between a Flush and its Sync the backend is not asked, but a simple Query ends that implicit transaction: it
    // fails with the Query, as in PostgreSQL (which drops the unnamed statement FAIL_BLOCK takes anyway).
    const behindBatch = this.state.awaitingSync;
    if ((ends === 'query' && behindBatch) || (relay.status === TransactionStatus.InTransaction && !behindBatch)) {
      await relay.exchange(FAIL_BLOCK).catch((error: unknown) => {
        // The block stays open on the backend: a later COMMIT there would not say it failed.
        this.logger.warn({ err: error, user: this.user, sqlstate: fields.sqlstate }, "a refused statement's transaction block was not failed on the backend");
      });
    }
    const answered = ends === 'flush' ? undefined : this.answered(fields.sqlstate);
    await this.send(backend.error(fields));
    if (answered) this.syncTurn(answered);
    else this.state.move({ phase: 'discarding', refusedWith: fields.sqlstate });
  }

  /** Sends a Sync of kinesql's that ends the turn: extended messages the client has not ended yet stay pending. */
  private syncTurn(answered: (answer: TurnAnswer) => void): void {
    const place = this.state.now;
    if (place.phase === 'extended') this.state.move(place.pending.length > 0 ? { ...place, flushed: false } : { phase: 'ready' });
    this.relay.send(SYNC, answered);
  }

  /** CancelRequest or statement_timeout: a catch-up is stopped here, a statement in the engine by the engine. */
  cancel(reason: StopReason): void {
    if (this.catchUp.underWay) {
      const message = reason === 'timeout' ? 'canceling statement due to statement timeout' : 'canceling statement due to user request';
      this.catchUp.stop(new PgError(message, SQLSTATE.queryCanceled));
      return;
    }
    if (!this.relay?.busy) return;
    this.logger.info({ backend: this.backendKey.processId }, 'forwarding a cancel request to the engine');
    (this.replica ?? this.engine)
      .cancel(this.backendKey.processId, this.backendKey.secretKey)
      .catch((error: unknown) => this.logger.warn({ err: error }, 'cancel request not forwarded'));
  }

  /** The connection closed: a catch-up it waits for is abandoned, and what the session published goes. */
  abandon(): void {
    this.catchUp.stop(new PgError('connection closed', SQLSTATE.connectionFailure));
    void this.executor.sessionEnded(this.backend);
  }
}

/**
 * A statement's error (ERROR): kinesql's refusal, an unparsable message of a batch, a session property it
 * cannot take, a catch-up that failed or was cancelled, a read replica that could not follow. A FATAL one
 * (the engine away) ends the session instead.
 */
function failsStatement(error: unknown): error is PgError {
  return error instanceof PgError && error.severity === 'ERROR';
}
