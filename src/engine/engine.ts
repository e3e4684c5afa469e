import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { Logger } from 'pino';
import { cancelBackend, EngineLoginError, openBackend, type BackendLink, type EngineAddress } from './backend-link.js';
import { EngineUnavailable, isConnectionLoss } from './engine-unavailable.js';
import { EngineWatch, type RestartListener } from './engine-watch.js';

export type { EngineRestart, RestartListener } from './engine-watch.js';
export { EngineUnavailable } from './engine-unavailable.js';

/** How to reach the engine as its administrator (the role kinesql owns its tables as). */
export interface EngineEndpoint extends EngineAddress {
  user: string;
  password: string;
}

export interface QueryResult {
  rows: Record<string, unknown>[];
  affectedRows: number;
}

/** One connection of kinesql's own, inside a transaction (Engine.transaction). */
export interface EngineTransaction {
  query(sql: string, params?: unknown[]): Promise<QueryResult>;
  /**
   * Several statements (no parameters) in one round trip, the transaction's BEGIN with them when it has not
   * been sent yet; one result per statement. The first that fails stops the rest and fails the transaction.
   */
  queries(sql: string): Promise<QueryResult[]>;
  /** Runs `COPY … FROM STDIN` with data (one buffer, or chunks written in turn) as the input; returns the number of rows copied. */
  copyFrom(sql: string, data: Buffer | readonly Buffer[]): Promise<number>;
  /** Runs sql (no parameters) in the round trip of the COMMIT, after fn returned: if it fails, nothing commits. */
  atCommit(sql: string): void;
}

/** A connection checked out of the pool: whether it must be closed instead of returned, and why it was lost. */
interface HeldConnection extends EngineTransaction {
  broken: boolean;
  lost: unknown;
}

/** PostgreSQL 14 is the oldest engine kinesql supports. */
const OLDEST_ENGINE = 140000;

export interface EngineOptions {
  /** Connections kinesql keeps for its own work. */
  poolSize?: number;
  /** The engine is a hot standby (a read replica), which must stay in recovery. */
  standby?: boolean;
}

/**
 * The engine: a PostgreSQL server reached over the PostgreSQL protocol. kinesql's own work (DDL, loading,
 * status tables) runs on a small pool of administrator connections; every client session gets a backend
 * of its own (openBackend), logged in as the client's engine role.
 *
 * The engine may restart, crash and recover, or fail over behind its URL. kinesql notices (engine-watch.ts),
 * answers what needs the engine meanwhile with EngineUnavailable (57P03), reconnects with backoff and then
 * calls the restart listeners (onRestart).
 */
export class Engine {
  private pool: pg.Pool;
  private closed = false;
  private readonly watch: EngineWatch;
  private readonly doubtListeners: ((cause: string) => void)[] = [];
  serverVersion = '';
  serverVersionNum = 0;

  private constructor(
    readonly endpoint: EngineEndpoint,
    private readonly logger: Logger,
    private readonly poolSize: number,
    standby: boolean,
  ) {
    this.pool = this.createPool();
    this.watch = new EngineWatch({
      connection: this.connectionConfig(),
      standby,
      logger,
      onReconnected: () => {
        // Connections of the pool may still point at the server that went away (a failover leaves them silent).
        const old = this.pool;
        this.pool = this.createPool();
        old.end().catch(() => undefined);
      },
    });
    this.watch.onRestart((restart) => this.reportRestart(restart.reason));
  }

  /**
   * Calls `listener` whenever the engine may have lost work it had acknowledged: after every restart the
   * watch sees (onRestart), and when a commit failed, a connection was lost inside a transaction, or the
   * embedded engine was started again (reportRestart). What kinesql believes the engine holds (shard
   * positions) must then be read from the engine again.
   */
  onDoubt(listener: (cause: string) => void): void {
    this.doubtListeners.push(listener);
  }

  /** Tells the onDoubt listeners why what kinesql believes the engine holds must be read again. */
  reportRestart(cause: string): void {
    for (const listener of this.doubtListeners) {
      try {
        listener(cause);
      } catch (error) {
        this.logger.error({ err: error }, 'engine doubt listener failed');
      }
    }
  }

  static async connect(endpoint: EngineEndpoint, logger: Logger, options: EngineOptions = {}): Promise<Engine> {
    const engine = new Engine(endpoint, logger, options.poolSize ?? 8, options.standby ?? false);
    try {
      await engine.watch.start();
      const { rows } = await engine.query(`SELECT current_setting('server_version') AS version, current_setting('server_version_num')::int AS num`);
      engine.serverVersion = String(rows[0]?.['version']);
      engine.serverVersionNum = Number(rows[0]?.['num']);
    } catch (error) {
      await engine.close().catch(() => undefined);
      throw error;
    }
    if (engine.serverVersionNum < OLDEST_ENGINE) {
      await engine.close();
      throw new Error(`the engine is PostgreSQL ${engine.serverVersion}; kinesql needs PostgreSQL 14 or newer`);
    }
    return engine;
  }

  /**
   * Calls `listener` each time kinesql's connections to the engine are back after they were lost: the
   * engine restarted, crashed and recovered, failed over, or an administrator connection of kinesql's was
   * ended. What kinesql keeps in memory about what the engine holds (shard positions) may then be behind
   * or ahead of the engine and must be read again.
   *
   * Listeners run synchronously, in the order added, at the moment the engine is marked reachable again:
   * before any later query of kinesql's own is let through (while the engine is away, every query, login
   * and transaction fails with EngineUnavailable). A listener that needs the engine starts that work itself.
   * Returns a function that removes the listener.
   */
  onRestart(listener: RestartListener): () => void {
    return this.watch.onRestart(listener);
  }

  /** Why kinesql cannot reach the engine right now (for /readyz), or undefined while it can. */
  get unavailableReason(): string | undefined {
    return this.watch.problem;
  }

  async query(sql: string, params: unknown[] = []): Promise<QueryResult> {
    const pool = await this.usablePool();
    try {
      const result = await pool.query(sql, params);
      return { rows: result.rows as Record<string, unknown>[], affectedRows: result.rowCount ?? 0 };
    } catch (error) {
      throw this.failure(error, pool);
    }
  }

  async exec(sql: string): Promise<void> {
    await this.query(sql);
  }

  /**
   * Runs fn inside one transaction on one connection: everything it does commits together or not at all.
   * With lockTimeoutMs, a statement that waits longer than that for a lock fails with 55P03. With
   * asynchronousCommit, COMMIT does not wait for the WAL to reach the disk: a crash may lose the last
   * moments of such transactions, whole, never half of one. A connection lost on the way (even during the
   * COMMIT, whose outcome is then unknown) fails it with EngineUnavailable.
   */
  async transaction<T>(fn: (tx: EngineTransaction) => Promise<T>, options: { lockTimeoutMs?: number; asynchronousCommit?: boolean } = {}): Promise<T> {
    return this.withConnection(async (client, connection) => {
      let committing = false;
      // BEGIN and the SET LOCALs go with the transaction's first statements when those can go in one round trip.
      const opening = ['BEGIN'];
      if (options.lockTimeoutMs !== undefined) opening.push(`SET LOCAL lock_timeout = '${Math.round(options.lockTimeoutMs)}ms'`);
      if (options.asynchronousCommit) opening.push('SET LOCAL synchronous_commit = off');
      let begun = false;
      const begin = async (): Promise<void> => {
        if (begun) return;
        begun = true;
        await connection.queries(opening.join('; '));
      };
      const atCommit: string[] = [];
      try {
        const result = await fn({
          query: async (sql, params) => {
            await begin();
            return connection.query(sql, params);
          },
          queries: async (sql) => {
            if (begun) return connection.queries(sql);
            begun = true;
            return (await connection.queries([...opening, sql].join('; '))).slice(opening.length);
          },
          copyFrom: async (sql, data) => {
            await begin();
            return connection.copyFrom(sql, data);
          },
          atCommit: (sql) => void atCommit.push(sql),
        });
        committing = true;
        if (begun || atCommit.length > 0) await connection.queries([...(begun ? [] : opening), ...atCommit, 'COMMIT'].join('; '));
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {
          connection.broken = true;
        });
        if (committing || connection.lost !== undefined) this.reportRestart(committing ? 'a commit failed' : 'an engine connection was lost in a transaction');
        throw error;
      }
    });
  }

  /**
   * Runs fn on one connection of its own outside any transaction block, for the statements PostgreSQL refuses
   * inside one (`DETACH PARTITION … CONCURRENTLY`). Whatever fn sets on the session (settings, advisory locks)
   * goes with the connection, which is closed afterwards rather than returned to the pool.
   */
  async outsideTransaction<T>(fn: (connection: EngineTransaction) => Promise<T>): Promise<T> {
    return this.withConnection(async (_client, connection) => {
      connection.broken = true;
      return fn(connection);
    });
  }

  /** Checks a connection out of the pool for fn; a connection lost on the way fails it with EngineUnavailable. */
  private async withConnection<T>(fn: (client: pg.PoolClient, connection: HeldConnection) => Promise<T>): Promise<T> {
    const pool = await this.usablePool();
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw this.failure(error, pool);
    }
    const connection: HeldConnection = {
      broken: false,
      lost: undefined,
      query: async (sql, params = []) => {
        const answer = await client.query(sql, params);
        return { rows: answer.rows as Record<string, unknown>[], affectedRows: answer.rowCount ?? 0 };
      },
      queries: async (sql) => {
        const answer: pg.QueryResult | pg.QueryResult[] = await client.query(sql);
        return (Array.isArray(answer) ? answer : [answer]).map((one) => ({ rows: one.rows as Record<string, unknown>[], affectedRows: one.rowCount ?? 0 }));
      },
      copyFrom: async (sql, data) => {
        const stream = client.query(copyFromStdin(sql));
        await pipeline(Readable.from(Buffer.isBuffer(data) ? [data] : data), stream);
        return stream.rowCount;
      },
      atCommit: () => {
        throw new Error('atCommit outside a transaction: there is no COMMIT to run it with');
      },
    };
    // A checked-out connection has no error listener of the pool's: one the engine ends would take the process down.
    const onError = (error: Error): void => {
      if (connection.lost === undefined) this.logger.warn({ err: error }, 'engine connection lost while kinesql held it');
      connection.lost ??= error;
    };
    client.on('error', onError);
    try {
      return await fn(client, connection);
    } catch (error) {
      throw this.failure(connection.lost ?? error, pool);
    } finally {
      client.off('error', onError);
      client.release(connection.broken || connection.lost !== undefined);
    }
  }

  /** A backend of its own for a client session, logged in as `user`. */
  async openBackend(user: string, password: string, parameters: readonly (readonly [string, string])[]): Promise<BackendLink> {
    await this.watch.available();
    try {
      return await openBackend({ address: this.endpoint, user, password, parameters });
    } catch (error) {
      if (!isConnectionLoss(error)) throw error;
      this.watch.lost(error);
      // The engine's own refusal while it starts up (57P03 …) says it best; a socket error would name paths.
      if (error instanceof EngineLoginError) throw error;
      throw this.watch.unavailable(error);
    }
  }

  /** Forwards a cancel to the backend (processId, secretKey). */
  cancel(processId: number, secretKey: number): Promise<void> {
    return cancelBackend(this.endpoint, processId, secretKey);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watch.close();
    await this.pool.end();
  }

  private async usablePool(): Promise<pg.Pool> {
    if (this.closed) throw this.watch.shuttingDown();
    await this.watch.available();
    // The engine may have been closed while the attempt to reach it ran.
    if (this.closed) throw this.watch.shuttingDown();
    return this.pool;
  }

  /** The error to throw for one of kinesql's own queries: a lost connection becomes EngineUnavailable. */
  private failure(error: unknown, pool: pg.Pool): unknown {
    if (error instanceof EngineUnavailable) return error;
    if (this.closed) return this.watch.shuttingDown();
    if (!isConnectionLoss(error)) return error;
    // A connection of a pool replaced since (the engine came back meanwhile) says nothing about the engine now.
    if (pool === this.pool) this.watch.lost(error);
    return this.watch.unavailable(error);
  }

  private connectionConfig(): pg.ClientConfig {
    const { endpoint } = this;
    const tcp = !endpoint.host.startsWith('/');
    return {
      host: endpoint.host,
      port: endpoint.port,
      database: endpoint.database,
      user: endpoint.user,
      password: endpoint.password,
      application_name: 'kinesql',
      ...(tcp && endpoint.sslmode && endpoint.sslmode !== 'disable' ? { ssl: { rejectUnauthorized: endpoint.sslmode === 'verify-full' } } : {}),
    };
  }

  private createPool(): pg.Pool {
    const pool = new pg.Pool({ ...this.connectionConfig(), max: this.poolSize, keepAlive: true });
    // An idle pooled connection that the engine drops (restart, crash, admin kill) must not take the process down.
    pool.on('error', (error) => {
      if (pool !== this.pool || this.closed) return;
      this.logger.warn({ err: error }, 'idle engine connection lost');
      if (isConnectionLoss(error)) this.watch.lost(error);
    });
    return pool;
  }
}

/** Reads a `postgresql://user:password@host:port/database?sslmode=…` URL (the setting `key`) into an endpoint. */
export function endpointFromUrl(url: string, key = 'kinesql.engine-url'): EngineEndpoint {
  let parsed: URL;
  try {
    // libpq's form with no host before the path (`user:pw@/db?host=/run/sock`) is not a WHATWG URL.
    parsed = new URL(url.replace(/^(postgres(?:ql)?:\/\/[^/@]*@)\//, '$1localhost/'));
  } catch {
    throw new Error(`${key} is not a URL (expected postgresql://user:password@host:port/database)`);
  }
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    throw new Error(`${key} must start with postgresql:// (got ${parsed.protocol}//)`);
  }
  const hostParameter = parsed.searchParams.get('host');
  const sslmode = parsed.searchParams.get('sslmode') ?? 'disable';
  if (!['disable', 'prefer', 'require', 'verify-full'].includes(sslmode)) {
    throw new Error(`${key}: sslmode=${sslmode} is not supported (disable, prefer, require, verify-full)`);
  }
  const user = decodeURIComponent(parsed.username);
  if (user === '') throw new Error(`${key} must name a user (postgresql://user:password@host/database)`);
  return {
    host: hostParameter ?? (decodeURIComponent(parsed.hostname) || 'localhost'),
    port: parsed.port === '' ? 5432 : Number(parsed.port),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || user,
    user,
    password: decodeURIComponent(parsed.password),
    sslmode: sslmode as EngineEndpoint['sslmode'] & string,
  };
}
