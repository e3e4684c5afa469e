import { randomBytes, randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { EngineRestarted, type Engine, type EngineError } from '../engine/engine.js';
import type { SessionContext, StatementExecutor } from '../sql/statement-executor.js';
import type { RelationName } from '../sql/stream-tables.js';
import { StatementError } from '../sql/statement-executor.js';
import { settingRefusal } from '../sql/session-settings.js';
import { cleartextMatches, md5ResponseMatches, type AuthConfig, type StoredSecret } from './auth/credentials.js';
import { ScramExchange, ScramFailure } from './auth/scram.js';
import { backend, type ErrorFields } from './backend-writer.js';
import {
  buildBind,
  buildExecute,
  buildParse,
  buildTarget,
  frontendMessage,
  readBind,
  readExecute,
  readParse,
  readTarget,
  SYNC,
} from './extended-messages.js';
import { BodyReader, FrontendReader, ProtocolViolation, type FrontendMessage, type StartupPacket } from './frontend-reader.js';
import { socketSink, type MessageSink } from './message-sink.js';
import { TransactionStatus } from './protocol-constants.js';
import { ReplyFilter } from './reply-filter.js';
import {
  captureSettings,
  fixedReports,
  parseStartupOptions,
  REPORTED_SETTINGS,
  settingValue,
  type SettingPairs,
} from './session-settings.js';
import { quoteIdent } from '../catalog/ddl.js';
import { rewriteSql, type RewrittenSql } from './sql-rewrite.js';

export interface SessionSettings {
  serverVersion: string;
  defaultSchema: string;
  maxMessageBytes: number;
  /** Authentication; trust when absent. */
  auth?: AuthConfig;
  /** TLS offered in answer to SSLRequest; 'N' when absent. */
  tls?: SecureContext;
  /** A session idle inside a transaction block longer than this is terminated (it holds the shared backend). */
  idleInTransactionTimeoutMs?: number;
  /** A client that takes none of a statement's reply bytes for this long (the engine waiting on it) is disconnected. */
  clientWriteTimeoutMs?: number;
}

export interface SessionHooks {
  /** A CancelRequest arrived on this connection for (processId, secretKey). */
  cancel(processId: number, secretKey: number): void;
  opened(session: Session): void;
  closed(session: Session): void;
}

export interface SessionServices {
  executor: StatementExecutor;
  engine: Engine;
}

/** Extended-protocol messages collected until Sync or Flush and then sent to the engine in one go. */
const EXTENDED_MESSAGES = new Set(['P', 'B', 'D', 'E', 'C', 'H', 'S']);
/** Messages PostgreSQL ignores outside COPY IN. */
const IGNORED_MESSAGES = new Set(['d', 'c', 'f']);
/** Startup parameters that are not settings. */
const NOT_SETTINGS = new Set(['user', 'database', 'options', 'replication']);
const DEFAULT_IDLE_IN_TRANSACTION_MS = 10 * 60_000;
const STARTUP_TIMEOUT_MS = 60_000;
const DEFAULT_CLIENT_WRITE_TIMEOUT_MS = 60_000;

let sessionCounter = 0;

interface PreparedStatement {
  sql: string;
  /** The Parse message as sent to the engine (prefixed name), kept to re-create the statement. */
  parse: Buffer;
  /** Engine.restarts when the statement was created on the backend; -1 when it is not there. */
  generation: number;
  relations: RelationName[];
}

interface Running {
  controller: AbortController;
  inEngine: boolean;
}

interface Turn {
  /** The stream tables the statements read (from the read-only gate's analysis). */
  relations: RelationName[];
  payload: Buffer;
  endsWithSync: boolean;
  maySetSettings: boolean;
  /** Parse messages to run first (statements the backend lost); computed with the engine held. */
  replays?: () => Buffer[];
  /** Work after the reply, engine still held (before ReadyForQuery goes out). */
  after?: (filter: ReplyFilter) => Promise<void>;
}

/**
 * One client connection: startup, authentication, then statements until Terminate or the socket closes.
 *
 * All sessions share ONE engine backend, so a session's protocol state is kept here and mapped onto it:
 * - statement and portal names (protocol and SQL level) get a per-session prefix on the backend;
 * - the session's settings are re-applied whenever the backend last ran with other settings;
 * - while the session is inside a transaction block (status T/E) or in the middle of an unsynced
 *   extended-protocol exchange, it keeps the backend to itself: other sessions' statements and stream
 *   catch-ups queue until it ends the block (bounded by idleInTransactionTimeoutMs). Inside a block the
 *   stream tables are not caught up again (that would need the backend the block holds): a transaction
 *   sees the tables as they were when it began, which is also the snapshot a read-only block expects.
 * - cancel and statement_timeout stop the engine (Engine.restart): the session's statement fails with
 *   57014; a transaction block it was in is failed (E) until ROLLBACK, as PostgreSQL would leave it.
 *   Other sessions' named statements are re-created from their kept Parse messages when next used.
 */
export class Session {
  readonly processId: number;
  readonly secretKey: number;
  private readonly prefix: string;
  private readonly reader: FrontendReader;
  private stream: Socket;
  private send: MessageSink;
  private readonly context: SessionContext;
  private readonly executor: StatementExecutor;
  private readonly engine: Engine;
  private phase: 'startup' | 'auth' | 'ready' = 'startup';
  private authenticate: ((message: FrontendMessage) => Promise<void>) | undefined;
  private startupParameters = new Map<string, string>();
  private transactionStatus: TransactionStatus = TransactionStatus.Idle;
  /** The engine was restarted under this session's transaction block: it is failed until ROLLBACK. */
  private phantomFailed = false;
  private releaseEngine: (() => void) | undefined;
  /**
   * BEGIN is not sent to the backend when it arrives but just before the block's first statement, after
   * that statement's stream tables are caught up: a block then holds the backend only from its first real
   * statement, and sees the streams as of that statement (PostgreSQL, too, takes a transaction's snapshot
   * at its first statement, not at BEGIN).
   */
  private deferredBegin: string | undefined;
  private processing: Promise<void> = Promise.resolve();
  private extendedBatch: FrontendMessage[] = [];
  private discardUntilSync = false;
  private readonly statements = new Map<string, PreparedStatement>();
  private unnamed: (Omit<PreparedStatement, 'generation'> & { token: object }) | undefined;
  /**
   * SQL-level PREPAREs of this session that succeeded, by client name: the PREPARE as sent to the engine
   * and the engine generation it was run in, so EXECUTE can re-create one the engine lost (cancel restarts it).
   */
  private readonly sqlPrepared = new Map<string, { sql: string; generation: number }>();
  private createdBackendObjects = false;
  private settingsState: SettingPairs = [];
  private startupSettings: SettingPairs = [];
  private readonly reported = new Map<string, string>();
  private settingsDirty = false;
  private running: Running | undefined;
  private cancelReason: StopReason | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private user = '';
  private closed = false;

  constructor(
    socket: Socket,
    services: SessionServices,
    private readonly settings: SessionSettings,
    private readonly hooks: SessionHooks,
    private readonly logger: Logger,
  ) {
    sessionCounter += 1;
    this.prefix = `_k${sessionCounter}_`;
    this.processId = randomInt(1, 2 ** 31 - 1);
    this.secretKey = randomInt(1, 2 ** 31 - 1);
    this.executor = services.executor;
    this.engine = services.engine;
    this.reader = new FrontendReader(settings.maxMessageBytes);
    this.stream = socket;
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
      clearTimeout(startupTimer);
      this.clearIdleTimer();
      // Stop a statement still catching up or waiting for the engine now, not after it has run.
      this.running?.controller.abort(new StatementError('connection closed', '08006'));
      this.processing = this.processing.then(() => this.cleanUp()).catch((error: unknown) => this.logger.warn({ err: error }, 'session clean-up failed'));
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
    this.user = user;
    this.startupParameters = parameters;
    this.reader.expectTypedMessages();
    const unsupportedOptions = [...parameters.keys()].filter((name) => name.startsWith('_pq_.'));
    if (minor > 0 || unsupportedOptions.length > 0) await this.send(backend.negotiateProtocolVersion(0, unsupportedOptions));
    await this.beginAuthentication();
  }

  private async beginAuthentication(): Promise<void> {
    const auth = this.settings.auth;
    if (!auth || auth.method === 'trust') {
      await this.completeStartup();
      return;
    }
    const secret = auth.users.get(this.user);
    this.phase = 'auth';
    const refuse = (): Promise<void> =>
      this.fatal({ code: '28P01', message: `password authentication failed for user "${this.user}"` });
    // As PostgreSQL: md5 configured but only a SCRAM verifier stored → SCRAM; a cleartext password checks either.
    const method = auth.method === 'md5' && secret?.kind === 'scram' ? 'scram-sha-256' : auth.method === 'scram-sha-256' && secret?.kind === 'md5' ? 'md5' : auth.method;
    if (method === 'password') {
      this.authenticate = async (message) => {
        const password = passwordOf(message);
        if (secret && cleartextMatches(secret, this.user, password)) await this.completeStartup();
        else await refuse();
      };
      await this.send(backend.authenticationCleartextPassword());
    } else if (method === 'md5') {
      const salt = randomBytes(4);
      this.authenticate = async (message) => {
        const response = passwordOf(message);
        if (secret?.kind === 'md5' && md5ResponseMatches(secret, salt, response)) await this.completeStartup();
        else await refuse();
      };
      await this.send(backend.authenticationMd5Password(salt));
    } else {
      await this.beginScram(secret, refuse);
    }
  }

  private async beginScram(secret: StoredSecret | undefined, refuse: () => Promise<void>): Promise<void> {
    const exchange = new ScramExchange(secret?.kind === 'scram' ? secret.verifier : undefined);
    let step: 'first' | 'final' = 'first';
    this.authenticate = async (message) => {
      try {
        const body = new BodyReader(message.body);
        if (step === 'first') {
          const mechanism = body.cstring();
          if (mechanism !== 'SCRAM-SHA-256') {
            await this.fatal({ code: '08P01', message: 'client selected an invalid SASL authentication mechanism' });
            return;
          }
          const length = body.int32();
          const serverFirst = exchange.start(body.bytes(length).toString('utf8'));
          step = 'final';
          await this.send(backend.authenticationSaslContinue(Buffer.from(serverFirst)));
        } else {
          const serverFinal = exchange.finish(body.bytes(body.remaining).toString('utf8'));
          await this.send(backend.authenticationSaslFinal(Buffer.from(serverFinal)));
          await this.completeStartup();
        }
      } catch (error) {
        if (!(error instanceof ScramFailure)) throw error;
        await refuse();
      }
    };
    await this.send(backend.authenticationSasl(['SCRAM-SHA-256']));
  }

  /** AuthenticationOk, the session's initial settings, ParameterStatus, BackendKeyData, ReadyForQuery. */
  private async completeStartup(): Promise<void> {
    this.phase = 'ready';
    this.authenticate = undefined;
    const parameters = this.startupParameters;
    const initial: [string, string][] = [];
    for (const [name, value] of parameters) {
      if (!NOT_SETTINGS.has(name) && !name.startsWith('_pq_.')) initial.push([name, value]);
    }
    initial.push(...parseStartupOptions(parameters.get('options') ?? ''));
    // Startup parameters and `-c` options are SETs too: the read-only gate's allow-list applies to them.
    for (const [name, value] of initial) {
      const refusal = settingRefusal(name, value);
      if (refusal !== undefined) {
        await this.fatal({ code: '25006', message: refusal });
        return;
      }
    }
    const release = await this.engine.acquire();
    try {
      await this.engine.applySettings([]);
      // As the client statements' role, so the settings PostgreSQL reserves to superusers stay reserved.
      await this.engine.enterReader({});
      for (const [name, value] of initial) {
        try {
          await this.engine.query('select set_config($1, $2, false)', [name, value]);
        } catch (error) {
          this.engine.forgetSettings();
          const engineError = error as EngineError;
          await this.fatal({ code: engineError.code ?? '22023', message: engineError.message });
          return;
        }
      }
      const captured = await captureSettings(this.engine);
      this.settingsState = captured.session;
      this.startupSettings = captured.session;
      this.context.settings = new Map(captured.session.map(([name, value]) => [name.toLowerCase(), value]));
      this.engine.noteSettings(captured.session);
      const fixed = fixedReports(this.user);
      for (const name of REPORTED_SETTINGS) this.reported.set(name, fixed[name] ?? captured.reported.get(name) ?? '');
      this.reported.set('server_version', this.settings.serverVersion);
    } finally {
      release();
    }
    await this.send(
      Buffer.concat([
        backend.authenticationOk(),
        ...[...this.reported].map(([name, value]) => backend.parameterStatus(name, value)),
        backend.backendKeyData(this.processId, this.secretKey),
        backend.readyForQuery(this.transactionStatus),
      ]),
    );
    this.hooks.opened(this);
    this.logger.info({ user: this.user, database: parameters.get('database') ?? this.user, application: parameters.get('application_name') ?? '' }, 'session started');
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
    if (message.type === 'X') {
      this.closed = true;
      this.stream.end();
      return;
    }
    if (EXTENDED_MESSAGES.has(message.type)) {
      if (this.discardUntilSync) {
        if (message.type === 'S') {
          this.discardUntilSync = false;
          await this.finishFailedBatch();
        }
        return;
      }
      this.extendedBatch.push(message);
      if (message.type === 'S' || message.type === 'H') await this.flushExtendedBatch();
      return;
    }
    if (message.type === 'Q') {
      await this.onQuery(message);
      return;
    }
    if (IGNORED_MESSAGES.has(message.type)) return;
    if (message.type === 'F') {
      await this.send(Buffer.concat([backend.error({ code: '0A000', message: 'fastpath function calls are not supported' }), backend.readyForQuery(this.transactionStatus)]));
      return;
    }
    await this.fatal({ code: '08P01', message: `invalid frontend message type ${message.raw[0]}` });
  }

  // ---- simple query ------------------------------------------------------------------------------

  private async onQuery(message: FrontendMessage): Promise<void> {
    const sql = new BodyReader(message.body).cstring();
    const rewritten = rewriteSql(sql, this.prefix);
    if (sql.trim() === '') {
      await this.send(Buffer.concat([backend.emptyQueryResponse(), backend.readyForQuery(this.transactionStatus)]));
      return;
    }
    if (this.phantomFailed) {
      await this.phantomQuery(rewritten);
      return;
    }
    if (rewritten.sessionCommand) {
      await this.sessionCommand(rewritten);
      return;
    }
    if (await this.deferBegin(rewritten)) return;
    let relations: RelationName[];
    try {
      relations = this.executor.analyze(sql);
    } catch (error) {
      if (!(error instanceof StatementError)) throw error;
      await this.errorAndReady(statementErrorFields(error));
      return;
    }
    if (rewritten.sql !== sql) this.createdBackendObjects = true;
    const prepared = sqlPreparedChanges(rewritten, this.prefix);
    await this.turn({
      relations,
      payload: frontendMessage('Q', Buffer.from(`${this.executor.prepareSql(rewritten.sql, this.context)}\0`, 'utf8')),
      endsWithSync: true,
      maySetSettings: rewritten.maySetSettings,
      replays: () =>
        prepared.executes.flatMap((name) => {
          const entry = this.sqlPrepared.get(name);
          if (!entry || entry.generation === this.engine.restarts) return [];
          entry.generation = this.engine.restarts;
          return [frontendMessage('Q', Buffer.from(`${entry.sql}\0`, 'utf8'))];
        }),
      after: async (filter) => {
        if (filter.errors > 0) return;
        for (const [name, sql] of prepared.prepares) this.sqlPrepared.set(name, { sql, generation: this.engine.restarts });
        for (const name of prepared.deallocates) this.sqlPrepared.delete(name);
      },
    });
  }

  /** Answers a lone BEGIN (and the COMMIT/ROLLBACK of a block that never ran anything) without the backend. */
  private async deferBegin(rewritten: RewrittenSql): Promise<boolean> {
    if (rewritten.statements.length !== 1) return false;
    const statement = rewritten.statements[0]!;
    if (this.deferredBegin !== undefined && endsTransaction(statement)) {
      this.deferredBegin = undefined;
      this.transactionStatus = TransactionStatus.Idle;
      await this.send(Buffer.concat([commandComplete(statement.commandTag === 'COMMIT' ? 'COMMIT' : 'ROLLBACK'), backend.readyForQuery(this.transactionStatus)]));
      return true;
    }
    if (this.releaseEngine || this.transactionStatus !== TransactionStatus.Idle || !startsTransaction(statement)) return false;
    try {
      this.executor.analyze(rewritten.sql);
    } catch (error) {
      if (!(error instanceof StatementError)) throw error;
      return false;
    }
    this.deferredBegin = rewritten.sql;
    this.transactionStatus = TransactionStatus.InTransaction;
    await this.send(Buffer.concat([commandComplete(statement.commandTag), backend.readyForQuery(this.transactionStatus)]));
    return true;
  }

  /** DISCARD ALL, DEALLOCATE ALL and CLOSE ALL act on this session's objects only. */
  private async sessionCommand(rewritten: RewrittenSql): Promise<void> {
    const command = rewritten.sessionCommand!;
    const tag = { 'discard-all': 'DISCARD ALL', 'deallocate-all': 'DEALLOCATE ALL', 'close-all': 'CLOSE CURSOR ALL' }[command];
    if (rewritten.statements.length > 1) {
      await this.errorAndReady({ code: '0A000', message: `${tag} must be sent on its own in kinesql` });
      return;
    }
    if (command === 'discard-all' && this.transactionStatus !== TransactionStatus.Idle) {
      await this.errorAndReady({ code: '25001', message: 'DISCARD ALL cannot run inside a transaction block' });
      return;
    }
    const held = this.releaseEngine !== undefined;
    const release = this.releaseEngine ?? (await this.engine.acquire());
    try {
      if (!held) await this.engine.applySettings(this.settingsState);
      await this.dropBackendObjects(command !== 'close-all', command !== 'deallocate-all');
      if (command !== 'close-all') this.sqlPrepared.clear();
      if (command === 'discard-all') {
        this.statements.clear();
        this.unnamed = undefined;
        this.settingsState = this.startupSettings;
        await this.engine.applySettings(this.settingsState);
        await this.reportSettings();
      }
    } finally {
      if (!held) release();
    }
    await this.send(Buffer.concat([commandComplete(tag), backend.readyForQuery(this.transactionStatus)]));
  }

  // ---- extended protocol -------------------------------------------------------------------------

  private async flushExtendedBatch(): Promise<void> {
    const batch = this.extendedBatch;
    this.extendedBatch = [];
    const endsWithSync = batch.at(-1)?.type === 'S';
    if (this.phantomFailed) {
      await this.phantomBatch(batch, endsWithSync);
      return;
    }
    const out: Buffer[] = [];
    const relations: RelationName[] = [];
    const referenced = new Set<string>();
    const parsedHere = new Set<string>();
    const namedParsed: string[] = [];
    let unnamedParsed = false;
    let maySetSettings = false;
    const named = (name: string): string => (name === '' ? '' : this.prefix + name);
    try {
      for (const message of batch) {
        switch (message.type) {
          case 'P': {
            const parse = readParse(message.body);
            const renamed = rewriteSql(parse.query, this.prefix);
            const rewritten = { ...renamed, sql: this.executor.prepareSql(renamed.sql, this.context) };
            if (rewritten.sessionCommand) throw new StatementError(`${rewritten.sessionCommand.replace('-', ' ').toUpperCase()} is only supported as a simple query in kinesql`, '0A000');
            maySetSettings ||= rewritten.maySetSettings;
            // The gate sees the client's text; a refused statement is never stored or sent.
            const statementRelations = this.executor.analyze(parse.query);
            relations.push(...statementRelations);
            const sent = buildParse({ ...parse, name: named(parse.name), query: rewritten.sql });
            if (rewritten.sql !== parse.query) this.createdBackendObjects = true;
            parsedHere.add(parse.name);
            if (parse.name === '') {
              this.unnamed = { sql: rewritten.sql, parse: sent, token: {}, relations: statementRelations };
              unnamedParsed = true;
            } else {
              this.statements.set(parse.name, { sql: rewritten.sql, parse: sent, generation: -1, relations: statementRelations });
              namedParsed.push(parse.name);
              this.createdBackendObjects = true;
            }
            out.push(sent);
            break;
          }
          case 'B': {
            const bind = readBind(message.body);
            const statement = bind.statement === '' ? this.unnamed : this.statements.get(bind.statement);
            if (statement && !parsedHere.has(bind.statement)) relations.push(...statement.relations);
            if (!parsedHere.has(bind.statement)) referenced.add(bind.statement);
            out.push(buildBind({ ...bind, portal: named(bind.portal), statement: named(bind.statement) }));
            break;
          }
          case 'D':
          case 'C': {
            const target = readTarget(message.body, message.type === 'D' ? 'Describe' : 'Close');
            if (target.kind === 'S' && message.type === 'D' && !parsedHere.has(target.name)) referenced.add(target.name);
            if (target.kind === 'S' && message.type === 'C') {
              if (target.name === '') this.unnamed = undefined;
              else this.statements.delete(target.name);
            }
            out.push(buildTarget(message.type, { ...target, name: named(target.name) }));
            break;
          }
          case 'E': {
            const execute = readExecute(message.body);
            out.push(buildExecute({ ...execute, portal: named(execute.portal) }));
            break;
          }
          default:
            out.push(message.raw);
        }
      }
    } catch (error) {
      if (!(error instanceof ProtocolViolation) && !(error instanceof StatementError)) throw error;
      await this.send(backend.error(error instanceof StatementError ? statementErrorFields(error) : { code: error.sqlstate, message: error.message }));
      if (endsWithSync) await this.finishFailedBatch();
      else this.discardUntilSync = true;
      return;
    }
    await this.turn({
      relations,
      payload: Buffer.concat(out),
      endsWithSync,
      maySetSettings,
      replays: () => this.replaysFor(referenced),
      after: async (filter) => {
        if (unnamedParsed && this.unnamed) this.engine.unnamedStatementOwner = this.unnamed.token;
        for (const name of namedParsed) {
          const statement = this.statements.get(name);
          if (statement) statement.generation = this.engine.restarts;
        }
        // Only a synced, idle backend can be asked which Parses failed; otherwise the statements stay recorded
        // and the engine answers a Bind of a failed one with 26000, as PostgreSQL would.
        const canAsk = endsWithSync && this.transactionStatus === TransactionStatus.Idle;
        if (filter.errors > 0 && namedParsed.length > 0 && canAsk) await this.forgetFailedParses(namedParsed);
      },
    });
  }

  /** Parse messages for statements this batch uses that the backend no longer holds (engine restart, or another session's unnamed statement). */
  private replaysFor(referenced: Set<string>): Buffer[] {
    const replays: Buffer[] = [];
    for (const name of referenced) {
      if (name === '') {
        if (this.unnamed && this.engine.unnamedStatementOwner !== this.unnamed.token) {
          replays.push(this.unnamed.parse);
          this.engine.unnamedStatementOwner = this.unnamed.token;
        }
        continue;
      }
      const statement = this.statements.get(name);
      if (statement && statement.generation !== this.engine.restarts) {
        replays.push(statement.parse);
        statement.generation = this.engine.restarts;
      }
    }
    return replays;
  }

  /** After a batch with errors, forgets named statements whose Parse failed (the backend does not have them). */
  private async forgetFailedParses(names: string[]): Promise<void> {
    const result = await this.engine.query('select name from pg_prepared_statements where name = any($1::text[])', [names.map((name) => this.prefix + name)]);
    const present = new Set(result.rows.map((row) => String(row['name'])));
    for (const name of names) if (!present.has(this.prefix + name)) this.statements.delete(name);
  }

  /** ReadyForQuery at the Sync that ends a batch kinesql refused part of. */
  private async finishFailedBatch(): Promise<void> {
    if (this.releaseEngine && this.transactionStatus === TransactionStatus.Idle && !this.phantomFailed) {
      // An unsynced exchange was open on the backend: close it there too.
      await this.engine.protocol(SYNC, () => undefined).catch(() => undefined);
      this.releaseHold();
    }
    await this.send(backend.readyForQuery(this.transactionStatus));
  }

  // ---- running on the engine ---------------------------------------------------------------------

  private async turn(turn: Turn): Promise<void> {
    const controller = new AbortController();
    this.running = { controller, inEngine: false };
    this.cancelReason = undefined;
    const timeoutMs = Number(settingValue(this.settingsState, 'statement_timeout') ?? '0');
    const timer = timeoutMs > 0 ? setTimeout(() => this.cancel('timeout'), timeoutMs) : undefined;
    const heldBefore = this.releaseEngine !== undefined;
    this.clearIdleTimer();
    try {
      if (!heldBefore) {
        await this.executor.catchUp(turn.relations, this.context, controller.signal, this.send);
        this.releaseEngine = await this.engine.acquire(controller.signal);
        await this.engine.applySettings(this.settingsState);
        await this.executor.enterStatement(turn.relations, this.context);
      }
      this.running.inEngine = true;
      if (this.deferredBegin !== undefined) {
        const begin = this.deferredBegin;
        this.deferredBegin = undefined;
        await this.engine.protocol(frontendMessage('Q', Buffer.from(`${begin}\0`, 'utf8')), () => undefined);
      }
      const replays = turn.replays?.() ?? [];
      if (replays.length > 0) await this.engine.protocol(Buffer.concat([...replays, SYNC]), () => undefined);
      const filter = new ReplyFilter(this.prefix, (bytes) => this.sendWhileEngineWaits(bytes));
      await this.engine.protocol(turn.payload, (chunk) => filter.push(chunk));
      this.running.inEngine = false;
      if (filter.status !== undefined) this.transactionStatus = filter.status as TransactionStatus;
      await turn.after?.(filter);
      if (turn.endsWithSync && this.transactionStatus !== TransactionStatus.Failed) {
        await this.executor.afterStatement(turn.relations, this.context).catch((error: unknown) =>
          this.logger.warn({ err: error }, 'checkpoint not saved'),
        );
      }
      if (turn.maySetSettings || this.settingsDirty) {
        // Settings changed inside a block are read again when it ends (ROLLBACK undoes them); a failed
        // block cannot be read at all until then.
        this.settingsDirty = this.transactionStatus !== TransactionStatus.Idle || !turn.endsWithSync;
        if (this.transactionStatus !== TransactionStatus.Failed) await this.reportSettings();
      }
      const ready = filter.takeReady();
      if (ready) await this.send(ready);
      if (turn.endsWithSync && this.transactionStatus === TransactionStatus.Idle) this.releaseHold();
      else this.startIdleTimer();
    } catch (error) {
      await this.afterFailedTurn(error, turn, heldBefore);
    } finally {
      if (timer) clearTimeout(timer);
      this.running = undefined;
    }
  }

  private async afterFailedTurn(error: unknown, turn: Turn, heldBefore: boolean): Promise<void> {
    const inEngine = this.running?.inEngine ?? false;
    if (error instanceof EngineRestarted || inEngine) {
      // The backend is gone (cancel, timeout, or the engine failed): nothing of this session survives on it.
      const wasInBlock = heldBefore && this.transactionStatus !== TransactionStatus.Idle;
      this.releaseHold();
      if (wasInBlock || (this.releaseEngine === undefined && this.transactionStatus !== TransactionStatus.Idle)) {
        this.phantomFailed = true;
        this.transactionStatus = TransactionStatus.Failed;
      } else {
        this.phantomFailed = false;
        this.transactionStatus = TransactionStatus.Idle;
      }
      const fields = this.cancelReason ? cancelError(this.cancelReason) : { code: 'XX000', message: `engine failure: ${(error as Error).message}` };
      if (!this.cancelReason) this.logger.error({ err: error }, 'statement failed in the engine');
      await this.reportTurnError(fields, turn.endsWithSync);
      return;
    }
    if (error instanceof StatementError) {
      if (!heldBefore) this.releaseHold();
      if (this.deferredBegin !== undefined) {
        // The block's first statement failed before the block reached the backend: the block is failed.
        this.deferredBegin = undefined;
        this.phantomFailed = true;
        this.transactionStatus = TransactionStatus.Failed;
      }
      await this.reportTurnError(statementErrorFields(error), turn.endsWithSync);
      return;
    }
    // Anything else leaves the backend in a state nobody knows (a transaction open or aborted, a protocol
    // exchange half done): start it afresh, as a cancel does, before other sessions use it.
    if (this.releaseEngine) await this.engine.restart().catch((restartError: unknown) => this.logger.error({ err: restartError }, 'engine restart failed'));
    this.releaseHold();
    throw error;
  }

  private async reportTurnError(fields: ErrorFields, endsWithSync: boolean): Promise<void> {
    await this.send(backend.error(fields));
    if (endsWithSync) await this.send(backend.readyForQuery(this.transactionStatus));
    else this.discardUntilSync = true;
  }

  /** Reads the session's settings back from the backend and sends ParameterStatus for reported ones that changed. */
  private async reportSettings(): Promise<void> {
    const captured = await captureSettings(this.engine);
    this.settingsState = captured.session;
    this.engine.noteSettings(captured.session);
    this.context.settings = new Map(captured.session.map(([name, value]) => [name.toLowerCase(), value]));
    const fixed = fixedReports(this.user);
    const messages: Buffer[] = [];
    for (const name of REPORTED_SETTINGS) {
      if (name in fixed || name === 'server_version') continue;
      const value = captured.reported.get(name);
      if (value !== undefined && value !== this.reported.get(name)) {
        this.reported.set(name, value);
        messages.push(backend.parameterStatus(name, value));
      }
    }
    if (messages.length > 0) await this.send(Buffer.concat(messages));
  }

  /**
   * Sends reply bytes the engine is producing. The engine (and so every session) waits while they are not
   * taken: a client that takes none of them for clientWriteTimeoutMs is disconnected and the engine freed.
   */
  private sendWhileEngineWaits(bytes: Uint8Array): Promise<void> {
    const ms = this.settings.clientWriteTimeoutMs ?? DEFAULT_CLIENT_WRITE_TIMEOUT_MS;
    const timer = setTimeout(() => this.abandonStalledClient(ms), ms);
    return this.send(bytes).finally(() => clearTimeout(timer));
  }

  private abandonStalledClient(ms: number): void {
    if (this.closed) return;
    const message = `terminating connection: client did not read its results for ${ms / 1000} s`;
    this.logger.warn({ user: this.user, ms }, 'terminating a session whose client does not read its results');
    this.cancel('client-write-timeout');
    // The client is not reading, so the FATAL can only be offered: it is lost with the socket's buffer.
    this.stream.write(backend.error({ severity: 'FATAL', code: '08006', message }));
    this.closed = true;
    this.stream.destroy();
  }

  /** CancelRequest (reason user), statement_timeout, or a client not reading: stops this session's statement. */
  cancel(reason: StopReason): void {
    const running = this.running;
    if (!running) return;
    this.cancelReason = reason;
    const { code, message } = cancelError(reason);
    if (running.inEngine) {
      this.logger.info({ reason }, 'stopping the engine to cancel a statement');
      this.engine.restart().catch((error: unknown) => this.logger.error({ err: error }, 'engine restart failed'));
    } else {
      running.controller.abort(new StatementError(message, code));
    }
  }

  private releaseHold(): void {
    this.clearIdleTimer();
    const release = this.releaseEngine;
    this.releaseEngine = undefined;
    release?.();
  }

  private startIdleTimer(): void {
    this.clearIdleTimer();
    if (!this.releaseEngine) return;
    const ms = this.settings.idleInTransactionTimeoutMs ?? DEFAULT_IDLE_IN_TRANSACTION_MS;
    this.idleTimer = setTimeout(() => {
      this.logger.warn({ user: this.user, ms }, 'terminating a session idle in transaction');
      this.closeAtOnce(backend.error({ severity: 'FATAL', code: '25P03', message: 'terminating connection due to idle-in-transaction timeout' }));
    }, ms);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  // ---- failed transaction after an engine restart -------------------------------------------------

  private async phantomQuery(rewritten: RewrittenSql): Promise<void> {
    if (rewritten.statements.length > 0 && rewritten.statements.every(endsTransaction)) {
      this.phantomFailed = false;
      this.transactionStatus = TransactionStatus.Idle;
      await this.send(Buffer.concat([commandComplete('ROLLBACK'), backend.readyForQuery(this.transactionStatus)]));
      return;
    }
    await this.errorAndReady(abortedTransaction());
  }

  private async phantomBatch(batch: FrontendMessage[], endsWithSync: boolean): Promise<void> {
    const replies: Buffer[] = [];
    let failed = false;
    for (const message of batch) {
      if (failed && message.type !== 'S') continue;
      switch (message.type) {
        case 'P': {
          const parse = readParse(message.body);
          const rewritten = rewriteSql(parse.query, this.prefix);
          const sent = buildParse({ ...parse, name: parse.name === '' ? '' : this.prefix + parse.name, query: rewritten.sql });
          if (parse.name === '') this.unnamed = { sql: rewritten.sql, parse: sent, token: {}, relations: [] };
          else this.statements.set(parse.name, { sql: rewritten.sql, parse: sent, generation: -1, relations: [] });
          replies.push(backend.parseComplete());
          break;
        }
        case 'B': {
          const bind = readBind(message.body);
          const statement = bind.statement === '' ? this.unnamed : this.statements.get(bind.statement);
          const parsed = statement ? rewriteSql(statement.sql, this.prefix).statements : [];
          if (parsed.length === 1 && endsTransaction(parsed[0]!)) replies.push(backend.bindComplete());
          else {
            replies.push(backend.error(abortedTransaction()));
            failed = true;
          }
          break;
        }
        case 'D':
          replies.push(backend.noData());
          break;
        case 'E':
          this.phantomFailed = false;
          this.transactionStatus = TransactionStatus.Idle;
          replies.push(commandComplete('ROLLBACK'));
          break;
        case 'C':
          replies.push(backend.closeComplete());
          break;
        case 'S':
          replies.push(backend.readyForQuery(this.transactionStatus));
          break;
      }
    }
    if (failed && !endsWithSync) this.discardUntilSync = true;
    await this.send(Buffer.concat(replies));
  }

  // ---- ending ------------------------------------------------------------------------------------

  /** Closes this session's prepared statements and cursors on the shared backend. Call with the engine held. */
  private async dropBackendObjects(statements: boolean, cursors: boolean): Promise<void> {
    const found = await this.engine.query(
      `select 'DEALLOCATE' as verb, name from pg_prepared_statements where $2 and starts_with(name, $1)
       union all select 'CLOSE', name from pg_cursors where $3 and starts_with(name, $1)`,
      [this.prefix, statements, cursors],
    );
    const sql = found.rows.map((row) => `${String(row['verb'])} ${quoteIdent(String(row['name']))}`).join('; ');
    if (sql !== '') await this.engine.exec(sql);
  }

  private async cleanUp(): Promise<void> {
    this.running?.controller.abort(new StatementError('connection closed', '08006'));
    if (!this.releaseEngine && !this.createdBackendObjects) return;
    const held = this.releaseEngine !== undefined;
    const release = this.releaseEngine ?? (await this.engine.acquire());
    this.releaseEngine = undefined;
    try {
      if (held) {
        await this.engine.protocol(SYNC, () => undefined);
        if (this.transactionStatus !== TransactionStatus.Idle && !this.phantomFailed) await this.engine.exec('ROLLBACK');
      }
      if (this.createdBackendObjects) await this.dropBackendObjects(true, true);
    } catch (error) {
      this.logger.debug({ err: error }, 'could not clean up the session on the engine');
    } finally {
      release();
    }
  }

  private async errorAndReady(fields: ErrorFields): Promise<void> {
    await this.send(Buffer.concat([backend.error(fields), backend.readyForQuery(this.transactionStatus)]));
  }

  /**
   * Offers a last message and closes the connection without waiting for the client to read it or to close
   * its side: the session's cleanup (ROLLBACK, releasing the engine) must not depend on a silent client.
   */
  private closeAtOnce(lastMessage: Buffer): void {
    this.closed = true;
    this.stream.end(lastMessage);
    setTimeout(() => this.stream.destroy(), 1_000).unref();
  }

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
  }
}

function statementErrorFields(error: StatementError): ErrorFields {
  return { code: error.sqlstate, message: error.message, ...(error.position ? { position: error.position } : {}) };
}

function passwordOf(message: FrontendMessage): string {
  return new BodyReader(message.body).cstring();
}

function commandComplete(tag: string): Buffer {
  return frontendMessage('C', Buffer.from(`${tag}\0`, 'utf8'));
}

type StopReason = 'user' | 'timeout' | 'client-write-timeout';

function cancelError(reason: StopReason): { code: string; message: string } {
  if (reason === 'client-write-timeout') return { code: '08006', message: 'client did not read its results' };
  return {
    code: '57014',
    message: reason === 'timeout' ? 'canceling statement due to statement timeout' : 'canceling statement due to user request',
  };
}

function abortedTransaction(): ErrorFields {
  return { code: '25P02', message: 'current transaction is aborted, commands ignored until end of transaction block' };
}

function startsTransaction(statement: { nodeType: string; node: unknown }): boolean {
  if (statement.nodeType !== 'TransactionStmt') return false;
  const kind = (statement.node as { TransactionStmt?: { kind?: string } }).TransactionStmt?.kind;
  return kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START';
}

function endsTransaction(statement: { nodeType: string; node: unknown }): boolean {
  if (statement.nodeType !== 'TransactionStmt') return false;
  const kind = (statement.node as { TransactionStmt?: { kind?: string } }).TransactionStmt?.kind;
  return kind === 'TRANS_STMT_ROLLBACK' || kind === 'TRANS_STMT_COMMIT';
}

/** The SQL-level PREPARE, EXECUTE and DEALLOCATE names of a simple query, with each PREPARE as the engine gets it. */
function sqlPreparedChanges(rewritten: RewrittenSql, prefix: string): { prepares: [string, string][]; executes: string[]; deallocates: string[] } {
  const prepares: [string, string][] = [];
  const executes: string[] = [];
  const deallocates: string[] = [];
  for (const statement of rewritten.statements) {
    const fields = (statement.node as unknown as Record<string, Record<string, unknown>>)[statement.nodeType] ?? {};
    const name = fields['name'];
    if (typeof name !== 'string') continue;
    if (statement.nodeType === 'PrepareStmt') prepares.push([name, rewriteSql(statement.text, prefix).sql]);
    else if (statement.nodeType === 'ExecuteStmt') executes.push(name);
    else if (statement.nodeType === 'DeallocateStmt') deallocates.push(name);
  }
  return { prepares, executes, deallocates };
}
