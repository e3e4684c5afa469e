/**
 * One client connection: startup, TLS, authentication, the login to a backend of its own, and the end of the
 * connection. Once logged in, its traffic is handled turn by turn (turns.ts). About 490 lines because startup,
 * the SSL/GSSENC negotiation (bytes behind the request refused), the authentication timeout, the connection
 * slots and the backend login's error mapping all move one connection's state; the next split is one
 * explicit protocol state (startup, negotiated, authenticating, ready, closed), taking negotiation and slots out.
 */
import { randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { BackendLink } from '../engine/backend-link.js';
import type { Engine } from '../engine/engine.js';
import type { ReadReplica } from '../engine/replica.js';
import type { ClientRoles } from '../engine/roles.js';
import { TransactionStatus } from '../pg/protocol-constants.js';
import type { StatementExecutor } from '../sql/statement-executor.js';
import type { AuthConfig } from './auth/credentials.js';
import { beginPasswordExchange } from './auth/password-exchange.js';
import { inClientEncoding } from '../pg/message-encoding.js';
import { BackendRelay } from './backend-relay.js';
import { type SessionMetrics, SessionTurns, type StopReason } from './turns.js';
import { backend } from '../pg/backend-messages.js';
import { PgError, type ErrorFields } from '../pg/pg-error.js';
import { FrontendReader, ProtocolViolation, type FrontendMessage, type StartupPacket } from './frontend-reader.js';
import { socketSink, type MessageSink } from './message-sink.js';
import type { Release, SessionClaim } from './connection-slots.js';
import { engineStartupParameters, READ_BACK, StartupSettingRefused } from './session-settings.js';
import { TrackedSettings } from './tracked-settings.js';
import { SQLSTATE } from '../pg/sqlstate.js';

export interface SessionSettings {
  defaultSchema: string;
  /** kinesql's own version, which version() reports next to the engine's. */
  kinesqlVersion: string;
  maxMessageBytes: number;
  /** Authentication; trust when absent. */
  auth?: AuthConfig;
  /** TLS offered in answer to SSLRequest; 'N' when absent. */
  tls?: SecureContext;
  /** tls-server-end-point data of the certificate: SCRAM-SHA-256-PLUS is offered over TLS when present. */
  tlsChannelBinding?: Buffer;
  /** A startup without TLS is refused (kinesql.require-tls). */
  requireTls?: boolean;
  /** A connection not logged in after this long is closed, as PostgreSQL's authentication_timeout (kinesql.authentication-timeout). */
  authenticationTimeoutMs?: number;
}

export interface SessionHooks {
  /** A CancelRequest arrived on this connection for (processId, secretKey). */
  cancel(processId: number, secretKey: number): void;
  /** Whether a session could log in now (kinesql.max-connections), asked at the startup message. */
  hasRoom(): boolean;
  /** When this connection may not log in at all (its address has too many logins in progress): the FATAL its startup message gets. */
  refusal?: Omit<ErrorFields, 'severity'>;
  /** A session slot for the authenticated user (kinesql.max-connections, kinesql.max-sessions-per-user). */
  claimSession(user: string): SessionClaim;
  /** The connection no longer counts as a login in progress: it logged in, or it closed and its failed login's delay is over. */
  loginEnded(): void;
  opened(session: Session): void;
  closed(session: Session): void;
}

export interface SessionServices {
  executor: StatementExecutor;
  engine: Engine;
  /** The hot standby client backends run on (kinesql.engine-read-url), when there is one. */
  replica?: ReadReplica;
  roles: ClientRoles;
  /** Where statement outcomes and latencies are counted (the operator's /metrics), when served. */
  metrics?: SessionMetrics;
}

/** PostgreSQL's default authentication_timeout. */
export const DEFAULT_AUTHENTICATION_TIMEOUT_MS = 60_000;
/** Before a client has logged in it may send only small messages (passwords, SCRAM), as PostgreSQL caps its startup packet. */
const PRE_LOGIN_MESSAGE_BYTES = 10_000;

/**
 * One client connection: startup and authentication by kinesql, then a backend of the engine of its own,
 * logged in as the client's engine role. Client messages go to that backend once the read-only gate has
 * passed them and the stream tables they read are caught up; the backend's replies go back untouched
 * (BackendRelay). Transactions, cursors, prepared statements, settings and statement_timeout are the
 * engine's own; a cancel request is forwarded to the engine as a real cancel.
 */
export class Session {
  /** The engine backend's process id (what pg_backend_pid() shows); 0 until logged in. */
  processId = 0;
  readonly secretKey: number;
  private readonly reader: FrontendReader;
  private stream: Socket;
  private send: MessageSink;
  private readonly executor: StatementExecutor;
  private readonly engine: Engine;
  private readonly replica: ReadReplica | undefined;
  private readonly roles: ClientRoles;
  private readonly metrics: SessionServices['metrics'];
  private relay: BackendRelay | undefined;
  /** The logged-in session's traffic, once there is a backend. */
  private turns: SessionTurns | undefined;
  private phase: 'startup' | 'auth' | 'ready' = 'startup';
  private authenticate: ((message: FrontendMessage) => Promise<void>) | undefined;
  private startupParameters = new Map<string, string>();
  private processing: Promise<void> = Promise.resolve();
  private user = '';
  /** The client's IP address, which failed logins are counted against. */
  private readonly clientAddress: string;
  private closed = false;
  /** Gives back the session slot the authenticated login took. */
  private releaseSessionSlot: Release | undefined;
  /** Until when the connection counts as a login in progress after it closes (a failed login's delay). */
  private loginHeld: Promise<void> = Promise.resolve();
  /** A refused login waits for its answer: the authentication timeout must not answer it sooner. */
  private refusalDue = false;

  constructor(
    socket: Socket,
    services: SessionServices,
    private readonly settings: SessionSettings,
    private readonly hooks: SessionHooks,
    private readonly logger: Logger,
  ) {
    this.secretKey = randomInt(1, 2 ** 31 - 1);
    this.executor = services.executor;
    this.engine = services.engine;
    this.replica = services.replica;
    this.roles = services.roles;
    this.metrics = services.metrics;
    this.reader = new FrontendReader(PRE_LOGIN_MESSAGE_BYTES);
    this.stream = socket;
    this.clientAddress = socket.remoteAddress ?? '';
    this.send = socketSink(socket);
    socket.setNoDelay(true);
    this.listen(socket);
    const startupTimer = setTimeout(() => void this.authenticationTimedOut(), settings.authenticationTimeoutMs ?? DEFAULT_AUTHENTICATION_TIMEOUT_MS);
    startupTimer.unref();
    socket.on('close', () => {
      this.closed = true;
      clearTimeout(startupTimer);
      this.releaseSessionSlot?.();
      void this.loginHeld.then(() => this.hooks.loginEnded());
      this.turns?.abandon();
      this.relay?.close();
      this.hooks.closed(this);
    });
  }

  private listen(stream: Socket): void {
    stream.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      // A message of megabytes is read one piece per turn of the event loop, so every other session's
      // messages are read in between however fast this client sends.
      if (this.reader.inLargeMessage) {
        stream.pause();
        setImmediate(() => stream.resume());
      }
      // Messages are handled strictly in order; reading goes on while one is processed.
      this.processing = this.processing.then(() => this.drain()).catch((error: unknown) => this.fail(error));
    });
    stream.on('error', (error) => this.logger.debug({ err: error }, 'client socket error'));
  }

  private async drain(): Promise<void> {
    while (!this.closed) {
      if (this.reader.isInStartup) {
        const packet = this.reader.nextStartupPacket();
        if (!packet) return;
        await this.onStartupPacket(packet);
      } else {
        const message = this.reader.nextMessage();
        if (!message) return;
        if (message.refused !== undefined) {
          // Its body is not read (tens of megabytes would cost every session): reading stops, and the connection
          // ends once the client has had a moment to read why, as PostgreSQL ends one whose message it cannot take.
          this.stream.pause();
          await this.fatal({ sqlstate: SQLSTATE.statementTooComplex, message: message.refused });
          setTimeout(() => this.stream.destroy(), 1_000).unref();
          return;
        }
        await this.onMessage(message);
      }
    }
  }

  private async onStartupPacket(packet: StartupPacket): Promise<void> {
    switch (packet.kind) {
      case 'ssl-request':
        if (this.settings.tls && !(this.stream instanceof TLSSocket)) await this.startTls(this.settings.tls);
        else await this.send(Buffer.from('N'));
        if (this.reader.hasBufferedBytes) await this.refuseBytesBehind('SSL request');
        return;
      case 'gssenc-request':
        await this.send(Buffer.from('N'));
        if (this.reader.hasBufferedBytes) await this.refuseBytesBehind('GSSAPI encryption request');
        return;
      case 'cancel-request':
        this.hooks.cancel(packet.processId, packet.secretKey);
        this.closed = true;
        this.stream.end();
        return;
      case 'startup':
        await this.onStartup(packet.protocolVersion, packet.parameters);
        return;
    }
  }

  /**
   * Bytes that came in the same packet as an SSLRequest (or GSSENCRequest) were sent before the answer could
   * be read: not encrypted, and possibly injected by a man in the middle (CVE-2021-23214). As PostgreSQL
   * does, they are refused, never read; after 'S' the FATAL goes over the TLS connection once it is up.
   */
  private async refuseBytesBehind(request: string): Promise<void> {
    await this.fatal({
      sqlstate: SQLSTATE.protocolViolation,
      message: `received unencrypted data after ${request}`,
      detail: 'This could be either a client-software bug or evidence of an attempted man-in-the-middle attack.',
    });
  }

  private async startTls(secureContext: SecureContext): Promise<void> {
    const plain = this.stream;
    plain.removeAllListeners('data');
    await this.send(Buffer.from('S'));
    const secure = new TLSSocket(plain, { isServer: true, secureContext });
    this.stream = secure;
    this.send = socketSink(secure);
    this.listen(secure);
  }

  private async onStartup(protocolVersion: number, parameters: Map<string, string>): Promise<void> {
    const major = protocolVersion >> 16;
    const minor = protocolVersion & 0xffff;
    if (major !== 3) {
      await this.fatal({ sqlstate: SQLSTATE.featureNotSupported, message: `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.0` });
      return;
    }
    const user = parameters.get('user');
    if (!user) {
      await this.fatal({ sqlstate: SQLSTATE.invalidAuthorizationSpecification, message: 'no PostgreSQL user name specified in startup packet' });
      return;
    }
    if (this.hooks.refusal) {
      await this.fatal(this.hooks.refusal);
      return;
    }
    if (!this.hooks.hasRoom()) {
      await this.fatal({ sqlstate: SQLSTATE.tooManyConnections, message: 'sorry, too many clients already' });
      return;
    }
    this.user = user;
    this.startupParameters = parameters;
    this.reader.expectTypedMessages();
    const unsupportedOptions = [...parameters.keys()].filter((name) => name.startsWith('_pq_.'));
    if (minor > 0 || unsupportedOptions.length > 0) await this.send(backend.negotiateProtocolVersion(0, unsupportedOptions));
    await this.beginAuthentication();
  }

  private async beginAuthentication(): Promise<void> {
    if (this.settings.requireTls && !(this.stream instanceof TLSSocket)) {
      // As a hostssl-only pg_hba.conf answers; libpq with sslmode=allow then retries with TLS.
      const database = this.startupParameters.get('database') ?? this.user;
      await this.fatal({
        sqlstate: SQLSTATE.invalidAuthorizationSpecification,
        message: `connection without TLS refused (kinesql.require-tls): host "${this.clientAddress}", user "${this.user}", database "${database}", no encryption`,
      });
      return;
    }
    const auth = this.settings.auth;
    if (!auth || auth.method === 'trust') {
      await this.completeStartup();
      return;
    }
    this.phase = 'auth';
    const exchange = beginPasswordExchange({
      auth,
      user: this.user,
      clientAddress: this.clientAddress,
      channelBinding: this.stream instanceof TLSSocket ? this.settings.tlsChannelBinding : undefined,
      send: (message) => this.send(message),
      logger: this.logger,
      isClosed: () => this.closed,
      holdLogin: (wait) => {
        this.loginHeld = wait;
        this.refusalDue = true;
      },
      succeed: () => this.completeStartup(),
      fatal: (fields) => this.fatal(fields),
    });
    this.authenticate = (message) => exchange.answer(message);
    await this.send(exchange.request);
  }

  /** Logs the client in to a backend of its own as its engine role, then AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery. */
  private async completeStartup(): Promise<void> {
    this.authenticate = undefined;
    let parameters: [string, string][];
    try {
      parameters = engineStartupParameters(this.startupParameters, this.roles.ceilings);
      // What version(), inet_server_port(), inet_server_addr() and SHOW port answer (sql/server-identity.ts).
      parameters.push(
        ['kinesql.server_port', String(this.stream.localPort ?? '')],
        ['kinesql.server_addr', this.stream.localAddress ?? ''],
        ['kinesql.server_version', this.settings.kinesqlVersion],
      );
    } catch (error) {
      if (!(error instanceof StartupSettingRefused)) throw error;
      await this.fatal(error);
      return;
    }
    // Only an authenticated login takes a session slot; until here the connection held a pending-login one.
    const claim = this.hooks.claimSession(this.user);
    if (!claim.granted) {
      await this.fatal({ sqlstate: SQLSTATE.tooManyConnections, message: claim.message });
      return;
    }
    this.releaseSessionSlot = claim.release;
    this.hooks.loginEnded();
    if (this.closed) {
      claim.release();
      return;
    }
    let link: BackendLink;
    try {
      const password = await this.roles.passwordFor(this.user);
      link = await (this.replica ?? this.engine).openBackend(this.user, password, parameters);
    } catch (error) {
      // A reserved role name, the engine's refusal or absence, an unreachable read replica: the login's FATAL.
      if (!(error instanceof PgError)) throw error;
      await this.fatal(error);
      return;
    }
    if (this.closed) {
      link.socket.destroy();
      return;
    }
    this.phase = 'ready';
    this.reader.setLimit(this.settings.maxMessageBytes);
    // A query too large to analyse within its time budget is refused from its header: its body is never read.
    this.reader.setRefuseFromHeader((type, bytes) => (type === 'Q' ? this.executor.sqlSizeRefusal(bytes) : undefined));
    this.processId = link.processId;
    await this.send(
      Buffer.concat([
        backend.authenticationOk(),
        ...[...link.parameters].map(([name, value]) => backend.parameterStatus(name, value)),
        backend.backendKeyData(this.processId, this.secretKey),
        backend.readyForQuery(TransactionStatus.Idle),
      ]),
    );
    this.relay = new BackendRelay(link.socket, this.stream, link.leftover, () => this.onBackendClosed(), link.parameters.get('client_encoding'));
    this.turns = new SessionTurns(
      this.relay,
      {
        executor: this.executor,
        engine: this.engine,
        ...(this.replica ? { replica: this.replica } : {}),
        ...(this.metrics ? { metrics: this.metrics } : {}),
        logger: this.logger,
        send: this.send,
        fatal: (fields) => this.fatal(fields),
        end: () => {
          this.closed = true;
          this.stream.end();
        },
      },
      this.user,
      this.settings.defaultSchema,
      { processId: link.processId, secretKey: link.secretKey },
      new TrackedSettings(new Set(READ_BACK)),
    );
    this.hooks.opened(this);
    this.logger.info(
      {
        user: this.user,
        database: this.startupParameters.get('database') ?? this.user,
        application: this.startupParameters.get('application_name') ?? '',
        backend: this.processId,
      },
      'session started',
    );
  }

  /**
   * The backend ended: the connection ends too, as with PostgreSQL. Its FATAL, if it sent one, went to the
   * client; a backend that ended without one (the engine crashed or was stopped at once) leaves the client a
   * FATAL 08006 of kinesql's, where PostgreSQL's own clients would report the connection lost.
   */
  private onBackendClosed(): void {
    if (this.closed) return;
    this.logger.info({ user: this.user, backend: this.processId }, 'engine backend closed; closing the session');
    if (this.relay?.fatalSent) {
      this.closed = true;
      this.stream.end();
      return;
    }
    this.fatal({
      sqlstate: SQLSTATE.connectionFailure,
      message: 'the connection to the database engine was lost: its backend ended without a reply (the engine restarted or crashed)',
    }).catch(() => undefined);
  }

  private async onMessage(message: FrontendMessage): Promise<void> {
    if (this.phase === 'auth') {
      if (message.type !== 'p' || !this.authenticate) {
        await this.fatal({ sqlstate: SQLSTATE.protocolViolation, message: `expected password response, got message type ${message.raw[0]}` });
        return;
      }
      await this.authenticate(message);
      return;
    }
    await this.turns!.onMessage(message);
  }

  /** CancelRequest: a catch-up is stopped here, a statement in the engine by the engine. */
  cancel(reason: StopReason): void {
    this.turns?.cancel(reason);
  }

  // ---- ending ------------------------------------------------------------------------------------

  /**
   * PostgreSQL's authentication_timeout. A client that got as far as a startup message is told why, with the
   * FATAL PostgreSQL logs in this case (57014); one that never sent one is just closed, as PostgreSQL does. A
   * connection already refused is closed too, if its client has not closed its end.
   */
  private async authenticationTimedOut(): Promise<void> {
    if (this.phase === 'ready') return;
    // A refusal waiting out its delay is the answer: closing earlier would tell a guesser sooner that it was wrong.
    if (this.refusalDue) await this.loginHeld;
    if (!this.closed) {
      this.logger.info({ user: this.user, phase: this.phase }, 'canceling authentication due to timeout');
      if (this.reader.isInStartup) {
        this.closed = true;
        this.stream.destroy();
        return;
      }
      await this.fatal({ sqlstate: SQLSTATE.queryCanceled, message: 'canceling authentication due to timeout' });
    }
    // Once what was said last is written, the connection goes, whether or not the client closes its end.
    const stream = this.stream;
    if (stream.writableFinished || stream.destroyed) stream.destroy();
    else stream.once('finish', () => stream.destroy());
  }

  private async fatal(fields: Omit<ErrorFields, 'severity'>): Promise<void> {
    // Closed first: nothing more the client sent is read, even while the error waits to be written.
    this.closed = true;
    const message = backend.error(fields, 'FATAL');
    // Once logged in, in the session's client encoding, as the engine's own messages are.
    await this.send(this.relay ? inClientEncoding(message, this.relay.codec) : message);
    this.stream.end();
  }

  private async fail(error: unknown): Promise<void> {
    if (error instanceof ProtocolViolation) {
      this.logger.warn({ err: error, user: this.user }, 'protocol violation');
      if (this.phase === 'startup') {
        // Before startup the peer may not speak the protocol at all: PostgreSQL just closes the connection.
        this.closed = true;
        this.stream.destroy();
        return;
      }
      await this.fatal(error).catch(() => undefined);
      return;
    }
    if (this.closed) {
      // The backend or the client ended the connection while kinesql worked for it: nobody is left to tell.
      this.logger.info({ err: error, user: this.user }, 'session ended during a turn');
      return;
    }
    if (error instanceof PgError) {
      // The engine away or kinesql shutting down (FATAL); a statement's own error here would be a turn that did not report it.
      if (error.severity !== 'FATAL') this.logger.warn({ err: error, user: this.user }, 'session ended by the error of a statement');
      await this.fatal(error).catch(() => undefined);
      return;
    }
    this.logger.error({ err: error, user: this.user }, 'session failed');
    await this.fatal({ sqlstate: SQLSTATE.internalError, message: `internal error: ${(error as Error).message}` }).catch(() => undefined);
  }

  /** Ends the connection as a server shutdown does (57P01). */
  async terminate(): Promise<void> {
    if (this.closed) return;
    await this.fatal({ sqlstate: SQLSTATE.adminShutdown, message: 'terminating connection due to administrator command' }).catch(() => undefined);
    this.relay?.close();
  }
}
