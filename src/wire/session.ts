/**
 * One client connection from startup to close. Longer than most modules because startup, the three
 * authentication methods and the forwarding of simple and extended-protocol turns share the connection's
 * state; the relay of the backend's replies and the settings exchange live in their own modules.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { EngineLoginError, type BackendLink } from '../engine/backend-link.js';
import type { Engine } from '../engine/engine.js';
import { RoleRefused, type ClientRoles } from '../engine/roles.js';
import { TransactionStatus } from '../pg/protocol-constants.js';
import type { CaughtUp, SessionContext, StatementExecutor } from '../sql/statement-executor.js';
import { StatementError } from '../sql/statement-executor.js';
import type { ParsedStatement } from '../sql/parse.js';
import { referencedRelations, type RelationName } from '../sql/stream-tables.js';
import { cleartextMatches, md5ResponseMatches, standInSecret, type AuthConfig } from './auth/credentials.js';
import { ScramExchange, ScramFailure, scramMechanisms, type ScramVerifier } from './auth/scram.js';
import { BackendRelay } from './backend-relay.js';
import { backend, type ErrorFields } from '../pg/backend-messages.js';
import { buildParse, frontendMessage, readBind, readParse, readTarget, SYNC } from './extended-messages.js';
import { BodyReader, FrontendReader, ProtocolViolation, type FrontendMessage, type StartupPacket } from './frontend-reader.js';
import { socketSink, type MessageSink } from './message-sink.js';
import { engineStartupParameters, READ_SETTINGS_EXCHANGE, readSettingsReply, searchPathSchemas, StartupSettingRefused, timeoutMs } from './session-settings.js';

export interface SessionSettings {
  defaultSchema: string;
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
  roles: ClientRoles;
  /** Where statement outcomes and latencies are counted (the operator's /metrics), when served. */
  metrics?: { statementFinished(outcome: 'ok' | 'error' | 'refused', seconds: number): void };
}

/** Messages of the extended protocol, collected until Sync or Flush and then forwarded together. */
const EXTENDED_MESSAGES = new Set(['P', 'B', 'D', 'E', 'C', 'H', 'S']);
/** Messages PostgreSQL ignores outside COPY IN. */
const IGNORED_MESSAGES = new Set(['d', 'c', 'f']);
const STARTUP_TIMEOUT_MS = 60_000;
/** Before a client has logged in it may send only small messages (passwords, SCRAM), as PostgreSQL caps its startup packet. */
const PRE_LOGIN_MESSAGE_BYTES = 10_000;
/** Fails the backend's open transaction block where kinesql refused a statement, as PostgreSQL's own refusal would. */
const FAIL_BLOCK = Buffer.concat([
  buildParse({
    name: '',
    query: `DO $$ BEGIN RAISE EXCEPTION 'kinesql refused a statement of this transaction' USING ERRCODE = '25006'; END $$`,
    rest: Buffer.from([0, 0]),
  }),
  frontendMessage('B', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])),
  frontendMessage('E', Buffer.from([0, 0, 0, 0, 0])),
  SYNC,
]);

type StopReason = 'user' | 'timeout';

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
  private engineSecretKey = 0;
  private readonly reader: FrontendReader;
  private stream: Socket;
  private send: MessageSink;
  private readonly executor: StatementExecutor;
  private readonly engine: Engine;
  private readonly roles: ClientRoles;
  private readonly metrics: SessionServices['metrics'];
  /** When the turn being handled arrived (performance.now()), for its latency. */
  private turnStarted = 0;
  private relay: BackendRelay | undefined;
  private phase: 'startup' | 'auth' | 'ready' = 'startup';
  private authenticate: ((message: FrontendMessage) => Promise<void>) | undefined;
  private startupParameters = new Map<string, string>();
  private processing: Promise<void> = Promise.resolve();
  private extendedBatch: FrontendMessage[] = [];
  private discardUntilSync = false;
  /** Forwarded extended-protocol messages not yet followed by a Sync. */
  private unsynced = false;
  /** The stream tables each prepared statement reads: protocol-level by name, and SQL-level PREPAREs. */
  private readonly statements = new Map<string, RelationName[]>();
  private readonly sqlPrepared = new Map<string, RelationName[]>();
  private context: SessionContext;
  private catchingUp: AbortController | undefined;
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
    this.roles = services.roles;
    this.metrics = services.metrics;
    this.reader = new FrontendReader(PRE_LOGIN_MESSAGE_BYTES);
    this.stream = socket;
    this.clientAddress = socket.remoteAddress ?? '';
    this.send = socketSink(socket);
    this.context = { searchPath: [settings.defaultSchema, 'public'] };
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
      this.catchingUp?.abort(new StatementError('connection closed', '08006'));
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
      await this.fatal({ code: '0A000', message: `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.0` });
      return;
    }
    const user = parameters.get('user');
    if (!user) {
      await this.fatal({ code: '28000', message: 'no PostgreSQL user name specified in startup packet' });
      return;
    }
    if (!this.hooks.admit()) {
      await this.fatal({ code: '53300', message: 'sorry, too many clients already' });
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
        code: '28000',
        message: `connection without TLS refused (kinesql.require-tls): host "${this.clientAddress}", user "${this.user}", database "${database}", no encryption`,
      });
      return;
    }
    const auth = this.settings.auth;
    if (!auth || auth.method === 'trust') {
      await this.completeStartup();
      return;
    }
    // An unknown user goes through the same exchange, with the same work, as a known one, and is then refused.
    const known = auth.users.has(this.user);
    const secret = auth.users.get(this.user) ?? standInSecret(auth, this.user);
    this.phase = 'auth';
    const refuse = (): Promise<void> => this.refuseLogin(auth, { code: '28P01', message: `password authentication failed for user "${this.user}"` });
    // As PostgreSQL, md5 configured but a SCRAM verifier stored means SCRAM; kinesql also uses md5 for an
    // md5 hash when scram-sha-256 is configured. A cleartext password checks either.
    if (auth.method === 'password') {
      this.authenticate = async (message) => {
        const password = passwordOf(message);
        if (!(await this.throttle(auth))) return;
        if (cleartextMatches(secret, this.user, password) && known) await this.completeStartup();
        else await refuse();
      };
      await this.send(backend.authenticationCleartextPassword());
    } else if (secret.kind === 'md5') {
      const salt = randomBytes(4);
      this.authenticate = async (message) => {
        const response = passwordOf(message);
        if (!(await this.throttle(auth))) return;
        if (md5ResponseMatches(secret, salt, response) && known) await this.completeStartup();
        else await refuse();
      };
      await this.send(backend.authenticationMd5Password(salt));
    } else {
      await this.beginScram(auth, secret.verifier, !known, refuse);
    }
  }

  private async beginScram(auth: AuthConfig, verifier: ScramVerifier, doomed: boolean, refuse: () => Promise<void>): Promise<void> {
    const channelBinding = this.stream instanceof TLSSocket ? this.settings.tlsChannelBinding : undefined;
    const mechanisms = scramMechanisms(channelBinding);
    const exchange = new ScramExchange({ user: this.user, verifier, doomed, channelBinding });
    let step: 'first' | 'final' = 'first';
    this.authenticate = async (message) => {
      try {
        const body = new BodyReader(message.body);
        if (step === 'first') {
          const mechanism = body.cstring();
          if (!mechanisms.includes(mechanism)) {
            await this.refuseLogin(auth, { code: '08P01', message: 'client selected an invalid SASL authentication mechanism' });
            return;
          }
          const length = body.int32();
          const serverFirst = exchange.start(mechanism, body.bytes(length).toString('utf8'));
          step = 'final';
          await this.send(backend.authenticationSaslContinue(Buffer.from(serverFirst)));
        } else {
          const clientFinal = body.bytes(body.remaining).toString('utf8');
          if (!(await this.throttle(auth))) return;
          const serverFinal = exchange.finish(clientFinal);
          await this.send(backend.authenticationSaslFinal(Buffer.from(serverFinal)));
          await this.completeStartup();
        }
      } catch (error) {
        if (!(error instanceof ScramFailure)) throw error;
        if (error.sqlstate === '28P01') await refuse();
        else await this.refuseLogin(auth, { code: error.sqlstate, message: error.message, ...(error.detail ? { detail: error.detail } : {}) });
      }
    };
    await this.send(backend.authenticationSasl(mechanisms));
  }

  /**
   * Holds the answer to the client's credentials while its address has recent failed logins (this session
   * only: the wait is a timer). Returns false when the client went away meanwhile.
   */
  private async throttle(auth: AuthConfig): Promise<boolean> {
    const delayMs = auth.throttle.delayMs(this.clientAddress);
    if (delayMs > 0) {
      this.logger.info(
        { address: this.clientAddress, user: this.user, failures: auth.throttle.failures(this.clientAddress), delayMs },
        'delaying the authentication answer after failed logins',
      );
      await sleep(delayMs);
    }
    return !this.closed;
  }

  /** A refused login: counted against the client's address, logged, and ended with FATAL. */
  private async refuseLogin(auth: AuthConfig, fields: Omit<ErrorFields, 'severity'>): Promise<void> {
    const failures = auth.throttle.failed(this.clientAddress);
    this.logger.warn(
      {
        address: this.clientAddress,
        user: this.user,
        failures,
        nextDelayMs: auth.throttle.delayMs(this.clientAddress),
        code: fields.code,
        reason: fields.message,
      },
      'failed login',
    );
    await this.fatal(fields);
  }

  /** Logs the client in to a backend of its own as its engine role, then AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery. */
  private async completeStartup(): Promise<void> {
    this.authenticate = undefined;
    let parameters: [string, string][];
    try {
      parameters = engineStartupParameters(this.startupParameters);
    } catch (error) {
      if (!(error instanceof StartupSettingRefused)) throw error;
      await this.fatal({ code: '25006', message: error.message });
      return;
    }
    let link: BackendLink;
    try {
      const password = await this.roles.passwordFor(this.user);
      link = await this.engine.openBackend(this.user, password, parameters);
    } catch (error) {
      if (error instanceof RoleRefused || error instanceof EngineLoginError) {
        await this.fatal({ code: error.sqlstate, message: error.message });
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
    this.engineSecretKey = link.secretKey;
    await this.send(
      Buffer.concat([
        backend.authenticationOk(),
        ...[...link.parameters].map(([name, value]) => backend.parameterStatus(name, value)),
        backend.backendKeyData(this.processId, this.secretKey),
        backend.readyForQuery(TransactionStatus.Idle),
      ]),
    );
    this.relay = new BackendRelay(link.socket, this.stream, link.leftover, () => this.onBackendClosed());
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

  /** The backend ended (its FATAL, if any, went to the client): the connection ends too, as with PostgreSQL. */
  private onBackendClosed(): void {
    if (this.closed) return;
    this.logger.info({ user: this.user, backend: this.processId }, 'engine backend closed; closing the session');
    this.closed = true;
    this.stream.end();
  }

  private async onMessage(message: FrontendMessage): Promise<void> {
    if (this.phase === 'auth') {
      if (message.type !== 'p' || !this.authenticate) {
        await this.fatal({ code: '08P01', message: `expected password response, got message type ${message.raw[0]}` });
        return;
      }
      await this.authenticate(message);
      return;
    }
    const relay = this.relay!;
    if (message.type === 'X') {
      relay.send(message.raw, 0);
      this.closed = true;
      this.stream.end();
      return;
    }
    if (EXTENDED_MESSAGES.has(message.type)) {
      if (this.discardUntilSync) {
        if (message.type === 'S') {
          this.discardUntilSync = false;
          this.unsynced = false;
          relay.send(SYNC, 1, this.answered('refused'));
        }
        return;
      }
      this.extendedBatch.push(message);
      if (message.type === 'S' || message.type === 'H') await this.onExtendedBatch();
      return;
    }
    if (message.type === 'Q') {
      await this.onQuery(message);
      return;
    }
    if (IGNORED_MESSAGES.has(message.type)) return;
    if (message.type === 'F') {
      await this.refuse({ code: '0A000', message: 'fastpath function calls are not supported' }, true);
      return;
    }
    await this.fatal({ code: '08P01', message: `invalid frontend message type ${message.raw[0]}` });
  }

  // ---- simple query ------------------------------------------------------------------------------

  private async onQuery(message: FrontendMessage): Promise<void> {
    this.turnStarted = performance.now();
    const sql = new BodyReader(message.body).cstring();
    let statements: ParsedStatement[];
    let relations: RelationName[];
    let properties: Map<string, string>;
    try {
      ({ statements, relations, properties } = this.executor.analyze(sql));
    } catch (error) {
      if (!(error instanceof StatementError)) throw error;
      await this.refuse(statementErrorFields(error), true);
      return;
    }
    const prepared = sqlPreparedChanges(statements);
    relations.push(...prepared.executes.flatMap((name) => this.sqlPrepared.get(name) ?? []));
    const build = (context: SessionContext): Buffer => frontendMessage('Q', Buffer.from(`${this.executor.prepareSql(sql, context)}\0`, 'utf8'));
    await this.forward(relations, build, 1, properties);
    for (const [name, statementRelations] of prepared.prepares) this.sqlPrepared.set(name, statementRelations);
    for (const name of prepared.deallocates) this.sqlPrepared.delete(name);
    if (prepared.deallocateAll) this.sqlPrepared.clear();
    if (prepared.discardAll) {
      this.sqlPrepared.clear();
      this.statements.clear();
    }
  }

  // ---- extended protocol -------------------------------------------------------------------------

  private async onExtendedBatch(): Promise<void> {
    this.turnStarted = performance.now();
    const batch = this.extendedBatch;
    this.extendedBatch = [];
    const endsWithSync = batch.at(-1)?.type === 'S';
    const relations: RelationName[] = [];
    const parses = new Map<FrontendMessage, { name: string; query: string; rest: Buffer }>();
    try {
      for (const message of batch) {
        if (message.type === 'P') {
          const parse = readParse(message.body);
          const statementRelations = this.executor.analyze(parse.query).relations;
          this.statements.set(parse.name, statementRelations);
          relations.push(...statementRelations);
          parses.set(message, parse);
        } else if (message.type === 'B') {
          relations.push(...(this.statements.get(readBind(message.body).statement) ?? []));
        } else if (message.type === 'C') {
          const target = readTarget(message.body, 'Close');
          if (target.kind === 'S') this.statements.delete(target.name);
        }
      }
    } catch (error) {
      if (!(error instanceof ProtocolViolation) && !(error instanceof StatementError)) throw error;
      await this.refuse(error instanceof StatementError ? statementErrorFields(error) : { code: error.sqlstate, message: error.message }, endsWithSync);
      return;
    }
    const build = (context: SessionContext): Buffer =>
      Buffer.concat(
        batch.map((message) => {
          const parse = parses.get(message);
          if (!parse) return message.raw;
          const query = this.executor.prepareSql(parse.query, context);
          return query === parse.query ? message.raw : buildParse({ ...parse, query });
        }),
      );
    await this.forward(relations, build, endsWithSync ? 1 : 0);
    this.unsynced = !endsWithSync;
  }

  // ---- forwarding --------------------------------------------------------------------------------

  /**
   * Sends a turn's messages to the backend. When they may read stream tables, kinesql first waits for the
   * backend to answer everything before them, reads the session's settings from it, and catches the
   * tables up; a catch-up that fails (or is cancelled) is reported instead of running the statement.
   */
  /** Counts a turn once its ReadyForQuery has come: refused by kinesql, failed in the engine, or answered. */
  private answered(outcome?: 'refused'): ((failed: boolean) => void) | undefined {
    const metrics = this.metrics;
    if (!metrics) return undefined;
    const started = this.turnStarted;
    return (failed) => metrics.statementFinished(outcome ?? (failed ? 'error' : 'ok'), (performance.now() - started) / 1000);
  }

  private async forward(
    relations: RelationName[],
    build: (context: SessionContext) => Buffer,
    replies: number,
    alsoSet: ReadonlyMap<string, string> = new Map(),
  ): Promise<void> {
    const relay = this.relay!;
    let caughtUp: CaughtUp = {};
    if (this.executor.mayReadStreams(relations)) {
      await relay.whenIdle();
      if (relay.status !== TransactionStatus.Failed && !this.unsynced) {
        const settings = readSettingsReply(await relay.exchange(READ_SETTINGS_EXCHANGE));
        for (const [name, value] of alsoSet) settings?.set(name, value);
        if (settings) this.context = { searchPath: searchPathSchemas(settings.get('search_path') ?? '', this.user), settings };
        try {
          caughtUp = await this.catchUp(relations, timeoutMs(settings?.get('statement_timeout')));
        } catch (error) {
          if (!(error instanceof StatementError)) throw error;
          await this.refuse(statementErrorFields(error), replies > 0);
          return;
        }
      }
    }
    relay.send(build(this.context), replies, this.answered());
    if (caughtUp.checkpoint) {
      const errorsBefore = relay.errors;
      await relay.whenIdle();
      if (relay.errors === errorsBefore && relay.status !== TransactionStatus.Failed) {
        await this.executor.afterStatement(caughtUp).catch((error: unknown) => this.logger.warn({ err: error }, 'checkpoint not saved'));
      }
    }
  }

  private async catchUp(relations: RelationName[], statementTimeoutMs: number): Promise<CaughtUp> {
    const controller = new AbortController();
    this.catchingUp = controller;
    const timer =
      statementTimeoutMs > 0
        ? setTimeout(() => controller.abort(new StatementError('canceling statement due to statement timeout', '57014')), statementTimeoutMs)
        : undefined;
    try {
      return await this.executor.catchUp(relations, this.context, controller.signal, this.send);
    } finally {
      if (timer) clearTimeout(timer);
      this.catchingUp = undefined;
    }
  }

  /**
   * Reports a statement kinesql refuses (or whose catch-up failed) where PostgreSQL would report its error:
   * after everything before it, with a transaction block it was in failed, and ReadyForQuery from the
   * backend itself at the Sync that ends the batch.
   */
  private async refuse(fields: ErrorFields, endsWithSync: boolean): Promise<void> {
    const relay = this.relay!;
    await relay.whenIdle();
    if (relay.status === TransactionStatus.InTransaction && !this.unsynced) await relay.exchange(FAIL_BLOCK).catch(() => undefined);
    await this.send(backend.error(fields));
    if (endsWithSync) {
      this.unsynced = false;
      relay.send(SYNC, 1, this.answered('refused'));
    } else {
      this.discardUntilSync = true;
    }
  }

  /** CancelRequest or statement_timeout: a catch-up is stopped here, a statement in the engine by the engine. */
  cancel(reason: StopReason): void {
    if (this.catchingUp) {
      const message = reason === 'timeout' ? 'canceling statement due to statement timeout' : 'canceling statement due to user request';
      this.catchingUp.abort(new StatementError(message, '57014'));
      return;
    }
    if (!this.relay?.busy) return;
    this.logger.info({ backend: this.processId }, 'forwarding a cancel request to the engine');
    this.engine.cancel(this.processId, this.engineSecretKey).catch((error: unknown) => this.logger.warn({ err: error }, 'cancel request not forwarded'));
  }

  // ---- ending ------------------------------------------------------------------------------------

  private async fatal(fields: Omit<ErrorFields, 'severity'>): Promise<void> {
    await this.send(backend.error({ ...fields, severity: 'FATAL' }));
    this.closed = true;
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
      await this.fatal({ code: error.sqlstate, message: error.message }).catch(() => undefined);
      return;
    }
    this.logger.error({ err: error, user: this.user }, 'session failed');
    await this.fatal({ code: 'XX000', message: `internal error: ${(error as Error).message}` }).catch(() => undefined);
  }

  /** Ends the connection as a server shutdown does (57P01). */
  async terminate(): Promise<void> {
    if (this.closed) return;
    await this.fatal({ code: '57P01', message: 'terminating connection due to administrator command' }).catch(() => undefined);
    this.relay?.close();
  }
}

function statementErrorFields(error: StatementError): ErrorFields {
  return { code: error.sqlstate, message: error.message, ...(error.position ? { position: error.position } : {}) };
}

function passwordOf(message: FrontendMessage): string {
  return new BodyReader(message.body).cstring();
}

/** The SQL-level PREPARE, EXECUTE, DEALLOCATE and DISCARD of a simple query. */
function sqlPreparedChanges(statements: ParsedStatement[]): {
  prepares: [string, RelationName[]][];
  executes: string[];
  deallocates: string[];
  deallocateAll: boolean;
  discardAll: boolean;
} {
  const changes = {
    prepares: [] as [string, RelationName[]][],
    executes: [] as string[],
    deallocates: [] as string[],
    deallocateAll: false,
    discardAll: false,
  };
  for (const statement of statements) {
    const fields = (statement.node as unknown as Record<string, Record<string, unknown>>)[statement.nodeType] ?? {};
    const name = fields['name'];
    if (statement.nodeType === 'DeallocateStmt' && fields['isall'] === true) changes.deallocateAll = true;
    if (statement.nodeType === 'DiscardStmt' && (fields['target'] === undefined || fields['target'] === 'DISCARD_ALL')) changes.discardAll = true;
    if (typeof name !== 'string') continue;
    if (statement.nodeType === 'PrepareStmt') changes.prepares.push([name, referencedRelations(statement.node)]);
    else if (statement.nodeType === 'ExecuteStmt') changes.executes.push(name);
    else if (statement.nodeType === 'DeallocateStmt') changes.deallocates.push(name);
  }
  return changes;
}
