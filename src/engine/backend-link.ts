/**
 * The client side of a PostgreSQL connection to the engine, up to the first ReadyForQuery: socket (unix or
 * TCP, TLS when asked), StartupMessage, authentication (SCRAM-SHA-256, md5, cleartext, trust). After that
 * the socket carries a client session's own messages and kinesql only frames what comes back.
 */
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { promisify } from 'node:util';
import { errorFields } from '../pg/error-response.js';
import { cstring, typedMessage, untypedMessage } from '../pg/framing.js';
import { PgError } from '../pg/pg-error.js';
import { CANCEL_REQUEST_CODE, PROTOCOL_VERSION_3, SSL_REQUEST_CODE } from '../pg/protocol-constants.js';
import { SQLSTATE } from '../pg/sqlstate.js';

const pbkdf2Async = promisify(pbkdf2);

/** Where the engine listens: host is a hostname, an IP address or (starting with '/') a unix-socket directory. */
export interface EngineAddress {
  host: string;
  port: number;
  database: string;
  /** disable: plaintext; require: TLS without checking the certificate; verify-full: TLS with it checked. */
  sslmode?: 'disable' | 'prefer' | 'require' | 'verify-full';
}

export interface BackendLogin {
  address: EngineAddress;
  user: string;
  password: string;
  /** Further startup parameters (settings the engine applies at session start, application_name, …). */
  parameters?: readonly (readonly [string, string])[];
}

export interface BackendLink {
  socket: Socket;
  processId: number;
  secretKey: number;
  /** ParameterStatus values the engine sent at startup, in order. */
  parameters: Map<string, string>;
  /** Bytes that arrived after ReadyForQuery (none normally). */
  leftover: Buffer;
}

/**
 * An ErrorResponse the engine sent while logging in (too many connections, bad password, unknown setting …),
 * or a login kinesql could not complete: FATAL, with the engine's SQLSTATE and message; all the fields it
 * sent are in `fields`.
 */
export class EngineLoginError extends PgError {
  constructor(
    message: string,
    sqlstate: string,
    readonly fields: Map<string, string>,
  ) {
    super(message, sqlstate, { severity: 'FATAL' });
  }
}

/** Reads whole typed messages from a socket, one at a time, while logging in. */
class MessageQueue {
  private buffered: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('error', this.onEnd);
    socket.on('close', this.onEnd);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    this.wake();
  };

  private readonly onEnd = (error?: unknown): void => {
    this.failure ??= error instanceof Error ? error : new Error('the engine closed the connection while logging in');
    this.wake();
  };

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  async next(): Promise<{ type: string; body: Buffer }> {
    for (;;) {
      if (this.buffered.length >= 5) {
        const length = this.buffered.readInt32BE(1);
        if (this.buffered.length >= 1 + length) {
          const type = String.fromCharCode(this.buffered[0]!);
          const body = this.buffered.subarray(5, 1 + length);
          this.buffered = this.buffered.subarray(1 + length);
          return { type, body };
        }
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** Stops reading and returns what is buffered beyond the last message taken. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onEnd);
    this.socket.off('close', this.onEnd);
    return this.buffered;
  }
}

function openSocket(address: EngineAddress): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = address.host.startsWith('/')
      ? connectTcp({ path: `${address.host}/.s.PGSQL.${address.port}` })
      : connectTcp({ host: address.host, port: address.port });
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

async function startTls(socket: Socket, address: EngineAddress): Promise<Socket> {
  socket.write(untypedMessage(SSL_REQUEST_CODE));
  const answer = await new Promise<Buffer>((resolve, reject) => {
    socket.once('data', resolve);
    socket.once('error', reject);
  });
  if (answer[0] !== 0x53) {
    if (address.sslmode === 'prefer') return socket;
    throw new EngineLoginError('the engine does not accept TLS connections', SQLSTATE.unableToEstablishConnection, new Map());
  }
  return new Promise((resolve, reject) => {
    const secure = connectTls({ socket, servername: address.host, rejectUnauthorized: address.sslmode === 'verify-full' }, () => resolve(secure));
    secure.once('error', reject);
  });
}

/** Logs in to the engine as `login.user` and returns the connection at its first ReadyForQuery. */
export async function openBackend(login: BackendLogin): Promise<BackendLink> {
  let socket = await openSocket(login.address);
  try {
    const mode = login.address.sslmode ?? 'disable';
    if (mode !== 'disable' && !login.address.host.startsWith('/')) socket = await startTls(socket, login.address);
    const parameters: (readonly [string, string])[] = [['user', login.user], ['database', login.address.database], ...(login.parameters ?? [])];
    const body = Buffer.concat([...parameters.flatMap(([name, value]) => [cstring(name), cstring(value)]), Buffer.from([0])]);
    socket.write(untypedMessage(PROTOCOL_VERSION_3, body));
    const queue = new MessageQueue(socket);
    const reported = new Map<string, string>();
    let processId = 0;
    let secretKey = 0;
    let scram: ScramClient | undefined;
    for (;;) {
      const message = await queue.next();
      switch (message.type) {
        case 'R': {
          const reply = await authenticationReply(message.body, login, scram);
          if (reply.scram) scram = reply.scram;
          if (reply.send) socket.write(reply.send);
          break;
        }
        case 'S': {
          const nameEnd = message.body.indexOf(0);
          reported.set(message.body.subarray(0, nameEnd).toString('utf8'), message.body.subarray(nameEnd + 1, message.body.length - 1).toString('utf8'));
          break;
        }
        case 'K':
          processId = message.body.readInt32BE(0);
          secretKey = message.body.readInt32BE(4);
          break;
        case 'E': {
          const fields = errorFields(message.body);
          throw new EngineLoginError(fields.get('M') ?? 'the engine refused the login', fields.get('C') ?? SQLSTATE.connectionFailure, fields);
        }
        case 'Z':
          return { socket, processId, secretKey, parameters: reported, leftover: queue.detach() };
        default:
          // NoticeResponse, NegotiateProtocolVersion: nothing to act on while logging in.
          break;
      }
    }
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** Asks the engine to cancel what the backend (processId, secretKey) is running, as a CancelRequest does. */
export async function cancelBackend(address: EngineAddress, processId: number, secretKey: number): Promise<void> {
  let socket = await openSocket(address);
  try {
    if ((address.sslmode ?? 'disable') !== 'disable' && !address.host.startsWith('/')) socket = await startTls(socket, address);
    const body = Buffer.allocUnsafe(8);
    body.writeInt32BE(processId, 0);
    body.writeInt32BE(secretKey, 4);
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end(untypedMessage(CANCEL_REQUEST_CODE, body));
    });
  } finally {
    socket.destroy();
  }
}

interface AuthReply {
  send?: Buffer;
  scram?: ScramClient;
}

async function authenticationReply(body: Buffer, login: BackendLogin, scram: ScramClient | undefined): Promise<AuthReply> {
  const code = body.readInt32BE(0);
  switch (code) {
    case 0:
      return {};
    case 3:
      return { send: typedMessage('p', cstring(login.password)) };
    case 5: {
      const salt = body.subarray(4, 8);
      const inner = createHash('md5')
        .update(login.password + login.user)
        .digest('hex');
      const outer = createHash('md5')
        .update(Buffer.concat([Buffer.from(inner), salt]))
        .digest('hex');
      return { send: typedMessage('p', cstring(`md5${outer}`)) };
    }
    case 10: {
      const mechanisms = body
        .subarray(4)
        .toString('utf8')
        .split('\0')
        .filter((name) => name !== '');
      if (!mechanisms.includes('SCRAM-SHA-256')) {
        throw new EngineLoginError(
          `the engine offers no SASL mechanism kinesql speaks (${mechanisms.join(', ')})`,
          SQLSTATE.invalidAuthorizationSpecification,
          new Map(),
        );
      }
      const client = new ScramClient(login.password);
      const first = Buffer.from(client.first(), 'utf8');
      const length = Buffer.allocUnsafe(4);
      length.writeInt32BE(first.length);
      return { send: typedMessage('p', cstring('SCRAM-SHA-256'), length, first), scram: client };
    }
    case 11:
      if (!scram) throw new EngineLoginError('SASL continue without a SASL exchange', SQLSTATE.protocolViolation, new Map());
      return { send: typedMessage('p', Buffer.from(await scram.final(body.subarray(4).toString('utf8')), 'utf8')) };
    case 12:
      if (!scram?.verify(body.subarray(4).toString('utf8'))) {
        throw new EngineLoginError(
          'the engine did not prove that it knows the password (SCRAM server signature)',
          SQLSTATE.invalidAuthorizationSpecification,
          new Map(),
        );
      }
      return {};
    default:
      throw new EngineLoginError(
        `the engine asks for an authentication method kinesql does not speak (code ${code})`,
        SQLSTATE.invalidAuthorizationSpecification,
        new Map(),
      );
  }
}

const hmac = (key: Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** PBKDF2 of a password for a salt is the same every login: kept so only the first login of a role pays for it. */
const saltedPasswords = new Map<string, Promise<Buffer>>();

function saltedPassword(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  const key = `${iterations}:${salt.toString('base64')}:${createHash('sha256').update(password).digest('base64')}`;
  let salted = saltedPasswords.get(key);
  if (!salted) {
    salted = pbkdf2Async(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
    salted.catch(() => saltedPasswords.delete(key));
    if (saltedPasswords.size > 10_000) saltedPasswords.clear();
    saltedPasswords.set(key, salted);
  }
  return salted;
}

/** The client side of SCRAM-SHA-256 without channel binding, as libpq does it. */
class ScramClient {
  private readonly nonce = randomBytes(18).toString('base64');
  private authMessage = '';
  private serverKey: Buffer | undefined;

  constructor(private readonly password: string) {}

  first(): string {
    return `n,,n=,r=${this.nonce}`;
  }

  async final(serverFirst: string): Promise<string> {
    const attributes = new Map(serverFirst.split(',').map((part) => [part.slice(0, 1), part.slice(2)] as const));
    const nonce = attributes.get('r') ?? '';
    const salt = Buffer.from(attributes.get('s') ?? '', 'base64');
    const iterations = Number(attributes.get('i'));
    if (!nonce.startsWith(this.nonce) || salt.length === 0 || !Number.isInteger(iterations) || iterations < 1) {
      throw new EngineLoginError('malformed SCRAM message from the engine', SQLSTATE.protocolViolation, new Map());
    }
    const salted = await saltedPassword(this.password, salt, iterations);
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce}`;
    this.authMessage = `n=,r=${this.nonce},${serverFirst},${withoutProof}`;
    const signature = hmac(storedKey, this.authMessage);
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!));
    this.serverKey = hmac(salted, 'Server Key');
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  verify(serverFinal: string): boolean {
    if (!this.serverKey) return false;
    return serverFinal === `v=${hmac(this.serverKey, this.authMessage).toString('base64')}`;
  }
}
