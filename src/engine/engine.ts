import { once } from 'node:events';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { Logger } from 'pino';
import { cancelBackend, openBackend, type BackendLink, type EngineAddress } from './backend-link.js';

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
  /** Runs `COPY … FROM STDIN` with data as the input; returns the number of rows copied. */
  copyFrom(sql: string, data: Buffer): Promise<number>;
}

/** PostgreSQL 14 is the oldest engine kinesql supports. */
const OLDEST_ENGINE = 140000;

/**
 * The engine: a PostgreSQL server reached over the PostgreSQL protocol. kinesql's own work (DDL, loading,
 * status tables) runs on a small pool of administrator connections; every client session gets a backend
 * of its own (openBackend), logged in as the client's engine role.
 */
export class Engine {
  private readonly pool: pg.Pool;
  private closed = false;
  private readonly restartListeners: ((cause: string) => void)[] = [];
  serverVersion = '';
  serverVersionNum = 0;

  private constructor(
    readonly endpoint: EngineEndpoint,
    private readonly logger: Logger,
    poolSize: number,
  ) {
    const tcp = !endpoint.host.startsWith('/');
    this.pool = new pg.Pool({
      host: endpoint.host,
      port: endpoint.port,
      database: endpoint.database,
      user: endpoint.user,
      password: endpoint.password,
      max: poolSize,
      application_name: 'kinesql',
      ...(tcp && endpoint.sslmode && endpoint.sslmode !== 'disable' ? { ssl: { rejectUnauthorized: endpoint.sslmode === 'verify-full' } } : {}),
    });
    // An idle pooled connection that the engine drops (restart, admin kill) must not take the process down.
    this.pool.on('error', (error) => {
      this.logger.warn({ err: error }, 'engine connection lost');
      this.reportRestart('an engine connection was lost');
    });
  }

  /**
   * Calls listener whenever the engine may have lost work it had acknowledged: it was started again or
   * reconnected, one of kinesql's connections was lost, or a commit failed. What kinesql believes the
   * engine holds (shard positions) must then be read from the engine again.
   */
  onRestart(listener: (cause: string) => void): void {
    this.restartListeners.push(listener);
  }

  /** Tells every onRestart listener why the engine's state must be read again. */
  reportRestart(cause: string): void {
    for (const listener of this.restartListeners) {
      try {
        listener(cause);
      } catch (error) {
        this.logger.error({ err: error }, 'engine restart listener failed');
      }
    }
  }

  static async connect(endpoint: EngineEndpoint, logger: Logger, poolSize = 8): Promise<Engine> {
    const engine = new Engine(endpoint, logger, poolSize);
    try {
      const { rows } = await engine.query(`SELECT current_setting('server_version') AS version, current_setting('server_version_num')::int AS num`);
      engine.serverVersion = String(rows[0]?.['version']);
      engine.serverVersionNum = Number(rows[0]?.['num']);
    } catch (error) {
      await engine.pool.end().catch(() => undefined);
      throw error;
    }
    if (engine.serverVersionNum < OLDEST_ENGINE) {
      await engine.pool.end();
      throw new Error(`the engine is PostgreSQL ${engine.serverVersion}; kinesql needs PostgreSQL 14 or newer`);
    }
    return engine;
  }

  async query(sql: string, params: unknown[] = []): Promise<QueryResult> {
    const result = await this.pool.query(sql, params);
    return { rows: result.rows as Record<string, unknown>[], affectedRows: result.rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  /**
   * Runs fn inside one transaction on one connection: everything it does commits together or not at all.
   * With lockTimeoutMs, a statement that waits longer than that for a lock fails with 55P03. With
   * asynchronousCommit, COMMIT does not wait for the WAL to reach the disk: a crash may lose the last
   * moments of such transactions, whole, never half of one.
   */
  async transaction<T>(fn: (tx: EngineTransaction) => Promise<T>, options: { lockTimeoutMs?: number; asynchronousCommit?: boolean } = {}): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    let committing = false;
    // A connection the engine drops mid-transaction fails the statement under way; its 'error' event must not end the process.
    const lost = (error: Error): void => {
      broken = true;
      this.logger.warn({ err: error }, 'engine connection lost in a transaction');
    };
    client.on('error', lost);
    try {
      await client.query('BEGIN');
      if (options.lockTimeoutMs !== undefined) await client.query(`SET LOCAL lock_timeout = '${Math.round(options.lockTimeoutMs)}ms'`);
      if (options.asynchronousCommit) await client.query('SET LOCAL synchronous_commit = off');
      const result = await fn({
        query: async (sql, params = []) => {
          const answer = await client.query(sql, params);
          return { rows: answer.rows as Record<string, unknown>[], affectedRows: answer.rowCount ?? 0 };
        },
        copyFrom: async (sql, data) => {
          const stream = client.query(copyFromStdin(sql));
          stream.end(data);
          await once(stream, 'finish');
          return stream.rowCount;
        },
      });
      committing = true;
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      if (committing || broken) this.reportRestart(committing ? 'a commit failed' : 'an engine connection was lost in a transaction');
      throw error;
    } finally {
      client.removeListener('error', lost);
      client.release(broken);
    }
  }

  /** A backend of its own for a client session, logged in as `user`. */
  openBackend(user: string, password: string, parameters: readonly (readonly [string, string])[]): Promise<BackendLink> {
    if (this.closed) return Promise.reject(new Error('engine is closed'));
    return openBackend({ address: this.endpoint, user, password, parameters });
  }

  /** Forwards a cancel to the backend (processId, secretKey). */
  cancel(processId: number, secretKey: number): Promise<void> {
    return cancelBackend(this.endpoint, processId, secretKey);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
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
