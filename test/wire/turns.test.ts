import { UTF8_CODEC } from '../../src/pg/client-encoding.js';
import pino from 'pino';
import { serialize } from 'pg-protocol';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import { TransactionStatus } from '../../src/pg/protocol-constants.js';
import { initParser } from '../../src/sql/parse.js';
import { PgError } from '../../src/pg/pg-error.js';
import { type CaughtUp, StatementExecutor } from '../../src/wire/statement-executor.js';
import type { StreamStore } from '../../src/store/stream-store.js';
import type { BackendMessage, BackendRelay } from '../../src/wire/backend-relay.js';
import { FrontendReader } from '../../src/wire/frontend-reader.js';
import { READ_BACK, READ_SETTINGS_EXCHANGE } from '../../src/wire/session-settings.js';
import { TrackedSettings } from '../../src/wire/tracked-settings.js';
import { ConnectionState } from '../../src/wire/connection-state.js';
import { SessionTurns } from '../../src/wire/turns.js';
import { errorFields, types } from '../support/raw-client.js';
import { message } from './memory-socket.js';

/** The session's engine backend as the turns see it: what they send it is recorded; it is always idle. */
class StubRelay {
  /** What the backend answers kinesql's SHOWs with, by setting name. */
  readonly settings = new Map<string, string>();
  /** Everything the turns did with the backend, in order. */
  readonly steps: string[] = [];
  status: number = TransactionStatus.Idle;
  errors = 0;
  /** Whether the statements forwarded fail in the backend: its ErrorResponse is counted while the turns wait for it. */
  failing = false;
  private answerPending = false;
  busy = false;
  codec = UTF8_CODEC;
  /** Client traffic forwarded, with how many ReadyForQuery it will bring (one per Query and Sync). */
  readonly sent: { bytes: Buffer; replies: number }[] = [];
  /** kinesql's own exchanges with the backend. */
  readonly exchanges: Buffer[] = [];
  skippingToSync = false;

  send(bytes: Buffer): void {
    this.steps.push(`send ${String.fromCharCode(bytes[0]!)}`);
    const replies = frontendMessages(bytes).filter((sent) => sent.type === 'Q' || sent.type === 'S').length;
    this.sent.push({ bytes, replies });
    this.answerPending = true;
  }

  whenIdle(): Promise<void> {
    this.steps.push('idle');
    if (this.answerPending && this.failing) this.errors += 1;
    this.answerPending = false;
    return Promise.resolve();
  }

  exchange(bytes: Buffer): Promise<BackendMessage[]> {
    this.exchanges.push(bytes);
    const showing = bytes.equals(READ_SETTINGS_EXCHANGE);
    this.steps.push(showing ? 'show settings' : 'exchange');
    const rows = showing ? READ_BACK.map((name) => dataRow(this.settings.get(name) ?? '')) : [];
    return Promise.resolve([...rows, { type: 'Z', body: Buffer.from(this.status === TransactionStatus.InTransaction ? 'T' : 'I') }]);
  }
}

/** A DataRow of one text column. */
function dataRow(value: string): BackendMessage {
  const text = Buffer.from(value);
  const body = Buffer.alloc(6 + text.length);
  body.writeInt16BE(1, 0);
  body.writeInt32BE(text.length, 2);
  text.copy(body, 6);
  return { type: 'D', body };
}

/** A connection as the turns get it: logged in, between turns. */
function loggedIn(): ConnectionState {
  const state = new ConnectionState();
  state.move({ phase: 'authenticating', exchange: undefined });
  state.move({ phase: 'ready' });
  return state;
}

/** Splits bytes into frontend messages, as the session's reader does. */
function frontendMessages(bytes: Buffer) {
  const reader = new FrontendReader(1 << 20);
  reader.push(bytes);
  const messages = [];
  for (let next = reader.nextMessage(); next; next = reader.nextMessage()) messages.push(next);
  return messages;
}

function backendMessages(chunks: Uint8Array[]): BackendMessage[] {
  const bytes = Buffer.concat(chunks);
  const messages: BackendMessage[] = [];
  for (let offset = 0; offset < bytes.length; offset += 1 + bytes.readInt32BE(offset + 1)) {
    messages.push({ type: String.fromCharCode(bytes[offset]!), body: bytes.subarray(offset + 5, offset + 1 + bytes.readInt32BE(offset + 1)) });
  }
  return messages;
}

/** `startValues`: the settings the session starts with as kinesql knows them; null: read at the first stream statement. */
function turns(startValues: ReadonlyMap<string, string> | null = new Map()) {
  const relay = new StubRelay();
  const written: Uint8Array[] = [];
  const engine = { serverVersionNum: 180000, cancel: vi.fn(async () => undefined) } as unknown as Engine;
  // One stream table, `clicks`: statements naming it may read stream rows.
  const store = { list: () => [{ definition: { schemaName: 'public', tableName: 'clicks', message: { fields: [] } } }] } as unknown as StreamStore;
  const logger = pino({ level: 'silent' });
  const session = {
    executor: new StatementExecutor(engine, store, logger, undefined),
    engine,
    logger,
    send: async (bytes: Uint8Array) => {
      written.push(bytes);
    },
    fatal: vi.fn(async () => undefined),
    end: vi.fn(),
    state: loggedIn(),
  };
  const handler = new SessionTurns(
    relay as unknown as BackendRelay,
    session,
    'alice',
    'public',
    { processId: 7, secretKey: 8 },
    new TrackedSettings(new Set(READ_BACK), startValues ?? undefined),
  );
  /** Feeds the handler the client's bytes, message by message, as the session does. */
  const feed = async (...chunks: Buffer[]): Promise<void> => {
    for (const next of frontendMessages(Buffer.concat(chunks))) await handler.onMessage(next);
  };
  return { relay, session, handler, feed, toClient: () => backendMessages(written.splice(0)) };
}

const SYNC = serialize.sync();

describe('a logged-in session, turn by turn, without a server', () => {
  beforeAll(async () => {
    await initParser();
  });

  it('answers a refused simple query with an ErrorResponse of its SQLSTATE and lets the backend send ReadyForQuery', async () => {
    const { relay, feed, toClient } = turns();
    await feed(serialize.query('select 1; insert into t values (1)'));
    const replies = toClient();
    expect(types(replies)).toBe('E');
    expect(errorFields(replies[0]!.body)).toMatchObject({ S: 'ERROR', C: '25006', M: 'cannot execute INSERT: kinesql is read-only' });
    expect(relay.sent).toEqual([{ bytes: SYNC, replies: 1 }]);
  });

  it('reports a syntax error with its position, as PostgreSQL does', async () => {
    const { feed, toClient } = turns();
    await feed(serialize.query('select * form t'));
    expect(errorFields(toClient()[0]!.body)).toMatchObject({ C: '42601', M: 'syntax error at or near "form"', P: '10' });
  });

  it('forwards an allowed query, rewritten where the engine must answer for kinesql', async () => {
    const { relay, feed, toClient } = turns();
    await feed(serialize.query('select 1'), serialize.query("select version(), 'version()'"));
    expect(toClient()).toEqual([]);
    expect(relay.sent.map(({ bytes, replies }) => [bytes.toString('utf8', 5, bytes.length - 1), replies])).toEqual([
      ['select 1', 1],
      ["select kinesql.version(), 'version()'", 1],
    ]);
  });

  it('refuses an extended batch at its Parse: nothing of it reaches the backend but the Sync', async () => {
    const { relay, feed, toClient } = turns();
    await feed(serialize.parse({ text: 'delete from t' }), serialize.bind(), serialize.describe({ type: 'P' }), serialize.execute(), SYNC);
    const replies = toClient();
    expect(types(replies)).toBe('E');
    expect(errorFields(replies[0]!.body)).toMatchObject({ C: '25006', M: 'cannot execute DELETE: kinesql is read-only' });
    expect(relay.sent).toEqual([{ bytes: SYNC, replies: 1 }]);
  });

  it('reads the SQL of each Parse once: a large text is not decoded again on the shared thread', async () => {
    const { relay, feed } = turns();
    const decode = vi.fn(UTF8_CODEC.decode);
    relay.codec = { ...UTF8_CODEC, decode };
    // Shorter than what a worker thread analyses (off-thread.ts): where the text is analysed does not change how often it is read.
    const text = `select ${'1 + '.repeat(100)}1`;
    await feed(serialize.parse({ text }), serialize.bind(), serialize.execute(), SYNC);
    expect(decode.mock.calls.filter(([bytes]) => bytes.length >= text.length)).toHaveLength(1);
    expect(relay.sent).toHaveLength(1);
    expect(relay.sent[0]!.replies).toBe(1);
  });

  it('leaves a statement of 128 KB or more, in a Query or a Parse, to the worker that analyses it: the shared thread never decodes it when it is refused or goes to the engine as sent', async () => {
    const { relay, feed, toClient } = turns();
    const decode = vi.fn(UTF8_CODEC.decode);
    relay.codec = { ...UTF8_CODEC, decode };
    // Past the size by a long literal, which the worker parses in milliseconds (a list of 50,000 values took seconds).
    const refused = `insert into t values ('${'7'.repeat(140_000)}')`;
    const run = `select n from t where s = '${'7'.repeat(140_000)}'`;
    await feed(serialize.query(refused));
    await feed(serialize.parse({ text: refused }), serialize.bind(), serialize.execute(), SYNC);
    expect(toClient().flatMap((reply) => (reply.type === 'E' ? [errorFields(reply.body)['C']] : []))).toEqual(['25006', '25006']);
    const query = serialize.query(run);
    const parse = serialize.parse({ text: run });
    await feed(query);
    await feed(parse, serialize.bind(), serialize.execute(), SYNC);
    expect(toClient()).toEqual([]);
    // Forwarded as the client sent them.
    expect(relay.sent.at(-2)!.bytes).toEqual(query);
    expect(relay.sent.at(-1)!.bytes.subarray(0, parse.length)).toEqual(parse);
    expect(decode.mock.calls.filter(([bytes]) => bytes.length >= 128 * 1024)).toEqual([]);
  });

  it('after an error in a flushed batch, discards messages until Sync, then goes on', async () => {
    const { relay, feed, toClient } = turns();
    await feed(serialize.parse({ text: 'select pg_sleep(1); vacuum' }), serialize.flush());
    expect(errorFields(toClient()[0]!.body)).toMatchObject({ C: '25006' });
    expect(relay.sent).toEqual([]);
    await feed(serialize.bind(), serialize.execute());
    expect(toClient()).toEqual([]);
    expect(relay.sent).toEqual([]);
    await feed(SYNC);
    expect(relay.sent).toEqual([{ bytes: SYNC, replies: 1 }]);

    const batch = [serialize.parse({ text: 'select $1::int' }), serialize.bind({ values: ['1'] }), serialize.execute(), SYNC];
    await feed(...batch);
    expect(toClient()).toEqual([]);
    expect(relay.sent.at(-1)).toEqual({ bytes: Buffer.concat(batch), replies: 1 });
  });

  it('fails the transaction block a refused statement was in, before reporting it', async () => {
    const { relay, feed, toClient } = turns();
    relay.status = TransactionStatus.InTransaction;
    await feed(serialize.query('create table t (a int)'));
    expect(relay.exchanges).toHaveLength(1);
    const failBlock = frontendMessages(relay.exchanges[0]!);
    expect(failBlock.map((sent) => sent.type).join('')).toBe('PBES');
    expect(failBlock[0]!.body.toString('utf8')).toContain("ERRCODE = '25006'");
    expect(errorFields(toClient()[0]!.body)).toMatchObject({ C: '25006', M: 'cannot execute CREATE TABLE: kinesql is read-only' });
    expect(relay.sent).toEqual([{ bytes: SYNC, replies: 1 }]);
  });

  it('answers malformed extended messages and fastpath calls with ErrorResponse, and unknown messages with FATAL', async () => {
    const { relay, session, feed, toClient } = turns();
    const badParse = message('P', Buffer.from('\0select 1\0\0\x05', 'latin1'));
    await feed(badParse, SYNC);
    expect(errorFields(toClient()[0]!.body)).toMatchObject({ C: '08P01', M: 'invalid message format' });
    await feed(message('C', Buffer.from('X\0')), SYNC);
    expect(errorFields(toClient()[0]!.body)).toMatchObject({ C: '08P01', M: 'invalid CLOSE message subtype 88' });
    await feed(message('F', Buffer.alloc(8)));
    expect(errorFields(toClient()[0]!.body)).toMatchObject({ C: '0A000', M: 'fastpath function calls are not supported' });
    expect(relay.sent).toEqual([
      { bytes: SYNC, replies: 1 },
      { bytes: SYNC, replies: 1 },
      { bytes: SYNC, replies: 1 },
    ]);
    await feed(message('z'));
    expect(session.fatal).toHaveBeenCalledWith({ sqlstate: '08P01', message: 'invalid frontend message type 122' });
  });

  it('sends the extended messages before a refused fastpath call first, and those after it with their Sync', async () => {
    const { relay, feed, toClient } = turns();
    const batch = [serialize.parse({ text: 'select 1' }), serialize.bind(), serialize.execute()];
    await feed(batch[0]!, message('F', Buffer.alloc(8)), batch[1]!, batch[2]!, SYNC);
    expect(errorFields(toClient()[0]!.body)).toMatchObject({ C: '0A000' });
    expect(relay.sent).toEqual([
      { bytes: Buffer.concat([batch[0]!, serialize.flush()]), replies: 0 },
      { bytes: SYNC, replies: 1 },
      { bytes: Buffer.concat([batch[1]!, batch[2]!, SYNC]), replies: 1 },
    ]);
    expect(relay.exchanges).toEqual([]);
  });

  it('sends the extended messages before a simple Query first, and fails their implicit transaction when it refuses the Query', async () => {
    const { relay, feed, toClient } = turns();
    const batch = [serialize.parse({ text: 'select 1' }), serialize.bind(), serialize.execute()];
    await feed(...batch, serialize.query('select 2'));
    expect(relay.sent).toEqual([
      { bytes: Buffer.concat([...batch, serialize.flush()]), replies: 0 },
      { bytes: serialize.query('select 2'), replies: 1 },
    ]);
    await feed(...batch, serialize.query('drop table t'));
    expect(errorFields(toClient()[0]!.body)).toMatchObject({ C: '25006' });
    expect(
      frontendMessages(relay.exchanges[0]!)
        .map((sent) => sent.type)
        .join(''),
    ).toBe('PBES');
    expect(relay.sent.slice(2)).toEqual([
      { bytes: Buffer.concat([...batch, serialize.flush()]), replies: 0 },
      { bytes: SYNC, replies: 1 },
    ]);
    // The Sync the client sends after the Query is a batch of its own.
    await feed(SYNC);
    expect(relay.sent.at(-1)).toEqual({ bytes: SYNC, replies: 1 });
  });

  it('discards a simple Query after an extended message it refused, up to the Sync', async () => {
    const { relay, feed, toClient } = turns();
    await feed(serialize.parse({ text: 'selec 1' }), serialize.bind(), serialize.execute(), serialize.query('select 2'));
    expect(errorFields(toClient()[0]!.body)).toMatchObject({ C: '42601' });
    expect(relay.sent).toEqual([]);
    await feed(SYNC);
    expect(relay.sent).toEqual([{ bytes: SYNC, replies: 1 }]);
  });

  it('reports nothing of a statement it refuses while the backend skips to the Sync after its own error', async () => {
    const { relay, feed, toClient } = turns();
    relay.skippingToSync = true;
    await feed(serialize.query('drop table t'));
    await feed(serialize.parse({ text: 'drop table t' }), SYNC);
    expect(toClient()).toEqual([]);
    expect(relay.sent).toEqual([{ bytes: SYNC, replies: 1 }]);
  });

  it('passes Terminate on and ends the session', async () => {
    const { relay, session, feed } = turns();
    await feed(serialize.end());
    expect(relay.sent).toEqual([{ bytes: serialize.end(), replies: 0 }]);
    expect(session.end).toHaveBeenCalled();
  });
});

describe('the catch-up before a turn that may read a stream table', () => {
  beforeAll(async () => {
    await initParser();
  });

  /** Turns whose executor's catch-up is recorded as a step of the relay and answered by `run`. */
  function catchingUp(
    run: (signal: AbortSignal | undefined) => Promise<CaughtUp> = async () => ({}),
    startValues: ReadonlyMap<string, string> | null = new Map(),
  ) {
    const setup = turns(startValues);
    const catchUp = vi.spyOn(setup.session.executor, 'catchUp').mockImplementation(async (_relations, _context, signal) => {
      setup.relay.steps.push('catch up');
      return run(signal);
    });
    return { ...setup, catchUp };
  }

  /** A catch-up that ends only when the turn stops it. */
  const untilStopped = (signal: AbortSignal | undefined) =>
    new Promise<CaughtUp>((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason as Error)));

  const queryText = (sent: { bytes: Buffer }) => sent.bytes.toString('utf8', 5, sent.bytes.length - 1);

  it("reads the session's settings from its backend once, catches the table up under them, then forwards the statement", async () => {
    const { relay, feed, toClient, catchUp } = catchingUp(undefined, null);
    relay.settings.set('search_path', '"$user", analytics, public');
    await feed(serialize.query('select count(*) from clicks'));
    expect(relay.steps).toEqual(['idle', 'show settings', 'catch up', 'send Q']);
    expect(catchUp).toHaveBeenCalledTimes(1);
    const [relations, context] = catchUp.mock.calls[0]!;
    expect(relations.map((relation) => relation.name)).toEqual(['clicks']);
    expect(context.searchPath).toEqual(['alice', 'analytics', 'public']);
    expect(context.settings?.get('search_path')).toBe('"$user", analytics, public');
    expect(queryText(relay.sent[0]!)).toBe('select count(*) from clicks');
    expect(toClient()).toEqual([]);

    // Known from then on: the next stream statement asks the backend nothing.
    relay.steps.length = 0;
    await feed(serialize.query('select count(*) from clicks'));
    expect(relay.steps).toEqual(['idle', 'catch up', 'send Q']);
    expect(catchUp.mock.calls[1]![1].searchPath).toEqual(['alice', 'analytics', 'public']);
  });

  it('neither reads settings nor catches up for a statement that names no stream table', async () => {
    const { relay, feed, catchUp } = catchingUp();
    await feed(serialize.query('select count(*) from pg_class'));
    expect(relay.steps).toEqual(['send Q']);
    expect(catchUp).not.toHaveBeenCalled();
  });

  it("reports a failed catch-up as the statement's error: the backend gets only the Sync for its ReadyForQuery", async () => {
    const { relay, feed, toClient } = catchingUp(async () => {
      throw new PgError('could not read stream "clicks": the stream was deleted', '55000');
    });
    await feed(serialize.query('select * from clicks'));
    const replies = toClient();
    expect(types(replies)).toBe('E');
    expect(errorFields(replies[0]!.body)).toMatchObject({ S: 'ERROR', C: '55000', M: 'could not read stream "clicks": the stream was deleted' });
    expect(relay.sent).toEqual([{ bytes: SYNC, replies: 1 }]);
  });

  it('stops a catch-up on a cancel request with 57014, without asking the engine to cancel anything', async () => {
    const { relay, session, handler, feed, toClient, catchUp } = catchingUp(untilStopped);
    const turn = feed(serialize.query('select * from clicks'));
    await vi.waitFor(() => expect(catchUp).toHaveBeenCalled());
    handler.cancel('user');
    await turn;
    expect(errorFields(toClient()[0]!.body)).toMatchObject({ C: '57014', M: 'canceling statement due to user request' });
    expect(session.engine.cancel).not.toHaveBeenCalled();
    expect(relay.sent).toEqual([{ bytes: SYNC, replies: 1 }]);
  });

  it("stops a catch-up at the statement_timeout the session's backend reports", async () => {
    const { relay, feed, toClient } = catchingUp(untilStopped, null);
    relay.settings.set('statement_timeout', '20ms');
    await feed(serialize.query('select * from clicks'));
    expect(errorFields(toClient()[0]!.body)).toMatchObject({ C: '57014', M: 'canceling statement due to statement timeout' });
    expect(relay.sent).toEqual([{ bytes: SYNC, replies: 1 }]);
  });

  it('in a failed transaction block, forwards the statement for the backend to refuse, with no settings read and no catch-up', async () => {
    const { relay, feed, catchUp } = catchingUp();
    relay.status = TransactionStatus.Failed;
    await feed(serialize.query('select * from clicks'));
    expect(relay.steps).toEqual(['idle', 'send Q']);
    expect(catchUp).not.toHaveBeenCalled();
  });

  it('catches up at the Bind that runs a prepared statement, not at its Parse, under the settings kinesql keeps', async () => {
    const { relay, feed, catchUp } = catchingUp(undefined, new Map([['search_path', 'analytics']]));
    await feed(serialize.parse({ name: 's1', text: 'select * from clicks' }), serialize.describe({ type: 'S', name: 's1' }), serialize.flush());
    expect(catchUp).not.toHaveBeenCalled();
    expect(relay.steps).toEqual(['send P']);

    // asyncpg's order: Parse, Describe, Flush, then Bind, Execute, Sync. The backend cannot be asked in between.
    await feed(serialize.bind({ statement: 's1' }), serialize.execute(), SYNC);
    expect(catchUp).toHaveBeenCalledTimes(1);
    expect(catchUp.mock.calls[0]![1].searchPath).toEqual(['analytics']);
    expect(relay.steps.slice(1)).toEqual(['idle', 'catch up', 'send B']);

    relay.steps.length = 0;
    await feed(serialize.bind({ statement: 's1' }), serialize.execute(), SYNC);
    expect(relay.steps).toEqual(['idle', 'catch up', 'send B']);
    expect(catchUp.mock.calls[1]![1].searchPath).toEqual(['analytics']);
  });

  it('saves the checkpoint a catch-up brings once the backend answered the statement, and not when it failed', async () => {
    const checkpoint: CaughtUp = { checkpoint: { mode: { role: 'alice', logicalName: 'daily', iteration: 2 }, visibleFrom: undefined, tables: [] } };
    const { relay, session, feed } = catchingUp(async () => checkpoint);
    const afterStatement = vi.spyOn(session.executor, 'afterStatement').mockResolvedValue(undefined);
    await feed(serialize.query('select * from clicks'));
    expect(afterStatement).toHaveBeenCalledExactlyOnceWith(checkpoint);
    expect(relay.steps).toEqual(['idle', 'catch up', 'send Q', 'idle']);

    relay.failing = true;
    await feed(serialize.query('select * from clicks'));
    expect(afterStatement).toHaveBeenCalledTimes(1);
  });
});
