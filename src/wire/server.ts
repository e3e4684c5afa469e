import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { backend } from '../pg/backend-messages.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import { ConnectionSlots, type ConnectionLimits } from './connection-slots.js';
import { listenTcp } from './listen.js';
import { Session, type SessionServices, type SessionSettings } from './session.js';

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
    if (!pending) {
      // Refused before a word is read, as PostgreSQL's postmaster answers when it cannot start a backend;
      // libpq and pgjdbc show this error whether they sent an SSLRequest or a startup message.
      logger.warn({ address }, 'too many connections from one address waiting to log in');
      socket.on('error', () => undefined);
      socket.end(
        backend.error({
          severity: 'FATAL',
          code: SQLSTATE.tooManyConnections,
          message: `too many connections from host "${address}" that have not logged in (kinesql.max-pending-logins-per-address)`,
        }),
        () => socket.destroy(),
      );
      return;
    }
    const session: Session = new Session(
      socket,
      this.services,
      this.settings,
      {
        hasRoom: () => this.slots.hasRoom,
        claimSession: (user) => this.slots.claimSession(user),
        loginEnded: pending,
        opened: (opened) => this.sessions.set(opened.processId, opened),
        closed: (closed) => {
          this.connections.delete(closed);
          if (this.sessions.get(closed.processId) === closed) this.sessions.delete(closed.processId);
        },
        cancel: (processId, secretKey) => {
          const target = this.sessions.get(processId);
          if (!target || target.secretKey !== secretKey) {
            logger.info({ processId }, 'cancel request for no matching session ignored');
            return;
          }
          logger.info({ processId }, 'cancel request received');
          target.cancel('user');
        },
      },
      logger,
    );
    this.connections.add(session);
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
