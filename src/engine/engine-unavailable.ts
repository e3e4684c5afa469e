/**
 * kinesql's word for "the engine cannot be reached right now" (it restarts, crashed and recovers, fails over,
 * or kinesql is shutting down), and which errors of a connection to the engine mean exactly that.
 */
import { PgError } from '../pg/pg-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';

/**
 * The engine is not reachable. A FATAL PgError: the session's backend is on the engine, so a session that
 * meets it ends, as PostgreSQL's own sessions do when their server goes. The message is for clients: it
 * never names the engine's address or socket path; `reason` (for logs) may.
 */
export class EngineUnavailable extends PgError {
  constructor(
    message: string,
    sqlstate: string,
    /** What kinesql saw (the last connection error), for logs and /readyz. */
    readonly reason: string,
    detail?: string,
    options?: ErrorOptions,
  ) {
    super(message, sqlstate, { severity: 'FATAL', detail, cause: options?.cause });
  }
}

/** Socket errors that mean the server is not there (or no longer there) rather than that a statement failed. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ENOENT',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/** What node-postgres says when the connection under a client went away. */
const LOST_CONNECTION_MESSAGES = [
  'Connection terminated',
  'connection error and is not queryable',
  'Client was closed and is not queryable',
  'timeout expired',
  'Connection terminated due to connection timeout',
  // A client's backend login (backend-link.ts) cut short by a restart.
  'the engine closed the connection while logging in',
];

/**
 * Whether an error of a connection to the engine means the connection (and likely the server) is gone:
 * connection exceptions (class 08), the server shutting down, crashing or starting up (57P01–57P03), a
 * socket that is refused, reset or missing, or node-postgres's own report of a connection that ended.
 * An error the server answered with severity ERROR is none of these, whatever its SQLSTATE: a server ending
 * a connection says FATAL. A Citus coordinator answers so about a worker it cannot reach (08006, or the worker's
 * own 57P01 when the worker's server died under a query): the engine is there, and the statement merely failed.
 */
export function isConnectionLoss(error: unknown): boolean {
  if (error instanceof EngineUnavailable) return true;
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, severity } = error as { code?: unknown; message?: unknown; severity?: unknown };
  if (typeof code === 'string') {
    if (severity === 'ERROR') return false;
    if (code.startsWith('08') && code !== SQLSTATE.protocolViolation) return true;
    if (code === SQLSTATE.adminShutdown || code === SQLSTATE.crashShutdown || code === SQLSTATE.cannotConnectNow) return true;
    if (SOCKET_CODES.has(code)) return true;
  }
  if (typeof message === 'string' && LOST_CONNECTION_MESSAGES.some((text) => message.includes(text))) return true;
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined && cause !== error && isConnectionLoss(cause);
}
