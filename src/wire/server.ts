import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { SQLSTATE } from '../pg/sqlstate.js';
import { ConnectionSlots, type ConnectionLimits } from './connection-slots.js';
import { listenTcp } from '../http/listen.js';
import { Session, type SessionServices, type SessionSettings } from './session.js';

/** How long a connection over its address's cap may take to send its startup message (or CancelRequest). */
const OVER_CAP_STARTUP_MS = 2_000;

/** Accepts PostgreSQL connections and runs a Session for each; routes CancelRequests to their session. */
export class WireServer {
  private readonly server: Server;
  /** Logged-in sessions by the process id their client was given (their engine backend's). */
  private readonly sessions = new Map<number, Session>();
  /** Every connection still open, logged in or not. */
  private readonly connections = new Set<Session>();
  private readonly slots: ConnectionSlots;

  constructor(
    private readonly services: SessionServices,
    private readonly settings: SessionSettings,
    limits: ConnectionLimits,
    private readonly logger: Logger,
  ) {
    this.slots = new ConnectionSlots(limits);
    this.server = createServer((socket) => this.accept(socket));
  }

  private accept(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const logger = this.logger.child({ client: `${address}:${socket.remotePort}` });
    const pending = this.slots.openPending(address);
    // A connection over its address's cap still negotiates TLS and may send a CancelRequest (a client cancels on
    // a connection of its own); its startup message is answered 53300, as PostgreSQL answers when it cannot
    // take a connection, and it gets only a short while to send it.
    const overCap = pending === undefined;
    if (overCap) logger.warn({ address }, 'too many connections from one address waiting to log in');
    const session: Session = new Session(
      socket,
      this.services,
      overCap ? { ...this.settings, authenticationTimeoutMs: OVER_CAP_STARTUP_MS } : this.settings,
      {
        ...(overCap
          ? {
              refusal: {
                sqlstate: SQLSTATE.tooManyConnections,
                message: `too many connections from host "${address}" that have not logged in (kinesql.max-pending-logins-per-address)`,
              },
            }
          : {}),
        hasRoom: () => this.slots.hasRoom,
        claimSession: (user) => this.slots.claimSession(user),
        loginEnded: pending ?? (() => undefined),
        opened: (opened) => this.sessions.set(opened.processId, opened),
        closed: (closed) => {
          this.connections.delete(closed);
          if (this.sessions.get(closed.processId) === closed) this.sessions.delete(closed.processId);
        },
        cancel: (processId, secretKey) => this.cancel(processId, secretKey, logger),
      },
      logger,
    );
    this.connections.add(session);
  }

  private cancel(processId: number, secretKey: number, logger: Logger): void {
    const target = this.sessions.get(processId);
    if (!target || target.secretKey !== secretKey) {
      logger.info({ processId }, 'cancel request for no matching session ignored');
      return;
    }
    logger.info({ processId }, 'cancel request received');
    target.cancel('user');
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  listen(port: number, host: string): Promise<{ port: number; host: string }> {
    return listenTcp(this.server, port, host);
  }

  async close(): Promise<void> {
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([...this.connections].map((session) => session.terminate()));
    await closing;
  }
}
