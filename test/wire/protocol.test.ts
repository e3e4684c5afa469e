import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { errorResponse } from '../../src/pg/error-response.js';
import { quoteLiteral } from '../../src/pg/quoting.js';
import { startHarness, type Harness } from '../support/harness.js';
import { dataRow, errorFields, RawClient, types, type BackendMessage } from '../support/raw-client.js';

const definition = {
  tableName: 'events',
  streamName: 'events',
  message: {
    dataFormat: 'json',
    fields: [
      { name: 'id', type: 'BIGINT', mapping: 'id' },
      { name: 'kind', type: 'VARCHAR', mapping: 'kind' },
    ],
  },
};

const rowsOf = (messages: BackendMessage[]): (string | null)[][] => messages.filter((m) => m.type === 'D').map((m) => dataRow(m.body));
const errorOf = (messages: BackendMessage[]): Record<string, string> | undefined => {
  const error = messages.find((m) => m.type === 'E');
  return error ? errorFields(error.body) : undefined;
};
const readyStatus = (messages: BackendMessage[]): string | undefined => {
  const ready = messages.filter((m) => m.type === 'Z').at(-1);
  return ready ? String.fromCharCode(ready.body[0]!) : undefined;
};
const parameterStatus = (messages: BackendMessage[]): Record<string, string> =>
  Object.fromEntries(
    messages
      .filter((m) => m.type === 'S')
      .map((m) => {
        const [name, value] = m.body.toString('utf8').split('\0');
        return [name!, value!];
      }),
  );

/** A query slow enough to still be running when it is cancelled (seconds in PGlite). */
const SLOW_QUERY = 'select count(*) from generate_series(1, 3000) a, generate_series(1, 30000) b';

describe('the wire protocol, on a backend of its own per session', () => {
  let harness: Harness;
  let port: number;
  const open: RawClient[] = [];
  const session = async (parameters: Record<string, string> = {}): Promise<RawClient> => {
    const client = await RawClient.startup(port, parameters);
    open.push(client);
    return client;
  };
  const query = async (client: RawClient, sql: string): Promise<BackendMessage[]> => {
    client.write(serialize.query(sql));
    return client.readUntilReady();
  };
  /** Until the engine shows SLOW_QUERY running, as another session of the same user sees it. */
  const runningInEngine = (observer: RawClient): Promise<void> =>
    vi.waitFor(
      async () => {
        const sql = `select count(*) from pg_stat_activity where state = 'active' and query = ${quoteLiteral(SLOW_QUERY)}`;
        expect(rowsOf(await query(observer, sql))).toEqual([['1']]);
      },
      { timeout: 20_000, interval: 20 },
    );
  /** The engine's own TimeZone, as a fresh session has it. */
  const defaultTimeZone = async (): Promise<(string | null)[][]> => rowsOf(await query(await session(), 'show timezone'));

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'events', shards: 2 }], definitions: { 'events.json': definition } });
    await harness.put(
      'events',
      Array.from({ length: 50 }, (_, i) => ({ id: i + 1, kind: i % 2 === 0 ? 'even' : 'odd' })),
    );
    port = harness.server.port;
  });

  afterAll(async () => {
    for (const client of open) client.close();
    await harness?.close();
  });

  it('keeps statement names apart: two sessions prepare S_1 differently and each runs its own', async () => {
    const a = await session();
    const b = await session();
    a.write(Buffer.concat([serialize.parse({ name: 'S_1', text: 'select count(*) from events where kind = $1' }), serialize.sync()]));
    b.write(Buffer.concat([serialize.parse({ name: 'S_1', text: 'select $1::int * 10' }), serialize.sync()]));
    expect(types(await a.readUntilReady())).toBe('1Z');
    expect(types(await b.readUntilReady())).toBe('1Z');
    const run = (client: RawClient, value: string): Promise<BackendMessage[]> => {
      client.write(Buffer.concat([serialize.bind({ statement: 'S_1', values: [value] }), serialize.execute({}), serialize.sync()]));
      return client.readUntilReady();
    };
    expect(rowsOf(await run(a, 'even'))).toEqual([['25']]);
    expect(rowsOf(await run(b, '7'))).toEqual([['70']]);
    expect(rowsOf(await run(a, 'odd'))).toEqual([['25']]);
  });

  it('re-creates a session’s unnamed statement after another session replaced it on the backend', async () => {
    const a = await session();
    const b = await session();
    a.write(Buffer.concat([serialize.parse({ text: "select 'from a'" }), serialize.sync()]));
    await a.readUntilReady();
    b.write(Buffer.concat([serialize.parse({ text: "select 'from b'" }), serialize.sync()]));
    await b.readUntilReady();
    a.write(Buffer.concat([serialize.bind({}), serialize.execute({}), serialize.sync()]));
    const reply = await a.readUntilReady();
    expect(types(reply)).toBe('2DCZ');
    expect(rowsOf(reply)).toEqual([['from a']]);
  });

  it('keeps a session’s unnamed statement across kinesql’s own reads of its settings', async () => {
    const a = await session();
    a.write(Buffer.concat([serialize.parse({ text: "select 'still here'" }), serialize.sync()]));
    await a.readUntilReady();
    // A statement on a stream table makes kinesql read the session's settings from its backend first.
    a.write(
      Buffer.concat([
        serialize.parse({ name: 'count_events', text: 'select count(*) from events' }),
        serialize.bind({ statement: 'count_events' }),
        serialize.execute({}),
        serialize.sync(),
      ]),
    );
    expect(rowsOf(await a.readUntilReady())).toEqual([['50']]);
    a.write(Buffer.concat([serialize.bind({}), serialize.execute({}), serialize.sync()]));
    const reply = await a.readUntilReady();
    expect(types(reply)).toBe('2DCZ');
    expect(rowsOf(reply)).toEqual([['still here']]);
  });

  it('answers pipelined Parse/Bind/Describe/Execute batches in order, with binary results when asked', async () => {
    const a = await session();
    a.write(
      Buffer.concat([
        serialize.parse({ name: 'two', text: 'select $1::int4 + 1 as n', types: [23] }),
        serialize.describe({ type: 'S', name: 'two' }),
        serialize.bind({ statement: 'two', values: ['41'], valueMapper: undefined, binary: true }),
        serialize.describe({ type: 'P', name: '' }),
        serialize.execute({}),
        serialize.sync(),
        serialize.bind({ statement: 'two', values: ['1'] }),
        serialize.execute({}),
        serialize.sync(),
      ]),
    );
    const first = await a.readUntilReady();
    expect(types(first)).toBe('1tT2TDCZ');
    const row = first.find((m) => m.type === 'D')!.body;
    expect(row.readInt32BE(2)).toBe(4);
    expect(row.readInt32BE(6)).toBe(42);
    expect(rowsOf(await a.readUntilReady())).toEqual([['2']]);
  });

  it('suspends a portal at the row limit and resumes it', async () => {
    const a = await session();
    a.write(
      Buffer.concat([
        serialize.parse({ text: 'select id from events order by id' }),
        serialize.bind({ portal: 'p' }),
        serialize.execute({ portal: 'p', rows: 3 }),
        serialize.flush(),
      ]),
    );
    const first = await a.read(5);
    expect(types(first)).toBe('12DDD');
    expect((await a.next())?.type).toBe('s');
    a.write(Buffer.concat([serialize.execute({ portal: 'p', rows: 2 }), serialize.sync()]));
    const second = await a.readUntilReady();
    expect(types(second)).toBe('DDsZ');
    expect(rowsOf([...first, ...second]).map((r) => r[0])).toEqual(['1', '2', '3', '4', '5']);
  });

  it('keeps session settings apart and reports TimeZone when SET TIME ZONE changes it', async () => {
    const a = await session();
    const b = await session({ DateStyle: 'German, DMY' });
    const set = await query(a, "SET TIME ZONE 'Asia/Tokyo'");
    expect(parameterStatus(set)).toEqual({ TimeZone: 'Asia/Tokyo' });
    expect(set.findIndex((m) => m.type === 'S')).toBeLessThan(set.findIndex((m) => m.type === 'Z'));
    expect(rowsOf(await query(b, 'show timezone'))).toEqual(await defaultTimeZone());
    expect(rowsOf(await query(a, 'show timezone'))).toEqual([['Asia/Tokyo']]);
    expect(rowsOf(await query(b, "select date '2026-03-04'::text"))).toEqual([['04.03.2026']]);
    expect(rowsOf(await query(a, "select date '2026-03-04'::text, timestamptz '2026-01-01 00:00:00+00'::text"))).toEqual([
      ['2026-03-04', '2026-01-01 09:00:00+09'],
    ]);
    await query(a, 'set extra_float_digits = 0');
    expect(rowsOf(await query(b, 'show extra_float_digits'))).toEqual([['1']]);
  });

  it('runs transactions with I/T/E status and keeps the backend for the session inside a block', async () => {
    const a = await session();
    const b = await session();
    expect(readyStatus(await query(a, 'begin'))).toBe('T');
    expect(readyStatus(await query(a, "set local timezone = 'Europe/Paris'"))).toBe('T');
    const failing = await query(a, 'select 1/0');
    expect(errorOf(failing)?.['C']).toBe('22012');
    expect(readyStatus(failing)).toBe('E');
    expect(errorOf(await query(a, 'select 1'))?.['C']).toBe('25P02');
    // b does not wait for a's block.
    expect(rowsOf(await query(b, 'select 42'))).toEqual([['42']]);
    const rollback = await query(a, 'rollback');
    expect(readyStatus(rollback)).toBe('I');
    expect(rowsOf(await query(a, 'show timezone'))).toEqual(await defaultTimeZone());
  });

  it('scopes cursors and SQL prepared statements to the session; DISCARD ALL clears only its own', async () => {
    const a = await session();
    const b = await session();
    await query(a, 'declare c cursor with hold for select id from events where id <= 3 order by id');
    await query(b, 'declare c cursor with hold for select id from events where id > 47 order by id');
    await query(a, 'prepare p(int) as select $1 + 100');
    await query(b, 'prepare p(int) as select $1 + 200');
    expect(rowsOf(await query(a, 'fetch 2 from c'))).toEqual([['1'], ['2']]);
    expect(rowsOf(await query(b, 'fetch forward 2 in c'))).toEqual([['48'], ['49']]);
    expect(rowsOf(await query(a, 'move 0 in c; fetch next from c'))).toEqual([['3']]);
    expect(rowsOf(await query(a, 'execute p(1)'))).toEqual([['101']]);
    expect(rowsOf(await query(b, 'execute p(1)'))).toEqual([['201']]);
    const discarded = await query(a, 'discard all');
    expect(types(discarded)).toBe('CZ');
    const gone = errorOf(await query(a, 'execute p(1)'));
    expect(gone).toMatchObject({ C: '26000', M: 'prepared statement "p" does not exist' });
    expect(errorOf(await query(a, 'fetch 1 from c'))).toMatchObject({ C: '34000', M: 'cursor "c" does not exist' });
    expect(rowsOf(await query(b, 'fetch 1 from c'))).toEqual([['50']]);
    expect(rowsOf(await query(b, 'execute p(2)'))).toEqual([['202']]);
    expect(types(await query(b, 'close c; deallocate p'))).toBe('CCZ');
  });

  it('streams COPY (SELECT …) TO STDOUT', async () => {
    const a = await session();
    const reply = await query(a, 'copy (select id, kind from events where id <= 2 order by id) to stdout');
    expect(types(reply)).toBe('HddcCZ');
    expect(reply.filter((m) => m.type === 'd').map((m) => m.body.toString())).toEqual(['1\teven\n', '2\todd\n']);
  });

  it('reports unknown statement and portal names with the client’s names and discards until Sync', async () => {
    const a = await session();
    a.write(Buffer.concat([serialize.bind({ statement: 'nope' }), serialize.execute({}), serialize.parse({ text: 'select 1' }), serialize.sync()]));
    const reply = await a.readUntilReady();
    expect(types(reply)).toBe('EZ');
    expect(errorOf(reply)).toMatchObject({ C: '26000', M: 'prepared statement "nope" does not exist' });
    a.write(Buffer.concat([serialize.execute({ portal: 'missing' }), serialize.sync()]));
    expect(errorOf(await a.readUntilReady())).toMatchObject({ C: '34000', M: 'portal "missing" does not exist' });
    a.write(Buffer.concat([serialize.describe({ type: 'S', name: 'gone' }), serialize.flush()]));
    expect(errorOf(await a.read(1))).toMatchObject({ C: '26000' });
    a.write(Buffer.concat([serialize.parse({ text: 'select 2' }), serialize.sync()]));
    expect(types(await a.readUntilReady())).toBe('Z');
    expect(rowsOf(await query(a, 'select 3'))).toEqual([['3']]);
  });

  it('closes on protocol violations as PostgreSQL does, and other sessions never notice', async () => {
    const bystander = await session();
    const unknownType = await session();
    unknownType.write(Buffer.from([0x7a, 0, 0, 0, 4]));
    const fatal = await unknownType.readUntilReady();
    expect(errorOf(fatal)).toMatchObject({ S: 'FATAL', C: '08P01', M: 'invalid frontend message type 122' });
    expect(await unknownType.waitClosed()).toBe(true);

    const oversized = await session();
    const header = Buffer.alloc(5);
    header[0] = 0x51;
    header.writeInt32BE(0x7ffffff0, 1);
    oversized.write(header);
    expect(errorOf(await oversized.readUntilReady())).toMatchObject({ S: 'FATAL', C: '08P01' });
    expect(await oversized.waitClosed()).toBe(true);

    const truncated = await session();
    truncated.write(Buffer.concat([Buffer.from([0x42, 0, 0, 0, 6]), Buffer.from('x\0'), serialize.sync()]));
    const truncatedReply = await truncated.readUntilReady();
    expect(errorOf(truncatedReply)?.['C']).toBe('08P01');

    const garbage = await RawClient.open(port);
    garbage.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(await garbage.waitClosed()).toBe(true);

    expect(rowsOf(await query(bystander, 'select count(*) from events'))).toEqual([['50']]);
  });

  it('answers SSLRequest and GSSENCRequest with N and a newer minor version with NegotiateProtocolVersion', async () => {
    const raw = await RawClient.open(port);
    open.push(raw);
    raw.write(serialize.requestSsl());
    expect(await raw.byte()).toBe('N');
    const gss = Buffer.alloc(8);
    gss.writeInt32BE(8);
    gss.writeInt32BE(80877104, 4);
    raw.write(gss);
    expect(await raw.byte()).toBe('N');
    const body = Buffer.from('user\0raw\0_pq_.something\0x\0\0');
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + body.length);
    startup.writeInt32BE((3 << 16) | 5, 4);
    raw.write(Buffer.concat([startup, body]));
    const reply = await raw.readUntilReady();
    const negotiate = reply.find((m) => m.type === 'v')!;
    expect(negotiate.body.readInt32BE(0)).toBe(0);
    expect(negotiate.body.readInt32BE(4)).toBe(1);
    expect(negotiate.body.toString('utf8', 8)).toBe('_pq_.something\0');
    expect(readyStatus(reply)).toBe('I');
  });

  it('reads a repeated SSLRequest or GSSENCRequest as PostgreSQL does: the startup message of a protocol it does not know', async () => {
    const gss = Buffer.alloc(8);
    gss.writeInt32BE(8);
    gss.writeInt32BE(80877104, 4);
    for (const [request, version] of [
      [serialize.requestSsl(), '1234.5679'],
      [gss, '1234.5680'],
    ] as const) {
      const raw = await RawClient.open(port);
      open.push(raw);
      raw.write(request);
      expect(await raw.byte()).toBe('N');
      raw.write(request);
      expect(errorOf(await raw.readUntilReady())).toMatchObject({
        S: 'FATAL',
        C: '0A000',
        M: `unsupported frontend protocol ${version}: server supports 3.0 to 3.0`,
      });
      expect(await raw.waitClosed()).toBe(true);
    }
  });

  it('ignores a Query and a fastpath call behind an extended message kinesql refused, until the Sync, as PostgreSQL does', async () => {
    const a = await session();
    a.write(Buffer.concat([serialize.parse({ text: 'create table kept_out (a int)' }), serialize.flush()]));
    expect(errorOf(await a.read(1))).toMatchObject({ S: 'ERROR', C: '25006' });
    const fastpath = Buffer.from([0x46, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]);
    a.write(Buffer.concat([serialize.query('select 1'), fastpath, serialize.sync()]));
    expect(types(await a.readUntilReady())).toBe('Z');
    expect(rowsOf(await query(a, 'select 3'))).toEqual([['3']]);
  });

  it('ends the connection at a message type the protocol has not defined only once everything before it is answered', async () => {
    const a = await session();
    a.write(Buffer.concat([serialize.query('select pg_sleep(0.3), 7'), Buffer.from([0x7a, 0, 0, 0, 4])]));
    const answer = await a.readUntilReady();
    expect(types(answer)).toBe('TDCZ');
    expect(rowsOf(answer)).toEqual([['', '7']]);
    expect(errorOf(await a.readUntilReady())).toMatchObject({ S: 'FATAL', C: '08P01', M: 'invalid frontend message type 122' });
    expect(await a.waitClosed()).toBe(true);
  });

  it('cancels a running query with CancelRequest; the session and other sessions’ statements keep working', async () => {
    const a = await session();
    const b = await session();
    b.write(Buffer.concat([serialize.parse({ name: 'kept', text: 'select $1::text' }), serialize.sync()]));
    await b.readUntilReady();
    const key = await keyOf(port);
    a.write(serialize.query(SLOW_QUERY));
    await runningInEngine(b);
    await key.cancel(a);
    const reply = await a.readUntilReady();
    expect(errorOf(reply)).toMatchObject({ C: '57014', M: 'canceling statement due to user request' });
    expect(readyStatus(reply)).toBe('I');
    expect(rowsOf(await query(a, 'select count(*) from events'))).toEqual([['50']]);
    b.write(Buffer.concat([serialize.bind({ statement: 'kept', values: ['still here'] }), serialize.execute({}), serialize.sync()]));
    expect(rowsOf(await b.readUntilReady())).toEqual([['still here']]);
  });

  it('reports a failed named Parse inside a transaction block as PostgreSQL does, and the block ends cleanly', async () => {
    const a = await session();
    const b = await session();
    await query(a, 'begin');
    a.write(
      Buffer.concat([
        serialize.parse({ name: 's1', text: 'select no_such_column from events' }),
        serialize.bind({ statement: 's1' }),
        serialize.execute({}),
        serialize.sync(),
      ]),
    );
    const reply = await a.readUntilReady();
    expect(errorOf(reply)).toMatchObject({ C: '42703' });
    expect(readyStatus(reply)).toBe('E');
    expect(readyStatus(await query(a, 'rollback'))).toBe('I');
    expect(rowsOf(await query(b, 'select count(*) from events'))).toEqual([['50']]);
    expect(rowsOf(await query(a, 'select 1'))).toEqual([['1']]);
  });

  it('keeps SQL-level PREPAREd statements of other sessions across a cancel (the engine restarts under them)', async () => {
    const a = await session();
    const b = await session();
    await query(b, "PREPARE answer (int) AS select $1 + 1 as v; PREPARE gone AS select 'x'");
    await query(b, 'DEALLOCATE gone');
    const key = await keyOf(port);
    a.write(serialize.query(SLOW_QUERY));
    await runningInEngine(b);
    await key.cancel(a);
    expect(errorOf(await a.readUntilReady())).toMatchObject({ C: '57014' });
    expect(rowsOf(await query(b, 'EXECUTE answer (41)'))).toEqual([['42']]);
    expect(errorOf(await query(b, 'EXECUTE gone'))).toMatchObject({ C: '26000' });
  });

  it('enforces statement_timeout and leaves a cancelled transaction block failed until ROLLBACK', async () => {
    const a = await session();
    await query(a, 'set statement_timeout = 300');
    await query(a, 'begin');
    const reply = await query(a, SLOW_QUERY);
    expect(errorOf(reply)).toMatchObject({ C: '57014', M: 'canceling statement due to statement timeout' });
    expect(readyStatus(reply)).toBe('E');
    expect(errorOf(await query(a, 'select 1'))?.['C']).toBe('25P02');
    expect(readyStatus(await query(a, 'rollback'))).toBe('I');
    expect(rowsOf(await query(a, 'show statement_timeout'))).toEqual([['300ms']]);
  });

  it("lays out kinesql's own ErrorResponse byte for byte as the engine lays out its own, field for field", async () => {
    const client = await session();
    const written = 'SVCMDHP';
    const engineSent: string[] = [];
    for (const sql of ['select now(1)', "select '{'::jsonb"]) {
      client.write(serialize.query(sql));
      const error = (await client.readUntilReady()).find((m) => m.type === 'E')!;
      // The engine's fields that kinesql writes too, as the engine sent them; the others (context, file, line, routine) left out.
      const kept: Buffer[] = [];
      const codes: string[] = [];
      for (let offset = 0; error.body[offset] !== 0; ) {
        const end = error.body.indexOf(0, offset) + 1;
        const code = String.fromCharCode(error.body[offset]!);
        if (written.includes(code)) {
          kept.push(error.body.subarray(offset, end));
          codes.push(code);
        }
        offset = end;
      }
      engineSent.push(codes.join(''));
      const body = Buffer.concat([...kept, Buffer.from([0])]);
      const length = Buffer.alloc(4);
      length.writeInt32BE(4 + body.length);
      const fields = errorFields(error.body);
      const ours = errorResponse({
        severity: fields['S'] as 'ERROR',
        sqlstate: fields['C']!,
        message: fields['M']!,
        detail: fields['D'],
        hint: fields['H'],
        position: fields['P'] === undefined ? undefined : Number(fields['P']),
      });
      expect(ours).toEqual(Buffer.concat([Buffer.from('E'), length, body]));
    }
    // A hint in one, a detail in the other, a position in both: every optional field was compared.
    expect(engineSent).toEqual(['SVCMHP', 'SVCMDP']);
  });
});

/** Reads a session's BackendKeyData by opening it ourselves; returns a canceller for sessions opened by RawClient. */
async function keyOf(port: number): Promise<{ cancel(client: RawClient): Promise<void> }> {
  return {
    async cancel(client) {
      const key = client.key;
      if (!key) throw new Error('session has no key');
      const raw = await RawClient.open(port);
      raw.write(serialize.cancel(key.processId, key.secretKey));
      await raw.waitClosed();
    },
  };
}
