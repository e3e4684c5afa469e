import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { listenTcp } from './listen.js';
import { Session, type SessionServices, type SessionSettings } from './session.js';

/** Accepts PostgreSQL connections and runs a Session for each; routes CancelRequests to their session. */
export class WireServer {
  private readonly server: Server;
  /** Logged-in sessions by the process id their client was given (their engine backend's). */
  private readonly sessions = new Map<number, Session>();
  /** Every connection still open, logged in or not: what kinesql.max-connections bounds. */
  private readonly connections = new Set<Session>();

  constructor(
    private readonly services: SessionServices,
    private readonly settings: SessionSettings,
    private readonly maxConnections: number,
    private readonly logger: Logger,
  ) {
    this.server = createServer((socket) => this.accept(socket));
  }

  private accept(socket: Socket): void {
    const logger = this.logger.child({ client: `${socket.remoteAddress}:${socket.remotePort}` });
    const session: Session = new Session(
      socket,
      this.services,
      this.settings,
      {
        admit: () => [...this.connections].filter((other) => other !== session && other.admitted).length < this.maxConnections,
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
