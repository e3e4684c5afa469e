import { UTF8_CODEC } from '../../src/pg/client-encoding.js';
import pino from 'pino';
import { serialize } from 'pg-protocol';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import { TransactionStatus } from '../../src/pg/protocol-constants.js';
import { initParser } from '../../src/sql/parse.js';
import { StatementExecutor } from '../../src/sql/statement-executor.js';
import type { StreamStore } from '../../src/store/stream-store.js';
import type { BackendMessage, BackendRelay } from '../../src/wire/backend-relay.js';
import { FrontendReader } from '../../src/wire/frontend-reader.js';
import { READ_BACK } from '../../src/wire/session-settings.js';
import { TrackedSettings } from '../../src/wire/tracked-settings.js';
import { SessionTurns } from '../../src/wire/turns.js';
import { errorFields, types } from '../support/raw-client.js';
import { message } from './memory-socket.js';

/** The session's engine backend as the turns see it: what they send it is recorded; it is always idle. */
class StubRelay {
  status: number = TransactionStatus.Idle;
  errors = 0;
  busy = false;
  codec = UTF8_CODEC;
  /** Client traffic forwarded, with how many ReadyForQuery it will bring. */
  readonly sent: { bytes: Buffer; replies: number }[] = [];
  /** kinesql's own exchanges with the backend. */
  readonly exchanges: Buffer[] = [];

  send(bytes: Buffer, replies: number): void {
    this.sent.push({ bytes, replies });
  }

  whenIdle(): Promise<void> {
    return Promise.resolve();
  }

  exchange(bytes: Buffer): Promise<BackendMessage[]> {
    this.exchanges.push(bytes);
    return Promise.resolve([{ type: 'Z', body: Buffer.from('E') }]);
  }
}

/** Splits bytes into frontend messages, as the session's reader does. */
function frontendMessages(bytes: Buffer) {
  const reader = new FrontendReader(1 << 20);
  reader.expectTypedMessages();
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

function turns() {
  const relay = new StubRelay();
  const written: Uint8Array[] = [];
  const engine = { serverVersionNum: 180000, cancel: vi.fn(async () => undefined) } as unknown as Engine;
  const store = { list: () => [] } as unknown as StreamStore;
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
  };
  const handler = new SessionTurns(
    relay as unknown as BackendRelay,
    session,
    'alice',
    'public',
    { processId: 7, secretKey: 8 },
    new TrackedSettings(new Set(READ_BACK), new Map()),
  );
  /** Feeds the handler the client's bytes, message by message, as the session does. */
  const feed = async (...chunks: Buffer[]): Promise<void> => {
    for (const next of frontendMessages(Buffer.concat(chunks))) await handler.onMessage(next);
  };
  return { relay, session, feed, toClient: () => backendMessages(written.splice(0)) };
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
    expect(session.fatal).toHaveBeenCalledWith({ code: '08P01', message: 'invalid frontend message type 122' });
  });

  it('passes Terminate on and ends the session', async () => {
    const { relay, session, feed } = turns();
    await feed(serialize.end());
    expect(relay.sent).toEqual([{ bytes: serialize.end(), replies: 0 }]);
    expect(session.end).toHaveBeenCalled();
  });
});
