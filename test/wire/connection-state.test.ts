import { describe, expect, it } from 'vitest';
import { type ConnectionPhase, type ConnectionPlace, ConnectionState, mayMove, messageVerdict } from '../../src/wire/connection-state.js';
import type { FrontendMessage } from '../../src/wire/frontend-reader.js';

const PHASES: ConnectionPhase[] = ['startup', 'negotiated', 'authenticating', 'ready', 'extended', 'discarding', 'closed'];

const exchange = (expects: 'password' | 'SASL') => ({ expects, answer: async () => undefined });

/** One place of each phase. */
const PLACES: Record<ConnectionPhase, ConnectionPlace> = {
  startup: { phase: 'startup' },
  negotiated: { phase: 'negotiated', ssl: true, gss: false },
  authenticating: { phase: 'authenticating', exchange: exchange('password') },
  ready: { phase: 'ready' },
  extended: { phase: 'extended', pending: [], flushed: false },
  discarding: { phase: 'discarding', refusedWith: '25006' },
  closed: { phase: 'closed' },
};

/** Every frontend message type of protocol 3.0 after the startup packet, and two it has not defined. */
const TYPES = ['Q', 'P', 'B', 'D', 'E', 'C', 'H', 'S', 'F', 'X', 'd', 'c', 'f', 'p', 'z', '\u0000'];

function verdicts(place: ConnectionPlace): Record<string, string> {
  return Object.fromEntries(
    TYPES.map((type) => {
      const verdict = messageVerdict(place, type);
      return [type, typeof verdict === 'string' ? verdict : verdict.violation];
    }),
  );
}

/** A state walked to `phase` along allowed moves. */
function stateAt(phase: ConnectionPhase): ConnectionState {
  const path: Record<ConnectionPhase, ConnectionPhase[]> = {
    startup: [],
    negotiated: ['negotiated'],
    authenticating: ['authenticating'],
    ready: ['authenticating', 'ready'],
    extended: ['authenticating', 'ready', 'extended'],
    discarding: ['authenticating', 'ready', 'extended', 'discarding'],
    closed: ['closed'],
  };
  const state = new ConnectionState();
  for (const step of path[phase]) state.move(PLACES[step]);
  return state;
}

describe('the protocol state of a client connection', () => {
  it('moves only along the protocol: startup, negotiation, authentication, then turns, and closed from anywhere', () => {
    const allowed = Object.fromEntries(PHASES.map((from) => [from, PHASES.filter((to) => mayMove(from, to))]));
    expect(allowed).toEqual({
      startup: ['negotiated', 'authenticating', 'closed'],
      negotiated: ['negotiated', 'authenticating', 'closed'],
      authenticating: ['authenticating', 'ready', 'closed'],
      ready: ['extended', 'closed'],
      extended: ['ready', 'extended', 'discarding', 'closed'],
      discarding: ['ready', 'closed'],
      closed: ['closed'],
    });
    for (const from of PHASES) {
      for (const to of PHASES) {
        const state = stateAt(from);
        expect(state.phase).toBe(from);
        if (mayMove(from, to)) {
          state.move(PLACES[to]);
          expect(state.phase).toBe(to);
        } else {
          expect(() => state.move(PLACES[to])).toThrow(`a connection cannot go from ${from} to ${to}`);
          expect(state.phase).toBe(from);
        }
      }
    }
  });

  it('takes the session messages once logged in, ignores COPY messages outside COPY IN, and ends the connection on any other', () => {
    const loggedIn = {
      ...Object.fromEntries(['Q', 'P', 'B', 'D', 'E', 'C', 'H', 'S', 'F', 'X'].map((type) => [type, 'take'])),
      d: 'ignore',
      c: 'ignore',
      f: 'ignore',
      p: 'invalid frontend message type 112',
      z: 'invalid frontend message type 122',
      '\u0000': 'invalid frontend message type 0',
    };
    expect(verdicts(PLACES.ready)).toEqual(loggedIn);
    expect(verdicts(PLACES.extended)).toEqual(loggedIn);
  });

  it('after a refused extended message, takes only Sync and Terminate until the Sync; an undefined type still ends the connection', () => {
    expect(verdicts(PLACES.discarding)).toEqual({
      ...Object.fromEntries(['Q', 'P', 'B', 'D', 'E', 'C', 'H', 'F', 'd', 'c', 'f'].map((type) => [type, 'ignore'])),
      S: 'take',
      X: 'take',
      p: 'invalid frontend message type 112',
      z: 'invalid frontend message type 122',
      '\u0000': 'invalid frontend message type 0',
    });
  });

  it('during authentication takes only the response the exchange waits for, named as PostgreSQL names it', () => {
    const refusals = (expects: 'password' | 'SASL') =>
      Object.fromEntries(TYPES.map((type) => [type, `expected ${expects} response, got message type ${type.charCodeAt(0)}`]));
    expect(verdicts(PLACES.authenticating)).toEqual({ ...refusals('password'), p: 'take' });
    expect(verdicts({ phase: 'authenticating', exchange: exchange('SASL') })).toEqual({ ...refusals('SASL'), p: 'take' });
    // Logging in without a password exchange (trust): no message is expected.
    expect(messageVerdict({ phase: 'authenticating', exchange: undefined }, 'p')).toEqual({ violation: 'expected password response, got message type 112' });
  });

  it('reads nothing as a typed message before the startup message, and ignores everything once closed', () => {
    for (const type of TYPES) {
      expect(messageVerdict(PLACES.startup, type)).toEqual({ violation: `expected a startup packet, got message type ${type.charCodeAt(0)}` });
      expect(messageVerdict(PLACES.closed, type)).toBe('ignore');
    }
  });

  it('negotiates each encryption once, and GSSAPI encryption not after TLS was taken up, as PostgreSQL does', () => {
    const refusedTls = new ConnectionState();
    refusedTls.negotiated('ssl', false);
    expect([refusedTls.mayNegotiate('ssl'), refusedTls.mayNegotiate('gss')]).toEqual([false, true]);
    refusedTls.negotiated('gss', false);
    expect([refusedTls.mayNegotiate('ssl'), refusedTls.mayNegotiate('gss')]).toEqual([false, false]);

    const tls = new ConnectionState();
    expect([tls.mayNegotiate('ssl'), tls.mayNegotiate('gss')]).toEqual([true, true]);
    tls.negotiated('ssl', true);
    expect([tls.mayNegotiate('ssl'), tls.mayNegotiate('gss')]).toEqual([false, false]);

    const gssFirst = new ConnectionState();
    gssFirst.negotiated('gss', false);
    expect([gssFirst.mayNegotiate('ssl'), gssFirst.mayNegotiate('gss')]).toEqual([true, false]);
    expect(gssFirst.beforeStartupMessage).toBe(true);
    gssFirst.move({ phase: 'authenticating', exchange: undefined });
    expect([gssFirst.mayNegotiate('ssl'), gssFirst.beforeStartupMessage]).toEqual([false, false]);
  });

  it('says when it is logged in, awaiting a Sync after a Flush, or closed', () => {
    const described = (phase: ConnectionPhase) => {
      const state = stateAt(phase);
      return [state.beforeStartupMessage, state.loggedIn, state.awaitingSync, state.closed];
    };
    expect(Object.fromEntries(PHASES.map((phase) => [phase, described(phase)]))).toEqual({
      startup: [true, false, false, false],
      negotiated: [true, false, false, false],
      authenticating: [false, false, false, false],
      ready: [false, true, false, false],
      extended: [false, true, false, false],
      discarding: [false, true, false, false],
      closed: [false, false, false, true],
    });
    const flushed = stateAt('extended');
    const pending: FrontendMessage[] = [];
    flushed.move({ phase: 'extended', pending, flushed: true });
    expect(flushed.awaitingSync).toBe(true);
    flushed.close();
    expect(flushed.closed).toBe(true);
    flushed.close();
    expect(flushed.phase).toBe('closed');
  });
});
