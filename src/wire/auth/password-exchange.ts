/**
 * The password part of a login: the request the configured method makes (cleartext, md5 or SASL SCRAM), and
 * the handler of the client's answers, which either completes the login or refuses it. An unknown user goes
 * through the same exchange, with the same work, as a known one, and is then refused. A refusal is answered
 * after the delay the login throttle gives its (address, user) pair; a correct password is answered at once.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { backend } from '../../pg/backend-messages.js';
import type { ErrorFields } from '../../pg/pg-error.js';
import { SQLSTATE } from '../../pg/sqlstate.js';
import { BodyReader, type FrontendMessage } from '../frontend-reader.js';
import { cleartextMatches, md5ResponseMatches, standInSecret, type AuthConfig } from './credentials.js';
import { ScramExchange, ScramFailure, scramMechanisms, type ScramVerifier } from './scram.js';

export interface PasswordExchangeContext {
  auth: AuthConfig;
  user: string;
  clientAddress: string;
  /** The TLS server certificate's hash for SCRAM-SHA-256-PLUS; undefined without TLS. */
  channelBinding: Buffer | undefined;
  send(message: Buffer): Promise<void>;
  logger: Logger;
  /** Whether the client has gone away (the answer is not sent then). */
  isClosed(): boolean;
  /** The connection counts as a login in progress until `wait` ends, even if the client hangs up meanwhile. */
  holdLogin(wait: Promise<void>): void;
  /** Logs the client in: its credentials are right. */
  succeed(): Promise<void>;
  /** Ends the connection with FATAL. */
  fatal(fields: Omit<ErrorFields, 'severity'>): Promise<void>;
}

export interface PasswordExchange {
  /** What the server sends first: AuthenticationCleartextPassword, AuthenticationMD5Password or AuthenticationSASL. */
  request: Buffer;
  /** What PostgreSQL calls the response it waits for, in its refusal of another message. */
  expects: 'password' | 'SASL';
  /** Handles each of the client's authentication messages until the login succeeds or is refused. */
  answer(message: FrontendMessage): Promise<void>;
}

/**
 * As PostgreSQL, md5 configured but a SCRAM verifier stored means SCRAM (scram-sha-256 configured with an md5
 * hash stored is refused when the users are loaded). A cleartext password checks either.
 */
export function beginPasswordExchange(context: PasswordExchangeContext): PasswordExchange {
  const { auth, user } = context;
  const known = auth.users.has(user);
  const secret = auth.users.get(user) ?? standInSecret(auth, user);
  const refuse = (): Promise<void> =>
    refuseLogin(context, { sqlstate: SQLSTATE.invalidPassword, message: `password authentication failed for user "${user}"` });
  if (auth.method === 'password') {
    return {
      request: backend.authenticationCleartextPassword(),
      expects: 'password',
      async answer(message) {
        const password = passwordOf(message);
        if (cleartextMatches(secret, user, password) && known) await context.succeed();
        else await refuse();
      },
    };
  }
  if (secret.kind === 'md5') {
    const salt = randomBytes(4);
    return {
      request: backend.authenticationMd5Password(salt),
      expects: 'password',
      async answer(message) {
        const response = passwordOf(message);
        if (md5ResponseMatches(secret, salt, response) && known) await context.succeed();
        else await refuse();
      },
    };
  }
  return scramExchange(context, secret.verifier, !known, refuse);
}

function scramExchange(context: PasswordExchangeContext, verifier: ScramVerifier, doomed: boolean, refuse: () => Promise<void>): PasswordExchange {
  const mechanisms = scramMechanisms(context.channelBinding);
  const exchange = new ScramExchange({ user: context.user, verifier, doomed, channelBinding: context.channelBinding });
  let step: 'first' | 'final' = 'first';
  return {
    request: backend.authenticationSasl(mechanisms),
    expects: 'SASL',
    async answer(message) {
      try {
        const body = new BodyReader(message.body);
        if (step === 'first') {
          const mechanism = body.cstring();
          if (!mechanisms.includes(mechanism)) {
            await refuseLogin(context, { sqlstate: SQLSTATE.protocolViolation, message: 'client selected an invalid SASL authentication mechanism' });
            return;
          }
          const length = body.int32();
          const serverFirst = exchange.start(mechanism, body.bytes(length).toString('utf8'));
          step = 'final';
          await context.send(backend.authenticationSaslContinue(Buffer.from(serverFirst)));
        } else {
          const clientFinal = body.bytes(body.remaining).toString('utf8');
          const serverFinal = exchange.finish(clientFinal);
          await context.send(backend.authenticationSaslFinal(Buffer.from(serverFinal)));
          await context.succeed();
        }
      } catch (error) {
        if (!(error instanceof ScramFailure)) throw error;
        if (error.sqlstate === SQLSTATE.invalidPassword) await refuse();
        else await refuseLogin(context, error);
      }
    },
  };
}

/**
 * A refused login: counted against its (address, user) pair, logged, and ended with FATAL once the throttle's
 * delay for it is over. The wait is this session's timer alone; nobody else waits for it.
 */
async function refuseLogin(context: PasswordExchangeContext, fields: Omit<ErrorFields, 'severity'>): Promise<void> {
  const { auth, clientAddress, user } = context;
  const { failures, delayMs } = auth.throttle.failed(clientAddress, user);
  context.logger.warn({ address: clientAddress, user, failures, delayMs, code: fields.sqlstate, reason: fields.message }, 'failed login');
  if (delayMs > 0) {
    const wait = sleep(delayMs);
    context.holdLogin(wait);
    await wait;
  }
  if (!context.isClosed()) await context.fatal(fields);
}

function passwordOf(message: FrontendMessage): string {
  return new BodyReader(message.body).cstring();
}
