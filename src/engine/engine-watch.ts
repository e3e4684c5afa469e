/**
 * Whether kinesql can reach its engine, kept by one idle connection of its own (the watch connection):
 * every restart, crash recovery or failover of the engine ends it, and a heartbeat finds a connection that
 * went silent. When it is lost, kinesql reconnects with backoff and, once the engine answers again, tells
 * the restart listeners before anything else of its own reaches the engine.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { SQLSTATE } from '../pg/sqlstate.js';
import { EngineUnavailable } from './engine-unavailable.js';

/** What a restart listener hears: why kinesql's connections were lost, and for how long the engine was away. */
export interface EngineRestart {
  /** The first error that showed the connections were lost. */
  reason: string;
  /** From the loss until the engine answered again. */
  downMs: number;
}

export type RestartListener = (restart: EngineRestart) => void;

export interface EngineWatchOptions {
  /** How the watch connection logs in (the administrator's pool settings). */
  connection: pg.ClientConfig;
  /** The engine is a hot standby (a read replica): it must be in recovery, where a primary must not be. */
  standby: boolean;
  /** Called once the engine answers again, before the restart listeners: the engine replaces its pool. */
  onReconnected: () => void;
  logger: Logger;
}

/** Reconnect attempts: the first at once, then after 100 ms, doubling up to 2 s between attempts. */
const FIRST_RETRY_MS = 100;
const LONGEST_RETRY_MS = 2_000;
/** A foreground attempt (a client logging in while the engine is away) at most this often. */
const FOREGROUND_RETRY_MS = 100;
const CONNECT_TIMEOUT_MS = 5_000;
/** The watch connection is asked `SELECT 1` this often; no answer within the timeout counts as a loss. */
const HEARTBEAT_MS = 5_000;
const HEARTBEAT_TIMEOUT_MS = 10_000;

interface Outage {
  since: number;
  /** The first error, reported to listeners. */
  cause: string;
  /** The last attempt's error, reported by /readyz. */
  last: string;
  attempts: number;
}

const describe = (error: unknown): string => (error instanceof Error ? error.message || error.name : String(error));

export class EngineWatch {
  private watcher: pg.Client | undefined;
  private outage: Outage | undefined;
  private attempt: Promise<boolean> | undefined;
  private lastAttemptEnded = 0;
  private closed = false;
  private wake: (() => void) | undefined;
  private reconnecting = false;
  private readonly listeners = new Set<RestartListener>();
  private readonly heartbeat: NodeJS.Timeout;
  private heartbeatRunning = false;

  constructor(private readonly options: EngineWatchOptions) {
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Opens the watch connection; fails when the engine cannot be reached (kinesql then does not start). */
  async start(): Promise<void> {
    try {
      await this.openWatcher();
    } catch (error) {
      this.close();
      throw error;
    }
  }

  onRestart(listener: RestartListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Why the engine cannot be reached now, with since when; undefined while it can. */
  get problem(): string | undefined {
    if (this.closed) return 'kinesql is shutting down';
    const outage = this.outage;
    if (!outage) return undefined;
    const seconds = ((performance.now() - outage.since) / 1000).toFixed(1);
    return `unreachable for ${seconds} s, reconnecting (${outage.attempts} attempts so far): ${outage.last}`;
  }

  /** A connection to the engine was lost: unless that is known already, kinesql starts reconnecting. */
  lost(error: unknown): void {
    if (this.closed || this.outage) return;
    const cause = describe(error);
    this.outage = { since: performance.now(), cause, last: cause, attempts: 0 };
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher) this.discard(watcher);
    this.options.logger.warn({ reason: cause }, 'engine connection lost; reconnecting');
    if (this.reconnecting) this.wake?.();
    else void this.reconnect();
  }

  /**
   * Resolves when the engine can be used: at once while it is reachable. While it is not, one attempt to
   * reach it is made now (shared with any other caller's, at most one per 100 ms) and, when that fails,
   * this rejects with EngineUnavailable (57P03).
   */
  async available(): Promise<void> {
    if (this.closed) throw this.shuttingDown();
    if (!this.outage) return;
    if (this.attempt) await this.attempt;
    else if (performance.now() - this.lastAttemptEnded >= FOREGROUND_RETRY_MS) await this.tryNow();
    if (this.closed) throw this.shuttingDown();
    if (this.outage) throw this.unavailable();
  }

  /** The error for a client while the engine is away: no address or socket path in it. */
  unavailable(cause?: unknown): EngineUnavailable {
    const outage = this.outage;
    const seconds = outage ? Math.max(0, Math.round((performance.now() - outage.since) / 1000)) : 0;
    const what = this.options.standby ? 'the read replica' : 'the database engine';
    return new EngineUnavailable(
      `${what} is unavailable: kinesql is reconnecting to it`,
      SQLSTATE.cannotConnectNow,
      outage?.last ?? describe(cause),
      `kinesql lost its connection to ${what} ${seconds} s ago (it restarted, failed over or cannot be reached); try again in a few seconds`,
      cause === undefined ? undefined : { cause },
    );
  }

  shuttingDown(): EngineUnavailable {
    return new EngineUnavailable('terminating connection because kinesql is shutting down', SQLSTATE.adminShutdown, 'kinesql is shutting down');
  }

  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    this.wake?.();
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher) this.discard(watcher);
  }

  /** One loop of attempts while the engine is away; a new outage during its pause starts it over at once. */
  private async reconnect(): Promise<void> {
    this.reconnecting = true;
    try {
      let outage = this.outage;
      let delay = FIRST_RETRY_MS;
      while (this.outage && !this.closed) {
        if (this.outage !== outage) {
          outage = this.outage;
          delay = FIRST_RETRY_MS;
        }
        if (await this.tryNow()) continue;
        const current = this.outage as Outage | undefined;
        if (!current || this.closed) return;
        this.options.logger.info({ attempt: current.attempts, retryInMs: delay, reason: current.last }, 'engine still unreachable');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        delay = Math.min(delay * 2, LONGEST_RETRY_MS);
      }
    } finally {
      this.reconnecting = false;
    }
  }

  /** One attempt to open the watch connection again; true when the engine is back. */
  private tryNow(): Promise<boolean> {
    this.attempt ??= this.openWatcher()
      .then(
        () => {
          this.restored();
          return true;
        },
        (error: unknown) => {
          if (this.outage) {
            this.outage.attempts += 1;
            this.outage.last = describe(error);
          }
          return false;
        },
      )
      .finally(() => {
        this.attempt = undefined;
        this.lastAttemptEnded = performance.now();
      });
    return this.attempt;
  }

  private restored(): void {
    const outage = this.outage;
    if (!outage || this.closed) return;
    this.outage = undefined;
    const restart: EngineRestart = { reason: outage.cause, downMs: Math.round(performance.now() - outage.since) };
    this.options.logger.info({ downMs: restart.downMs, attempts: outage.attempts + 1, reason: restart.reason }, 'engine connections restored');
    this.options.onReconnected();
    for (const listener of this.listeners) {
      try {
        listener(restart);
      } catch (error) {
        this.options.logger.error({ err: error }, 'engine restart listener failed');
      }
    }
  }

  private async openWatcher(): Promise<void> {
    const client = new pg.Client({
      ...this.options.connection,
      keepAlive: true,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      application_name: 'kinesql watch',
    });
    client.on('error', (error) => {
      if (this.watcher === client) this.lost(error);
    });
    client.on('end', () => {
      if (this.watcher === client) this.lost(new Error('the engine closed the connection'));
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ recovering: boolean }>('SELECT pg_is_in_recovery() AS recovering');
      const recovering = rows[0]?.recovering === true;
      if (recovering !== this.options.standby) {
        throw new Error(
          recovering
            ? 'the engine is in recovery (a standby, not yet promoted): kinesql cannot write there'
            : 'kinesql.engine-read-url is not a hot standby (pg_is_in_recovery() is false there): it was promoted, or it names a primary; name a streaming standby of kinesql.engine-url',
        );
      }
    } catch (error) {
      this.discard(client);
      throw error;
    }
    if (this.closed) {
      this.discard(client);
      throw this.shuttingDown();
    }
    this.watcher = client;
  }

  /** Asks the watch connection `SELECT 1`: a connection that does not answer in time is lost. */
  private async beat(): Promise<void> {
    const client = this.watcher;
    if (!client || this.heartbeatRunning) return;
    this.heartbeatRunning = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      const silent = new Promise<'silent'>((resolve) => {
        timer = setTimeout(() => resolve('silent'), HEARTBEAT_TIMEOUT_MS);
      });
      const answer = await Promise.race([client.query('SELECT 1').then(() => 'answered' as const), silent]);
      if (answer === 'silent' && this.watcher === client) this.lost(new Error(`the engine did not answer within ${HEARTBEAT_TIMEOUT_MS} ms`));
    } catch (error) {
      if (this.watcher === client) this.lost(error);
    } finally {
      clearTimeout(timer);
      this.heartbeatRunning = false;
    }
  }

  /** Drops a connection without waiting for the engine to acknowledge (it may be gone or silent). */
  private discard(client: pg.Client): void {
    client.on('error', () => undefined);
    client.connection.stream.destroy();
    void client.end().catch(() => undefined);
  }
}
