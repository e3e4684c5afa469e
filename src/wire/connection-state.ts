/**
 * Where one client connection is in the PostgreSQL protocol: one value the session and its turns move and the
 * relay of the backend's replies reads, the moves allowed between places, and what each place does with a
 * frontend message (take it, ignore it, or end the connection with FATAL 08P01, as PostgreSQL's backend does).
 *
 * There is no COPY IN place: the read-only gate refuses COPY FROM, so CopyData, CopyDone and CopyFail are
 * ignored as PostgreSQL ignores them outside COPY IN. COPY TO is the backend's, its replies relayed as any.
 */
import type { FrontendMessage } from './frontend-reader.js';

export type ConnectionPlace =
  /** Waiting for the first packet. */
  | { phase: 'startup' }
  /** An SSLRequest or GSSENCRequest was answered; which may not come again (`ssl`, `gss`: already answered). */
  | { phase: 'negotiated'; ssl: boolean; gss: boolean }
  /** The startup message was taken: the password exchange, if the method has one, then the backend's login. */
  | { phase: 'authenticating'; exchange: Authenticator | undefined }
  /** Logged in, between turns. */
  | { phase: 'ready' }
  /**
   * Extended-protocol messages since the last Sync: `pending` not forwarded yet (they go at the Sync or Flush
   * that ends them), `flushed` when some went to the backend at a Flush.
   */
  | { phase: 'extended'; pending: FrontendMessage[]; flushed: boolean }
  /** kinesql refused a message of an extended batch with `refusedWith`: everything up to the Sync is ignored. */
  | { phase: 'discarding'; refusedWith: string }
  /** Nothing more the client sends is read. */
  | { phase: 'closed' };

export type ConnectionPhase = ConnectionPlace['phase'];
export type ExtendedPlace = Extract<ConnectionPlace, { phase: 'extended' }>;

/** What answers the client's messages while the password exchange goes on. */
export interface Authenticator {
  /** What PostgreSQL calls the response it waits for: 'password' (cleartext, md5) or 'SASL'. */
  expects: 'password' | 'SASL';
  answer(message: FrontendMessage): Promise<void>;
}

const NEXT: Record<ConnectionPhase, readonly ConnectionPhase[]> = {
  startup: ['negotiated', 'authenticating', 'closed'],
  negotiated: ['negotiated', 'authenticating', 'closed'],
  authenticating: ['authenticating', 'ready', 'closed'],
  ready: ['extended', 'closed'],
  extended: ['extended', 'discarding', 'ready', 'closed'],
  discarding: ['ready', 'closed'],
  closed: ['closed'],
};

/** Whether a connection may move from one place to another. */
export function mayMove(from: ConnectionPhase, to: ConnectionPhase): boolean {
  return NEXT[from].includes(to);
}

/** Messages a logged-in session handles: simple Query, the extended protocol, fastpath, Terminate. */
const SESSION_MESSAGES = new Set(['Q', 'P', 'B', 'D', 'E', 'C', 'H', 'S', 'F', 'X']);
/** CopyData, CopyDone, CopyFail: PostgreSQL ignores them outside COPY IN. */
const COPY_MESSAGES = new Set(['d', 'c', 'f']);

/** What a place does with a frontend message: takes it, ignores it, or ends the connection with FATAL 08P01. */
export type MessageVerdict = 'take' | 'ignore' | { violation: string };

export function messageVerdict(place: ConnectionPlace, type: string): MessageVerdict {
  const code = type.charCodeAt(0);
  switch (place.phase) {
    case 'closed':
      return 'ignore';
    case 'startup':
    case 'negotiated':
      return { violation: `expected a startup packet, got message type ${code}` };
    case 'authenticating':
      return type === 'p' && place.exchange ? 'take' : { violation: `expected ${place.exchange?.expects ?? 'password'} response, got message type ${code}` };
    case 'ready':
    case 'extended':
      if (SESSION_MESSAGES.has(type)) return 'take';
      return COPY_MESSAGES.has(type) ? 'ignore' : { violation: `invalid frontend message type ${code}` };
    case 'discarding':
      // Sync ends the discarding and Terminate the connection; a message of a type the protocol has not defined
      // still ends the connection.
      if (type === 'S' || type === 'X') return 'take';
      return SESSION_MESSAGES.has(type) || COPY_MESSAGES.has(type) ? 'ignore' : { violation: `invalid frontend message type ${code}` };
  }
}

/** The one place of a client connection, moved only along the allowed moves. */
export class ConnectionState {
  private current: ConnectionPlace = { phase: 'startup' };

  get now(): ConnectionPlace {
    return this.current;
  }

  get phase(): ConnectionPhase {
    return this.current.phase;
  }

  get closed(): boolean {
    return this.current.phase === 'closed';
  }

  /** Before the startup message: packets are read as startup packets (SSLRequest, CancelRequest, StartupMessage). */
  get beforeStartupMessage(): boolean {
    return this.current.phase === 'startup' || this.current.phase === 'negotiated';
  }

  /** Logged in to a backend of its own (between turns or within one). */
  get loggedIn(): boolean {
    const phase = this.current.phase;
    return phase === 'ready' || phase === 'extended' || phase === 'discarding';
  }

  /** Extended-protocol messages went to the backend at a Flush and their Sync has not come yet. */
  get awaitingSync(): boolean {
    const place = this.current;
    return place.phase === 'extended' && place.flushed;
  }

  /** Whether the client may ask for this encryption now: once each, and GSSAPI not after TLS was taken up. */
  mayNegotiate(request: 'ssl' | 'gss'): boolean {
    const place = this.current;
    if (place.phase === 'startup') return true;
    return place.phase === 'negotiated' && !place[request];
  }

  /** An SSLRequest or GSSENCRequest was answered; TLS taken up rules out GSSAPI encryption after it. */
  negotiated(request: 'ssl' | 'gss', accepted: boolean): void {
    const place = this.current;
    const before = place.phase === 'negotiated' ? place : { ssl: false, gss: false };
    this.move({ phase: 'negotiated', ssl: before.ssl || request === 'ssl', gss: before.gss || request === 'gss' || accepted });
  }

  /** Moves to `next`; a move the protocol does not allow is kinesql's own bug. */
  move(next: ConnectionPlace): void {
    if (!mayMove(this.current.phase, next.phase)) throw new Error(`a connection cannot go from ${this.current.phase} to ${next.phase}`);
    this.current = next;
  }

  close(): void {
    this.move({ phase: 'closed' });
  }
}
