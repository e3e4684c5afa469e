/**
 * One client connection: startup, TLS, authentication, the login to a backend of its own, and the end of the
 * connection. Once logged in, its traffic is handled turn by turn (turns.ts). Where the connection is in the
 * protocol is one value (connection-state.ts).
 */
import { randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { BackendLink } from '../engine/backend-link.js';
import type { Engine } from '../engine/engine.js';
import type { ReadReplica } from '../engine/replica.js';
import type { ClientRoles } from '../engine/roles.js';
import { GSSENC_REQUEST_CODE, SSL_REQUEST_CODE, TransactionStatus } from '../pg/protocol-constants.js';
import type { StatementExecutor } from './statement-executor.js';
import type { AuthConfig } from './auth/credentials.js';
import { beginPasswordExchange } from './auth/password-exchange.js';
import { inClientEncoding } from '../pg/message-encoding.js';
import { BackendRelay } from './backend-relay.js';
import { ConnectionState, messageVerdict } from './connection-state.js';
import { InOrder, type Step } from './in-order.js';
import { type SessionMetrics, SessionTurns, type StopReason } from './turns.js';
import { backend } from '../pg/backend-messages.js';
import { PgError, type ErrorFields } from '../pg/pg-error.js';
import { FrontendReader, ProtocolViolation, type FrontendMessage, type StartupPacket } from './frontend-reader.js';
import { socketSink, type MessageSink } from './message-sink.js';
import type { Release, SessionClaim } from './connection-slots.js';
import { engineStartupParameters, READ_BACK, StartupSettingRefused } from './session-settings.js';
import { TrackedSettings } from './tracked-settings.js';
import { protocolNegotiation, startupRefusal, unencryptedDataAfter, type Admission } from './startup-answers.js';
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

/** `refusal`: this connection may not log in at all (its address has too many logins in progress); `hasRoom`: asked at the startup message. */
export interface SessionHooks extends Admission {
  /** A CancelRequest arrived on this connection for (processId, secretKey). */
  cancel(processId: number, secretKey: number): void;
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
  private readonly state = new ConnectionState();
  private startupParameters = new Map<string, string>();
  private readonly inOrder: InOrder;
  private user = '';
  /** The client's IP address, which failed logins are counted against. */
  private readonly clientAddress: string;
  /** Gives back the session slot the authenticated login took. */
  private releaseSessionSlot: Release | undefined;
  /** Until when the connection counts as a login in progress after it closes: a refused login's delay, not cut short by the authentication timeout. */
  private loginHeld: Promise<void> | undefined;

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
    this.inOrder = new InOrder(
      () => this.nextStep(),
      (error) => this.fail(error),
      () => this.state.closed,
    );
    this.stream = socket;
    this.clientAddress = socket.remoteAddress ?? '';
    this.send = socketSink(socket);
    socket.setNoDelay(true);
    this.listen(socket);
    const startupTimer = setTimeout(() => void this.authenticationTimedOut(), settings.authenticationTimeoutMs ?? DEFAULT_AUTHENTICATION_TIMEOUT_MS);
    startupTimer.unref();
    socket.on('close', () => {
      this.state.close();
      clearTimeout(startupTimer);
      this.releaseSessionSlot?.();
      void (this.loginHeld ?? Promise.resolve()).then(() => this.hooks.loginEnded());
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
      this.inOrder.run();
    });
    stream.on('error', (error) => this.logger.debug({ err: error }, 'client socket error'));
  }

  /** Takes the next startup packet or message read so far, and handles it (in-order.ts). */
  private nextStep(): Step {
    if (this.state.beforeStartupMessage) {
      const packet = this.reader.nextStartupPacket();
      return packet ? this.onStartupPacket(packet) : false;
    }
    const message = this.reader.nextMessage();
    if (!message) return false;
    return (message.refused !== undefined ? this.refuseMessage(message.refused) : this.onMessage(message)) ?? true;
  }

  /** A message refused from its header: its body is not read, and the connection ends once the client could read why. */
  private async refuseMessage(refused: string): Promise<void> {
    this.stream.pause();
    await this.fatal({ sqlstate: SQLSTATE.statementTooComplex, message: refused });
    setTimeout(() => this.stream.destroy(), 1_000).unref();
  }

  private async onStartupPacket(packet: StartupPacket): Promise<void> {
    switch (packet.kind) {
      case 'ssl-request':
      case 'gssenc-request': {
        const request = packet.kind === 'ssl-request' ? 'ssl' : 'gss';
        // Asked again, as PostgreSQL it is read as a startup message of a protocol it does not know.
        if (!this.state.mayNegotiate(request)) return this.onStartup(request === 'ssl' ? SSL_REQUEST_CODE : GSSENC_REQUEST_CODE, new Map());
        const accepted = request === 'ssl' && this.settings.tls !== undefined;
        if (accepted) await this.startTls(this.settings.tls!);
        else await this.send(Buffer.from('N'));
        this.state.negotiated(request, accepted);
        if (this.reader.hasBufferedBytes) await this.fatal(unencryptedDataAfter(request));
        return;
      }
      case 'cancel-request':
        this.hooks.cancel(packet.processId, packet.secretKey);
        this.state.close();
        this.stream.end();
        return;
      case 'startup':
        await this.onStartup(packet.protocolVersion, packet.parameters);
        return;
    }
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
    const refusal = startupRefusal(protocolVersion, parameters, this.hooks);
    if (refusal) return this.fatal(refusal);
    this.user = parameters.get('user')!;
    this.startupParameters = parameters;
    this.state.move({ phase: 'authenticating', exchange: undefined });
    const negotiation = protocolNegotiation(protocolVersion, parameters);
    if (negotiation) await this.send(negotiation);
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
    const exchange = beginPasswordExchange({
      auth,
      user: this.user,
      clientAddress: this.clientAddress,
      channelBinding: this.stream instanceof TLSSocket ? this.settings.tlsChannelBinding : undefined,
      send: (message) => this.send(message),
      logger: this.logger,
      isClosed: () => this.state.closed,
      holdLogin: (wait) => {
        this.loginHeld = wait;
      },
      succeed: () => this.completeStartup(),
      fatal: (fields) => this.fatal(fields),
    });
    this.state.move({ phase: 'authenticating', exchange });
    await this.send(exchange.request);
  }

  /** Logs the client in to a backend of its own as its engine role, then AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery. */
  private async completeStartup(): Promise<void> {
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
    if (this.state.closed) {
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
    if (this.state.closed) {
      link.socket.destroy();
      return;
    }
    this.state.move({ phase: 'ready' });
    this.reader.setLimit(this.settings.maxMessageBytes);
    // A Query or Parse too large to analyse within its time budget is refused from its header: its body is never read.
    this.reader.setRefuseFromHeader((type, bytes) => (type === 'Q' || type === 'P' ? this.executor.sqlSizeRefusal(bytes) : undefined));
    this.processId = link.processId;
    await this.send(
      Buffer.concat([
        backend.authenticationOk(),
        ...[...link.parameters].map(([name, value]) => backend.parameterStatus(name, value)),
        backend.backendKeyData(this.processId, this.secretKey),
        backend.readyForQuery(TransactionStatus.Idle),
      ]),
    );
    this.relay = new BackendRelay(link.socket, this.stream, this.state, link.leftover, () => this.onBackendClosed(), link.parameters.get('client_encoding'));
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
          this.state.close();
          this.stream.end();
        },
        state: this.state,
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
    if (this.state.closed) return;
    this.logger.info({ user: this.user, backend: this.processId }, 'engine backend closed; closing the session');
    if (this.relay?.fatalSent) {
      this.state.close();
      this.stream.end();
      return;
    }
    this.fatal({
      sqlstate: SQLSTATE.connectionFailure,
      message: 'the connection to the database engine was lost: its backend ended without a reply (the engine restarted or crashed)',
    }).catch(() => undefined);
  }

  private onMessage(message: FrontendMessage): Promise<void> | undefined {
    const place = this.state.now;
    if (place.phase !== 'authenticating') return this.turns!.onMessage(message);
    const verdict = messageVerdict(place, message.type);
    if (verdict === 'take') return place.exchange!.answer(message);
    return verdict === 'ignore' ? undefined : this.fatal({ sqlstate: SQLSTATE.protocolViolation, message: verdict.violation });
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
    if (this.state.loggedIn) return;
    // A refusal waiting out its delay is the answer: closing earlier would tell a guesser sooner that it was wrong.
    await this.loginHeld;
    if (!this.state.closed) {
      this.logger.info({ user: this.user, phase: this.state.phase }, 'canceling authentication due to timeout');
      if (this.state.beforeStartupMessage) {
        this.state.close();
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
    this.state.close();
    const message = backend.error(fields, 'FATAL');
    // Once logged in, in the session's client encoding, as the engine's own messages are.
    await this.send(this.relay ? inClientEncoding(message, this.relay.codec) : message);
    this.stream.end();
  }

  private async fail(error: unknown): Promise<void> {
    if (error instanceof ProtocolViolation) {
      this.logger.warn({ err: error, user: this.user }, 'protocol violation');
      if (this.state.beforeStartupMessage) {
        // Before startup the peer may not speak the protocol at all: PostgreSQL just closes the connection.
        this.state.close();
        this.stream.destroy();
        return;
      }
      await this.fatal(error).catch(() => undefined);
      return;
    }
    if (this.state.closed) {
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
    if (this.state.closed) return;
    await this.fatal({ sqlstate: SQLSTATE.adminShutdown, message: 'terminating connection due to administrator command' }).catch(() => undefined);
    this.relay?.close();
  }
}
