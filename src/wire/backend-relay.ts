import type { Socket } from 'node:net';
import { errorFields } from '../pg/error-response.js';
import { codecNamed, UTF8_CODEC, type TextCodec } from '../pg/client-encoding.js';
import type { ConnectionState } from './connection-state.js';

/** A whole backend message kinesql reads itself (its own exchanges with the session's backend). */
export interface BackendMessage {
  type: string;
  body: Buffer;
}

const READY_FOR_QUERY = 0x5a;
const ERROR_RESPONSE = 0x45;
const COMMAND_COMPLETE = 0x43;
const PARAMETER_STATUS = 0x53;

/** What came back for the client messages up to one ReadyForQuery. */
export interface TurnAnswer {
  failed: boolean;
  /** The SQLSTATE of the first ErrorResponse, if one came. */
  sqlstate?: string;
  /** Rows the commands reported (the number ending their CommandComplete tags), if any did. */
  rows?: number;
  /** The transaction status the ReadyForQuery gave. */
  status: number;
  /** The settings the backend reported with ParameterStatus on the way, by name. */
  reported: ReadonlyMap<string, string>;
}

const NONE_REPORTED: ReadonlyMap<string, string> = new Map();
const EMPTY = Buffer.alloc(0);

/** Extended-protocol messages the backend answers with one message (below) unless it fails them. */
const EXTENDED_QUESTIONS = new Set(['P', 'B', 'D', 'E', 'C'].map((type) => type.charCodeAt(0)));
/**
 * The message that ends the backend's answer to one of them: ParseComplete, BindComplete, CloseComplete,
 * RowDescription or NoData (Describe), CommandComplete, EmptyQueryResponse or PortalSuspended (Execute).
 */
const EXTENDED_ANSWERS = new Set(['1', '2', '3', 'T', 'n', 'C', 'I', 's'].map((type) => type.charCodeAt(0)));
const QUERY = 0x51;
const SYNC = 0x53;

/** What the backend owes the client for the messages forwarded, in order. */
type Owed =
  /** Answers to `count` extended-protocol messages. */
  | { kind: 'answers'; count: number }
  /** A ReadyForQuery: a Sync's, or a simple Query's (which the backend skips after a failed extended message, up to the Sync). */
  | { kind: 'ready'; after: 'sync' | 'query'; answered: ((answer: TurnAnswer) => void) | undefined };

/** The row count of a CommandComplete tag (`SELECT 5`, `FETCH 10`, `COPY 3`); undefined for tags without one. */
function rowsOf(body: Buffer): number | undefined {
  let end = body.length;
  if (body[end - 1] === 0) end -= 1;
  let start = end;
  while (start > 0 && body[start - 1]! >= 0x30 && body[start - 1]! <= 0x39) start -= 1;
  if (start === end || start === 0 || !isSpace(body[start - 1]!)) return undefined;
  return Number(body.toString('latin1', start, end));
}

/** What the regular expression \s matches in one byte (latin1). */
function isSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d) || byte === 0xa0;
}

/**
 * Passes a session's backend bytes to its client as they arrive, untouched, and keeps track of just enough
 * of the message stream: how many ReadyForQuery the client's messages still await, the transaction status
 * of the last one, and how many errors came. A client that does not read pauses its own backend only. Once
 * the connection is closed (kinesql's FATAL, Terminate), nothing more reaches the client.
 *
 * kinesql may run short exchanges of its own on the backend (reading the session's settings) when no
 * client message awaits an answer: their replies, up to their ReadyForQuery, go to kinesql, not the client.
 */
export class BackendRelay {
  /** Transaction status of the last ReadyForQuery: 'I' idle, 'T' in a block, 'E' in a failed block. */
  status = 0x49;
  /** ErrorResponses passed to the client so far. */
  errors = 0;
  /** Whether the backend sent a FATAL (or PANIC) error, as it does before ending a session it ends itself. */
  fatalSent = false;
  /** The session's client encoding, as the engine last reported it: what the client's SQL is read and passed on in. */
  codec: TextCodec;
  /** What the client's messages still await, in order; each ReadyForQuery tells whoever wants to know it came. */
  private owed: Owed[] = [];
  /** The backend failed an extended-protocol message: it skips everything the client sends up to a Sync. */
  private skipping = false;
  private idleWaiters: (() => void)[] = [];
  private errorsBeforeReady = 0;
  private sqlstateBeforeReady: string | undefined;
  private rowsBeforeReady: number | undefined;
  private reportedBeforeReady: Map<string, string> | undefined;
  private own: { messages: BackendMessage[]; done: (messages: BackendMessage[]) => void; failed: (error: Error) => void } | undefined;
  private closed = false;
  private readonly header = Buffer.alloc(5);
  private headerFill = 0;
  private type = 0;
  private remaining = -1;
  private collected: Buffer[] | undefined;

  constructor(
    private readonly backend: Socket,
    private readonly client: Socket,
    private readonly connection: ConnectionState,
    leftover: Buffer,
    private readonly onClose: () => void,
    clientEncoding = 'UTF8',
  ) {
    this.codec = codecNamed(clientEncoding) ?? UTF8_CODEC;
    backend.on('data', (chunk: Buffer) => this.onData(chunk));
    backend.on('close', () => this.onBackendClosed());
    backend.on('error', () => undefined);
    if (leftover.length > 0) this.onData(leftover);
  }

  /**
   * Sends whole client messages to the backend. `answered` is called at the last ReadyForQuery they bring, with
   * whether an ErrorResponse came in its reply, its SQLSTATE and the rows (never, when the backend skips it).
   */
  send(bytes: Buffer, answered?: (answer: TurnAnswer) => void): void {
    let last: Owed | undefined;
    for (let offset = 0; offset + 5 <= bytes.length; offset += 1 + bytes.readInt32BE(offset + 1)) {
      const type = bytes[offset]!;
      if (type === SYNC) this.skipping = false;
      else if (this.skipping) continue;
      if (EXTENDED_QUESTIONS.has(type)) {
        const tail = this.owed.at(-1);
        if (tail?.kind === 'answers') tail.count += 1;
        else this.owed.push({ kind: 'answers', count: 1 });
      } else if (type === SYNC || type === QUERY) {
        last = { kind: 'ready', after: type === SYNC ? 'sync' : 'query', answered: undefined };
        this.owed.push(last);
      }
    }
    if (last?.kind === 'ready') last.answered = answered;
    if (!this.closed) this.backend.write(bytes);
  }

  /** Whether a client message still awaits its answer (a statement may be running). */
  get busy(): boolean {
    return this.owed.length > 0;
  }

  /**
   * Whether the backend skips what the client sends until its Sync, as after an extended-protocol message that
   * failed: known once idle.
   */
  get skippingToSync(): boolean {
    return this.skipping;
  }

  /** Resolves once no client message awaits an answer (at once when none does). */
  whenIdle(): Promise<void> {
    if (this.owed.length === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Runs an exchange of kinesql's own (ending in Sync); call only when idle. Resolves with its replies. */
  exchange(bytes: Buffer): Promise<BackendMessage[]> {
    if (this.own || this.owed.length > 0 || this.skipping) return Promise.reject(new Error('the backend is busy'));
    if (this.closed) return Promise.reject(new Error('the engine backend is closed'));
    return new Promise((done, failed) => {
      this.own = { messages: [], done, failed };
      this.backend.write(bytes);
    });
  }

  close(): void {
    this.backend.destroy();
  }

  private onBackendClosed(): void {
    this.closed = true;
    this.own?.failed(new Error('the engine backend closed the connection'));
    this.own = undefined;
    this.owed = [];
    this.skipping = false;
    for (const waiter of this.idleWaiters.splice(0)) waiter();
    this.onClose();
  }

  private forward(bytes: Buffer): void {
    if (this.client.destroyed || this.connection.closed) return;
    if (!this.client.write(bytes)) {
      this.backend.pause();
      this.client.once('drain', () => this.backend.resume());
    }
  }

  /**
   * A ParameterStatus of the engine's: kept for the turn's answer; a SET client_encoding (or RESET) changes how
   * the client's SQL is read.
   */
  private noteParameter(body: Buffer): void {
    const nameEnd = body.indexOf(0);
    if (nameEnd < 0) return;
    const name = body.toString('utf8', 0, nameEnd);
    const value = body.toString('utf8', nameEnd + 1, body.indexOf(0, nameEnd + 1));
    this.reportedBeforeReady ??= new Map();
    this.reportedBeforeReady.set(name, value);
    if (name === 'client_encoding') this.codec = codecNamed(value) ?? this.codec;
  }

  private onData(chunk: Buffer): void {
    let offset = 0;
    // Bytes of the client's replies are forwarded in runs; kinesql's own replies never reach the client.
    let runStart = this.own ? -1 : 0;
    while (offset < chunk.length) {
      if (this.remaining < 0) {
        const take = Math.min(5 - this.headerFill, chunk.length - offset);
        chunk.copy(this.header, this.headerFill, offset, offset + take);
        this.headerFill += take;
        offset += take;
        if (this.headerFill < 5) break;
        this.headerFill = 0;
        this.type = this.header[0]!;
        this.remaining = this.header.readInt32BE(1) - 4;
        this.collected =
          this.own || this.type === READY_FOR_QUERY || this.type === ERROR_RESPONSE || this.type === COMMAND_COMPLETE || this.type === PARAMETER_STATUS
            ? []
            : undefined;
        if (this.type === ERROR_RESPONSE && !this.own) {
          this.errors += 1;
          this.errorsBeforeReady += 1;
        }
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      if (this.collected && take > 0) this.collected.push(chunk.subarray(offset, offset + take));
      offset += take;
      this.remaining -= take;
      if (this.remaining > 0) break;
      this.remaining = -1;
      const body = this.collected ? (this.collected.length === 1 ? this.collected[0]! : Buffer.concat(this.collected)) : EMPTY;
      this.collected = undefined;
      if (this.own) {
        this.own.messages.push({ type: String.fromCharCode(this.type), body });
        if (this.type === READY_FOR_QUERY) {
          const own = this.own;
          this.own = undefined;
          this.status = body[0] ?? this.status;
          own.done(own.messages);
          runStart = offset;
        }
      } else {
        if (this.type === ERROR_RESPONSE) {
          const fields = errorFields(body);
          this.sqlstateBeforeReady ??= fields.get('C');
          const severity = fields.get('S');
          if (severity === 'FATAL' || severity === 'PANIC') this.fatalSent = true;
        } else if (this.type === PARAMETER_STATUS) {
          this.noteParameter(body);
        } else if (this.type === COMMAND_COMPLETE) {
          const rows = rowsOf(body);
          if (rows !== undefined) this.rowsBeforeReady = (this.rowsBeforeReady ?? 0) + rows;
        }
        const owedBefore = this.owed.length;
        if (this.type === READY_FOR_QUERY) this.onReady(body);
        else if (this.owed[0]?.kind === 'answers') this.onExtendedAnswer(this.type);
        if (owedBefore > 0 && this.owed.length === 0) {
          if (runStart >= 0 && offset > runStart) this.forward(chunk.subarray(runStart, offset));
          runStart = offset;
          for (const waiter of this.idleWaiters.splice(0)) waiter();
        }
      }
    }
    if (runStart >= 0 && chunk.length > runStart) this.forward(chunk.subarray(runStart));
  }

  private onReady(body: Buffer): void {
    this.status = body[0] ?? this.status;
    // Everything sent before the Sync or Query it answers has been answered.
    while (this.owed[0]?.kind === 'answers') this.owed.shift();
    const owed = this.owed.shift();
    const answer: TurnAnswer = {
      failed: this.errorsBeforeReady > 0,
      status: this.status,
      reported: this.reportedBeforeReady ?? NONE_REPORTED,
      ...(this.sqlstateBeforeReady !== undefined ? { sqlstate: this.sqlstateBeforeReady } : {}),
      ...(this.rowsBeforeReady !== undefined ? { rows: this.rowsBeforeReady } : {}),
    };
    if (owed?.kind === 'ready') owed.answered?.(answer);
    this.errorsBeforeReady = 0;
    this.sqlstateBeforeReady = undefined;
    this.rowsBeforeReady = undefined;
    this.reportedBeforeReady = undefined;
  }

  /**
   * A message of the answer to an extended-protocol message. After an error the backend skips everything up to
   * the next Sync: a Query sent before that Sync brings no ReadyForQuery.
   */
  private onExtendedAnswer(type: number): void {
    const head = this.owed[0] as Extract<Owed, { kind: 'answers' }>;
    if (type === ERROR_RESPONSE) {
      const sync = this.owed.findIndex((owed) => owed.kind === 'ready' && owed.after === 'sync');
      if (sync < 0) {
        this.owed = [];
        this.skipping = true;
      } else this.owed.splice(0, sync);
    } else if (EXTENDED_ANSWERS.has(type)) {
      head.count -= 1;
      if (head.count === 0) this.owed.shift();
    }
  }
}
