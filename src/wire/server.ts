import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { backend } from '../pg/backend-messages.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import { ConnectionSlots, type ConnectionLimits } from './connection-slots.js';
import { FrontendReader, type StartupPacket } from './frontend-reader.js';
import { listenTcp } from './listen.js';
import { Session, type SessionServices, type SessionSettings } from './session.js';

/** The length of a CancelRequest, the only packet read from a connection over its address's cap. */
const CANCEL_REQUEST_BYTES = 16;
/** How long a connection over its address's cap may take to send its first packet. */
const OVER_CAP_FIRST_PACKET_MS = 2_000;

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
      this.refuseOverCap(socket, address, logger);
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

  /**
   * A connection from an address that has as many logins in progress as it may. A CancelRequest, which a
   * client sends on a connection of its own, is still honoured (it must come at once); anything else is
   * answered FATAL 53300 and closed, as PostgreSQL answers when it cannot take a connection. libpq and pgjdbc
   * show that error whether they sent an SSLRequest or a startup message.
   */
  private refuseOverCap(socket: Socket, address: string, logger: Logger): void {
    const reader = new FrontendReader(CANCEL_REQUEST_BYTES);
    const deadline = setTimeout(() => socket.destroy(), OVER_CAP_FIRST_PACKET_MS);
    deadline.unref();
    socket.on('error', () => undefined);
    socket.on('close', () => clearTimeout(deadline));
    const onData = (chunk: Buffer): void => {
      reader.push(chunk);
      let packet: StartupPacket | undefined;
      try {
        packet = reader.nextStartupPacket();
      } catch {
        socket.destroy();
        return;
      }
      if (!packet) return;
      socket.off('data', onData);
      if (packet.kind === 'cancel-request') {
        this.cancel(packet.processId, packet.secretKey, logger);
        socket.end();
        return;
      }
      logger.warn({ address }, 'too many connections from one address waiting to log in');
      const refusal = backend.error({
        severity: 'FATAL',
        code: SQLSTATE.tooManyConnections,
        message: `too many connections from host "${address}" that have not logged in (kinesql.max-pending-logins-per-address)`,
      });
      socket.end(refusal, () => socket.destroy());
    };
    socket.on('data', onData);
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
