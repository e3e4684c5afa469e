/**
 * A turn's catch-up of the stream tables it reads, as a client can stop it: by a cancel request, by its
 * statement_timeout, or by closing the connection. With a read replica it includes the wait for the standby
 * to replay the primary's WAL up to the catch-up, told to the client in NOTICEs as it goes.
 */
import { describeBytes, type ReadReplica, type ReplayProgress } from '../engine/replica.js';
import { backend } from '../pg/backend-messages.js';
import { PgError } from '../pg/pg-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import type { RelationRead } from '../sql/statement-plan.js';
import type { MessageSink } from './message-sink.js';
import type { CaughtUp, SessionContext, StatementExecutor } from './statement-executor.js';

export interface TurnCatchUpServices {
  executor: StatementExecutor;
  /** The hot standby the session's backend runs on, when there is one. */
  replica: ReadReplica | undefined;
  /** Writes kinesql's own messages to the client (the catch-up's NOTICEs). */
  send: MessageSink;
  /** The wait for the replica's replay took this long. */
  onReplayWait: (seconds: number) => void;
}

export class TurnCatchUp {
  private running: AbortController | undefined;
  /** A controller that was never aborted is used again (making one per statement costs more than the check). */
  private unused: AbortController | undefined;

  constructor(private readonly services: TurnCatchUpServices) {}

  /** Is a catch-up under way (a cancel request stops it, not the engine's statement)? */
  get underWay(): boolean {
    return this.running !== undefined;
  }

  async run(relations: RelationRead[], context: SessionContext, statementTimeoutMs: number): Promise<CaughtUp> {
    const { executor, replica, send, onReplayWait } = this.services;
    const controller = this.unused ?? new AbortController();
    this.unused = undefined;
    this.running = controller;
    const timer =
      statementTimeoutMs > 0
        ? setTimeout(() => controller.abort(new PgError('canceling statement due to statement timeout', SQLSTATE.queryCanceled)), statementTimeoutMs)
        : undefined;
    try {
      const caughtUp = await executor.catchUp(relations, context, controller.signal, send);
      if (replica) {
        const waitStarted = performance.now();
        await replica.catchUpWithPrimary({ signal: controller.signal, onProgress: (progress) => this.reportReplay(progress) });
        onReplayWait((performance.now() - waitStarted) / 1000);
      }
      return caughtUp;
    } finally {
      if (timer) clearTimeout(timer);
      this.running = undefined;
      if (!controller.signal.aborted) this.unused = controller;
    }
  }

  /** Stops the catch-up under way, if there is one: it fails with `error`. */
  stop(error: PgError): void {
    this.running?.abort(error);
  }

  /** A NOTICE while the statement waits for the read replica to replay its catch-up, as the catch-up's own progress. */
  private reportReplay(progress: ReplayProgress): void {
    const behind = progress.behindBytes === undefined ? '' : `, ${describeBytes(progress.behindBytes)} behind the primary`;
    const message = `waiting for the read replica to replay the catch-up: ${(progress.waitedMs / 1000).toFixed(1)} s so far${behind}`;
    this.services.send(backend.notice({ severity: 'NOTICE', sqlstate: SQLSTATE.successfulCompletion, message })).catch(() => undefined);
  }
}
