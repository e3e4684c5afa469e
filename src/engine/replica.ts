/**
 * A hot standby of the engine (kinesql.engine-read-url) where client sessions run, while everything kinesql
 * writes goes to the primary. Before a session uses what the primary holds, it waits here until the
 * standby has replayed the primary's WAL up to where the primary was (PrimaryPosition): a statement on the
 * standby then sees at least what the same statement on the primary would have seen.
 */
import type { Logger } from 'pino';
import { PgError } from '../pg/pg-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import { EngineLoginError, type BackendLink } from './backend-link.js';
import { Engine, EngineUnavailable, type EngineEndpoint } from './engine.js';
import { formatLsn, parseLsn, PrimaryPosition } from './wal-position.js';

/** The standby cannot serve what a session needs: unreachable, promoted, or too far behind. */
export class ReplicaError extends PgError {}

export interface ReplayProgress {
  waitedMs: number;
  /** How much WAL the standby still has to replay; undefined before its position is known. */
  behindBytes: bigint | undefined;
}

export interface ReplicaOptions {
  /** The longest a session waits for replay before its statement fails (kinesql.engine-read-max-wait). */
  maxWaitMs: number;
}

/** A wait is reported once it is longer than this, then every REPORT_EVERY_MS. */
const REPORT_AFTER_MS = 100;
const REPORT_EVERY_MS = 3_000;
/** Polling the standby's replay position: quickly at first, backing off while it does not move. */
const FIRST_POLL_PAUSE_MS = 1;
const LONGEST_POLL_PAUSE_MS = 25;
/** The standby's own connections: the replay polls, and the odd check. */
const STANDBY_CONNECTIONS = 2;

interface Waiter {
  target: bigint;
  /** Polls started before the waiter came: only a later one may release it. */
  pollsBefore: number;
  finish(error?: Error): void;
}

export class ReadReplica {
  /** The standby's replay position as last read; 0 when unknown. */
  private replayed = 0n;
  private readonly waiters = new Set<Waiter>();
  private polling = false;
  private pollsStarted = 0;
  /** Ends the polling loop's pause early (a new waiter came). */
  private wake: (() => void) | undefined;

  private constructor(
    private readonly standby: Engine,
    private readonly primaryPosition: PrimaryPosition,
    private readonly options: ReplicaOptions,
    private readonly logger: Logger,
  ) {}

  /** Connects to the standby and checks that it is one, of this primary. */
  static async connect(endpoint: EngineEndpoint, primary: Engine, options: ReplicaOptions, logger: Logger): Promise<ReadReplica> {
    // The engine checks that the standby is in recovery, on every (re)connection.
    const standby = await Engine.connect(endpoint, logger, { poolSize: STANDBY_CONNECTIONS, standby: true });
    try {
      const [ours, theirs] = await Promise.all([systemIdentifier(primary), systemIdentifier(standby)]);
      if (ours !== undefined && theirs !== undefined && ours !== theirs) {
        throw new Error(`kinesql.engine-read-url is a standby of another server (system identifier ${theirs}; the primary's is ${ours})`);
      }
    } catch (error) {
      await standby.close();
      throw error;
    }
    return new ReadReplica(standby, new PrimaryPosition(primary), options, logger);
  }

  get endpoint(): EngineEndpoint {
    return this.standby.endpoint;
  }

  /** What keeps the standby from serving sessions (unreachable, promoted), for /readyz; undefined when nothing does. */
  async problem(): Promise<string | undefined> {
    try {
      await this.readReplayed();
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /** Sessions waiting for replay right now. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** A client session's backend, on the standby. */
  async openBackend(user: string, password: string, parameters: readonly (readonly [string, string])[]): Promise<BackendLink> {
    try {
      return await this.standby.openBackend(user, password, parameters);
    } catch (error) {
      if (error instanceof EngineLoginError || error instanceof EngineUnavailable) throw error;
      throw new ReplicaError(`the read replica (${this.where()}) cannot be reached: ${(error as Error).message}`, SQLSTATE.unableToEstablishConnection);
    }
  }

  cancel(processId: number, secretKey: number): Promise<void> {
    return this.standby.cancel(processId, secretKey);
  }

  /**
   * Waits until the standby has replayed every commit the primary had finished when this was called (the
   * catch-up a statement needed, a client role just created). `signal` ends the wait with its reason;
   * `onProgress` hears of a wait longer than 100 ms, then every few seconds.
   */
  async catchUpWithPrimary(options: { signal?: AbortSignal; onProgress?: (progress: ReplayProgress) => void } = {}): Promise<void> {
    let target: bigint;
    try {
      target = await this.primaryPosition.read();
    } catch (error) {
      if (error instanceof EngineUnavailable) throw new ReplicaError(error.message, error.sqlstate);
      throw new ReplicaError(`the engine's primary did not tell its WAL position: ${(error as Error).message}`, SQLSTATE.connectionFailure);
    }
    options.signal?.throwIfAborted();
    await this.replayedTo(target, options.signal, options.onProgress);
  }

  private replayedTo(target: bigint, signal: AbortSignal | undefined, onProgress: ((progress: ReplayProgress) => void) | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const behind = (): bigint | undefined => (this.replayed > 0n ? target - this.replayed : undefined);
      let report: NodeJS.Timeout | undefined;
      const reportLater = (delayMs: number): void => {
        report = setTimeout(() => {
          onProgress?.({ waitedMs: performance.now() - started, behindBytes: behind() });
          reportLater(REPORT_EVERY_MS);
        }, delayMs);
      };
      const deadline = setTimeout(() => {
        const lag = behind();
        this.logger.warn({ target: formatLsn(target), replayed: formatLsn(this.replayed) }, 'read replica did not replay in time');
        waiter.finish(
          new ReplicaError(
            `canceling statement: the read replica (${this.where()}) did not replay the primary's changes within ${this.options.maxWaitMs} ms ` +
              `(kinesql.engine-read-max-wait)${lag === undefined ? '' : `; it is ${describeBytes(lag)} behind`}`,
            SQLSTATE.queryCanceled,
          ),
        );
      }, this.options.maxWaitMs);
      const onAbort = (): void => waiter.finish(signal?.reason as Error);
      const waiter: Waiter = {
        target,
        pollsBefore: this.pollsStarted,
        finish: (error) => {
          if (!this.waiters.delete(waiter)) return;
          clearTimeout(deadline);
          clearTimeout(report);
          signal?.removeEventListener('abort', onAbort);
          if (error) reject(error);
          else resolve();
        },
      };
      this.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (onProgress) reportLater(REPORT_AFTER_MS);
      this.wake?.();
      void this.poll();
    });
  }

  /**
   * One loop reads the standby's replay position for every waiting session, until none waits. A waiter is
   * released only by a reading taken after it came: a standby restarted meanwhile may have gone back to an
   * earlier position, so no earlier reading is trusted for it.
   */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    let pauseMs = FIRST_POLL_PAUSE_MS;
    try {
      while (this.waiters.size > 0) {
        const poll = ++this.pollsStarted;
        let replayed: bigint;
        try {
          replayed = await this.readReplayed();
        } catch (error) {
          this.replayed = 0n;
          const failure =
            error instanceof ReplicaError
              ? error
              : error instanceof EngineUnavailable
                ? new ReplicaError(error.message, error.sqlstate)
                : new ReplicaError(`the read replica (${this.where()}) cannot be reached: ${(error as Error).message}`, SQLSTATE.connectionFailure);
          this.logger.warn({ err: error }, 'read replica replay position not read');
          for (const waiter of [...this.waiters]) waiter.finish(failure);
          return;
        }
        pauseMs = replayed > this.replayed ? FIRST_POLL_PAUSE_MS : Math.min(pauseMs * 2, LONGEST_POLL_PAUSE_MS);
        this.replayed = replayed;
        for (const waiter of [...this.waiters]) if (waiter.pollsBefore < poll && waiter.target <= replayed) waiter.finish();
        if (this.waiters.size === 0) break;
        if ([...this.waiters].some((waiter) => waiter.pollsBefore >= poll)) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pauseMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    } finally {
      this.polling = false;
    }
  }

  /** The standby's replay position; a connection lost (a standby restarted) is retried once. */
  private async readReplayed(): Promise<bigint> {
    const read = () => this.standby.query('SELECT pg_last_wal_replay_lsn()::text AS replayed');
    const { rows } = await read().catch(() => read());
    const replayed = rows[0]?.['replayed'];
    if (replayed === null || replayed === undefined) {
      throw new ReplicaError(
        `the read replica (${this.where()}) is no longer a standby (it was promoted): it no longer receives what kinesql loads`,
        SQLSTATE.objectNotInPrerequisiteState,
      );
    }
    return parseLsn(String(replayed));
  }

  private where(): string {
    const { host, port } = this.standby.endpoint;
    return `${host}:${port}`;
  }

  close(): Promise<void> {
    for (const waiter of [...this.waiters]) waiter.finish(new ReplicaError('kinesql is shutting down', SQLSTATE.adminShutdown));
    return this.standby.close();
  }
}

async function systemIdentifier(engine: Engine): Promise<string | undefined> {
  // pg_control_system() may be revoked from the administrator; then the check is skipped.
  return engine.query('SELECT system_identifier::text AS id FROM pg_control_system()').then(
    ({ rows }) => String(rows[0]?.['id']),
    () => undefined,
  );
}

/** WAL amounts as a person reads them. */
export function describeBytes(bytes: bigint): string {
  const value = Number(bytes);
  if (value < 1024) return `${value} bytes`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} kB`;
  return `${(value / (1024 * 1024)).toFixed(1)} MB`;
}
