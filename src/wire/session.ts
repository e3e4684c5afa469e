import { randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { SessionContext, StatementExecutor } from '../sql/statement-executor.js';
import { StatementError } from '../sql/statement-executor.js';
import type { RelationName } from '../sql/stream-tables.js';
import { backend, type ErrorFields } from './backend-writer.js';
import { BodyReader, FrontendReader, ProtocolViolation, type FrontendMessage, type StartupPacket } from './frontend-reader.js';
import { socketSink, type MessageSink } from './message-sink.js';
import { TransactionStatus } from './protocol-constants.js';

export interface SessionSettings {
  serverVersion: string;
  defaultSchema: string;
  maxMessageBytes: number;
}

export interface SessionHooks {
  /** A CancelRequest arrived on this connection for (processId, secretKey). */
  cancel(processId: number, secretKey: number): void;
  opened(session: Session): void;
  closed(session: Session): void;
}

/** Messages of the extended protocol that are forwarded to the engine in one batch at Sync or Flush. */
const EXTENDED_MESSAGES = new Set(['P', 'B', 'D', 'E', 'C', 'H', 'S']);

/** One client connection: startup, then statements until Terminate or the socket closes. */
export class Session {
  readonly processId: number;
  readonly secretKey: number;
  private readonly reader: FrontendReader;
  private readonly send: MessageSink;
  private readonly context: SessionContext;
  private transactionStatus: TransactionStatus = TransactionStatus.Idle;
  private processing: Promise<void> = Promise.resolve();
  private extendedBatch: FrontendMessage[] = [];
  /** Relations of this session's prepared statements, by name, so Execute of a named statement catches up its tables. */
  private readonly statementRelations = new Map<string, RelationName[]>();
  private user = '';
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly executor: StatementExecutor,
    private readonly settings: SessionSettings,
    private readonly hooks: SessionHooks,
    private readonly logger: Logger,
  ) {
    this.processId = randomInt(1, 2 ** 31 - 1);
    this.secretKey = randomInt(1, 2 ** 31 - 1);
    this.reader = new FrontendReader(settings.maxMessageBytes);
    this.send = socketSink(socket);
    this.context = { searchPath: [settings.defaultSchema, 'public'] };
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      // Messages are handled strictly in order; reading goes on while one is processed.
      this.processing = this.processing.then(() => this.drain()).catch((error: unknown) => this.fail(error));
    });
    socket.on('error', (error) => this.logger.debug({ err: error }, 'client socket error'));
    socket.on('close', () => {
      this.closed = true;
      this.hooks.closed(this);
    });
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
      case 'gssenc-request':
        await this.send(Buffer.from('N'));
        return;
      case 'cancel-request':
        this.hooks.cancel(packet.processId, packet.secretKey);
        this.socket.end();
        this.closed = true;
        return;
      case 'startup':
        await this.onStartup(packet.protocolVersion, packet.parameters);
        return;
    }
  }

  private async onStartup(protocolVersion: number, parameters: Map<string, string>): Promise<void> {
    const major = protocolVersion >> 16;
    const minor = protocolVersion & 0xffff;
    if (major !== 3) {
      await this.fatal({
        code: '0A000',
        message: `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.0`,
      });
      return;
    }
    const user = parameters.get('user');
    if (!user) {
      await this.fatal({ code: '28000', message: 'no PostgreSQL user name specified in startup packet' });
      return;
    }
    this.user = user;
    this.reader.expectTypedMessages();
    const unsupportedOptions = [...parameters.keys()].filter((name) => name.startsWith('_pq_.'));
    if (minor > 0 || unsupportedOptions.length > 0) await this.send(backend.negotiateProtocolVersion(0, unsupportedOptions));
    const applicationName = parameters.get('application_name') ?? '';
    await this.send(
      Buffer.concat([
        backend.authenticationOk(),
        backend.parameterStatus('application_name', applicationName),
        backend.parameterStatus('client_encoding', 'UTF8'),
        backend.parameterStatus('DateStyle', 'ISO, MDY'),
        backend.parameterStatus('default_transaction_read_only', 'on'),
        backend.parameterStatus('in_hot_standby', 'off'),
        backend.parameterStatus('integer_datetimes', 'on'),
        backend.parameterStatus('IntervalStyle', 'postgres'),
        backend.parameterStatus('is_superuser', 'off'),
        backend.parameterStatus('scram_iterations', '4096'),
        backend.parameterStatus('server_encoding', 'UTF8'),
        backend.parameterStatus('server_version', this.settings.serverVersion),
        backend.parameterStatus('session_authorization', user),
        backend.parameterStatus('standard_conforming_strings', 'on'),
        backend.parameterStatus('TimeZone', 'UTC'),
        backend.backendKeyData(this.processId, this.secretKey),
        backend.readyForQuery(this.transactionStatus),
      ]),
    );
    this.hooks.opened(this);
    this.logger.info({ user, database: parameters.get('database') ?? user, application: applicationName }, 'session started');
  }

  private async onMessage(message: FrontendMessage): Promise<void> {
    if (message.type === 'Q') {
      await this.onQuery(message);
      return;
    }
    if (message.type === 'X') {
      this.closed = true;
      this.socket.end();
      return;
    }
    if (EXTENDED_MESSAGES.has(message.type)) {
      this.extendedBatch.push(message);
      if (message.type === 'S' || message.type === 'H') await this.flushExtendedBatch();
      return;
    }
    await this.fatal({ code: '08P01', message: `invalid frontend message type ${message.raw[0]}` });
  }

  private async onQuery(message: FrontendMessage): Promise<void> {
    const sql = new BodyReader(message.body).cstring();
    if (sql.trim() === '') {
      await this.send(Buffer.concat([backend.emptyQueryResponse(), backend.readyForQuery(this.transactionStatus)]));
      return;
    }
    await this.execute(() => this.executor.analyze(sql), message.raw, true);
  }

  private async flushExtendedBatch(): Promise<void> {
    const batch = this.extendedBatch;
    this.extendedBatch = [];
    const relationsOfBatch = (): RelationName[] => {
      const relations: RelationName[] = [];
      for (const message of batch) {
        if (message.type === 'P') {
          const body = new BodyReader(message.body);
          const name = body.cstring();
          const found = this.executor.analyze(body.cstring());
          this.statementRelations.set(name, found);
          relations.push(...found);
        } else if (message.type === 'B') {
          const body = new BodyReader(message.body);
          body.cstring();
          relations.push(...(this.statementRelations.get(body.cstring()) ?? []));
        }
      }
      return relations;
    };
    const endsWithSync = batch[batch.length - 1]?.type === 'S';
    await this.execute(relationsOfBatch, Buffer.concat(batch.map((message) => message.raw)), endsWithSync);
  }

  private async execute(analyze: () => RelationName[], messages: Buffer, answersReady: boolean): Promise<void> {
    try {
      await this.executor.run(analyze(), messages, this.context, (bytes) => {
        this.noteTransactionStatus(bytes);
        return this.send(bytes);
      });
    } catch (error) {
      if (!(error instanceof StatementError)) throw error;
      const reply = [backend.error({ code: error.sqlstate, message: error.message, ...(error.position ? { position: error.position } : {}) })];
      if (answersReady) reply.push(backend.readyForQuery(this.transactionStatus));
      await this.send(Buffer.concat(reply));
    }
  }

  /** The engine's ReadyForQuery is the last message of each reply; its status byte is the session's. */
  private noteTransactionStatus(bytes: Uint8Array): void {
    const at = bytes.length - 6;
    if (at >= 0 && bytes[at] === 0x5a && bytes[at + 4] === 5) this.transactionStatus = bytes[at + 5] as TransactionStatus;
  }

  private async fatal(fields: Omit<ErrorFields, 'severity'>): Promise<void> {
    await this.send(backend.error({ ...fields, severity: 'FATAL' }));
    this.closed = true;
    this.socket.end();
  }

  private async fail(error: unknown): Promise<void> {
    if (error instanceof ProtocolViolation) {
      this.logger.warn({ err: error, user: this.user }, 'protocol violation');
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
