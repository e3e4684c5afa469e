/**
 * One client connection: startup, TLS, authentication, the login to a backend of its own, and the end of the
 * connection. Once logged in, its traffic is handled turn by turn (turns.ts).
 */
import { randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { EngineLoginError, type BackendLink } from '../engine/backend-link.js';
import { EngineUnavailable, type Engine } from '../engine/engine.js';
import { ReplicaError, type ReadReplica } from '../engine/replica.js';
import { RoleRefused, type ClientRoles } from '../engine/roles.js';
import { TransactionStatus } from '../pg/protocol-constants.js';
import type { StatementExecutor } from '../sql/statement-executor.js';
import type { AuthConfig } from './auth/credentials.js';
import { beginPasswordExchange } from './auth/password-exchange.js';
import { BackendRelay } from './backend-relay.js';
import { type SessionMetrics, SessionTurns, type StopReason } from './turns.js';
import { backend, type ErrorFields } from '../pg/backend-messages.js';
import { FrontendReader, ProtocolViolation, type FrontendMessage, type StartupPacket } from './frontend-reader.js';
import { socketSink, type MessageSink } from './message-sink.js';
import { engineStartupParameters, StartupSettingRefused } from './session-settings.js';
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
}

export interface SessionHooks {
  /** A CancelRequest arrived on this connection for (processId, secretKey). */
  cancel(processId: number, secretKey: number): void;
  /** Whether one more session may log in (kinesql.max-connections). */
  admit(): boolean;
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

const STARTUP_TIMEOUT_MS = 60_000;
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
  /** Counted against kinesql.max-connections (from its startup packet until it closes). */
  admitted = false;

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
    // PostgreSQL's authentication_timeout: a connection that never finishes logging in is dropped.
    const startupTimer = setTimeout(() => {
      if (this.phase !== 'ready') this.stream.destroy();
    }, STARTUP_TIMEOUT_MS);
    startupTimer.unref();
    socket.on('close', () => {
      this.closed = true;
      this.admitted = false;
      clearTimeout(startupTimer);
      this.turns?.abandon();
      this.relay?.close();
      this.hooks.closed(this);
    });
  }

  private listen(stream: Socket): void {
    stream.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
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
        await this.onMessage(message);
      }
    }
  }

  private async onStartupPacket(packet: StartupPacket): Promise<void> {
    switch (packet.kind) {
      case 'ssl-request':
        if (this.settings.tls && !(this.stream instanceof TLSSocket)) await this.startTls(this.settings.tls);
        else await this.send(Buffer.from('N'));
        return;
      case 'gssenc-request':
        await this.send(Buffer.from('N'));
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
      await this.fatal({ code: SQLSTATE.featureNotSupported, message: `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.0` });
      return;
    }
    const user = parameters.get('user');
    if (!user) {
      await this.fatal({ code: SQLSTATE.invalidAuthorizationSpecification, message: 'no PostgreSQL user name specified in startup packet' });
      return;
    }
    if (!this.hooks.admit()) {
      await this.fatal({ code: SQLSTATE.tooManyConnections, message: 'sorry, too many clients already' });
      return;
    }
    this.admitted = true;
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
        code: SQLSTATE.invalidAuthorizationSpecification,
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
      parameters = engineStartupParameters(this.startupParameters);
      // What version(), inet_server_port(), inet_server_addr() and SHOW port answer (sql/server-identity.ts).
      parameters.push(
        ['kinesql.server_port', String(this.stream.localPort ?? '')],
        ['kinesql.server_addr', this.stream.localAddress ?? ''],
        ['kinesql.server_version', this.settings.kinesqlVersion],
      );
    } catch (error) {
      if (!(error instanceof StartupSettingRefused)) throw error;
      await this.fatal({ code: SQLSTATE.readOnlySqlTransaction, message: error.message });
      return;
    }
    let link: BackendLink;
    try {
      const password = await this.roles.passwordFor(this.user);
      link = await (this.replica ?? this.engine).openBackend(this.user, password, parameters);
    } catch (error) {
      if (error instanceof RoleRefused || error instanceof EngineLoginError || error instanceof ReplicaError) {
        await this.fatal({ code: error.sqlstate, message: error.message });
        return;
      }
      if (error instanceof EngineUnavailable) {
        await this.engineUnavailable(error);
        return;
      }
      throw error;
    }
    if (this.closed) {
      link.socket.destroy();
      return;
    }
    this.phase = 'ready';
    this.reader.setLimit(this.settings.maxMessageBytes);
    this.processId = link.processId;
    await this.send(
      Buffer.concat([
        backend.authenticationOk(),
        ...[...link.parameters].map(([name, value]) => backend.parameterStatus(name, value)),
        backend.backendKeyData(this.processId, this.secretKey),
        backend.readyForQuery(TransactionStatus.Idle),
      ]),
    );
    this.relay = new BackendRelay(link.socket, this.stream, link.leftover, () => this.onBackendClosed());
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
      code: SQLSTATE.connectionFailure,
      message: 'the connection to the database engine was lost: its backend ended without a reply (the engine restarted or crashed)',
    }).catch(() => undefined);
  }

  private async onMessage(message: FrontendMessage): Promise<void> {
    if (this.phase === 'auth') {
      if (message.type !== 'p' || !this.authenticate) {
        await this.fatal({ code: SQLSTATE.protocolViolation, message: `expected password response, got message type ${message.raw[0]}` });
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

  private async fatal(fields: Omit<ErrorFields, 'severity'>): Promise<void> {
    await this.send(backend.error({ ...fields, severity: 'FATAL' }));
    this.closed = true;
    this.stream.end();
  }

  /** The engine is away (restarting, failing over) or kinesql is shutting down: PostgreSQL's SQLSTATE for it. */
  private engineUnavailable(error: EngineUnavailable): Promise<void> {
    return this.fatal({ code: error.code, message: error.message, ...(error.detail ? { detail: error.detail } : {}) });
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
      await this.fatal({ code: error.sqlstate, message: error.message }).catch(() => undefined);
      return;
    }
    if (this.closed) {
      // The backend or the client ended the connection while kinesql worked for it: nobody is left to tell.
      this.logger.info({ err: error, user: this.user }, 'session ended during a turn');
      return;
    }
    if (error instanceof EngineUnavailable) {
      await this.engineUnavailable(error).catch(() => undefined);
      return;
    }
    this.logger.error({ err: error, user: this.user }, 'session failed');
    await this.fatal({ code: SQLSTATE.internalError, message: `internal error: ${(error as Error).message}` }).catch(() => undefined);
  }

  /** Ends the connection as a server shutdown does (57P01). */
  async terminate(): Promise<void> {
    if (this.closed) return;
    await this.fatal({ code: SQLSTATE.adminShutdown, message: 'terminating connection due to administrator command' }).catch(() => undefined);
    this.relay?.close();
  }
}
