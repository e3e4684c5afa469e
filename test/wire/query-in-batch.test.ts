/**
 * A simple Query between extended-protocol messages and their Sync, answered as PostgreSQL answers it: the same
 * bytes go to kinesql and, logged in as the same role, straight to its engine, and the answers are compared.
 */
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { dataRow, errorFields, RawClient, type BackendMessage } from '../support/raw-client.js';

const definition = {
  tableName: 'events',
  streamName: 'events',
  message: { dataFormat: 'json', fields: [{ name: 'id', type: 'BIGINT', mapping: 'id' }] },
};

/** A message as the comparison reads it: its type, with the rows, tags, SQLSTATEs and transaction status that matter. */
function summary(message: BackendMessage): string {
  switch (message.type) {
    case 'D':
      return `D ${dataRow(message.body).join(',')}`;
    case 'C':
      return `C ${message.body.toString('utf8', 0, message.body.length - 1)}`;
    case 'E':
      return `E ${errorFields(message.body)['C']}`;
    case 'Z':
      return `Z ${String.fromCharCode(message.body[0]!)}`;
    default:
      return message.type;
  }
}

/** The answer up to the `readies`-th ReadyForQuery. */
async function answer(client: RawClient, readies: number): Promise<string[]> {
  const messages: string[] = [];
  for (let seen = 0; seen < readies; ) {
    const message = await client.next();
    if (!message) throw new Error(`the connection closed after ${messages.join(' | ')}`);
    if (message.type === 'N' || message.type === 'S') continue;
    messages.push(summary(message));
    if (message.type === 'Z') seen += 1;
  }
  return messages;
}

const extended = (text: string): Buffer[] => [serialize.parse({ text }), serialize.bind(), serialize.execute()];

describe('a simple Query inside an extended-protocol batch', () => {
  let harness: Harness;
  let kinesql: RawClient;
  const open: RawClient[] = [];

  beforeAll(async () => {
    harness = await startHarness({ streams: [{ name: 'events', shards: 1 }], definitions: { 'events.json': definition } });
    await harness.put('events', [{ id: 1 }, { id: 2 }]);
  });

  afterAll(async () => {
    for (const client of open) client.close();
    await harness?.close();
  });

  /**
   * Sends the same bytes to a new kinesql session and a new engine backend of the same role, each step's answer
   * read up to its ReadyForQuery count, and returns kinesql's.
   */
  const both = async (...steps: { bytes: Buffer[]; readies: number }[]): Promise<string[]> => {
    kinesql = await RawClient.startup(harness.server.port);
    const { engine: server, roles } = harness.server;
    const link = await server.openBackend('raw', await roles.passwordFor('raw'), []);
    const engine = RawClient.over(link.socket, link.leftover);
    open.push(kinesql, engine);
    const answers: string[][] = [[], []];
    for (const step of steps) {
      for (const [index, client] of [kinesql, engine].entries()) {
        client.write(Buffer.concat(step.bytes));
        answers[index]!.push(...(await answer(client, step.readies)));
      }
    }
    expect(answers[0]).toEqual(answers[1]);
    return answers[0]!;
  };

  it('runs the batch first, then the Query, then answers the Sync', async () => {
    const answered = await both({ bytes: [...extended('select 1'), serialize.query('select 2'), serialize.sync()], readies: 2 });
    expect(answered).toEqual(['1', '2', 'D 1', 'C SELECT 1', 'T', 'D 2', 'C SELECT 1', 'Z T', 'Z I']);
  });

  it('answers the Query without waiting for the Sync the client sends after it', async () => {
    const answered = await both({ bytes: [...extended('select 1'), serialize.query('select 2')], readies: 1 }, { bytes: [serialize.sync()], readies: 1 });
    expect(answered).toEqual(['1', '2', 'D 1', 'C SELECT 1', 'T', 'D 2', 'C SELECT 1', 'Z T', 'Z I']);
  });

  it('skips the Query up to the Sync after a Parse kinesql refuses', async () => {
    const answered = await both({ bytes: [...extended('selec 1'), serialize.query('select 2'), serialize.sync()], readies: 1 });
    expect(answered).toEqual(['E 42601', 'Z I']);
  });

  it('skips the Query up to the Sync after an extended message the engine fails', async () => {
    const atParse = await both({ bytes: [...extended('select * from no_such_table'), serialize.query('select 2'), serialize.sync()], readies: 1 });
    expect(atParse).toEqual(['E 42P01', 'Z I']);
    // Constant folding fails it at its Bind.
    const atBind = await both({ bytes: [...extended('select 1/0'), serialize.query('select 2'), serialize.sync()], readies: 1 });
    expect(atBind).toEqual(['1', 'E 22012', 'Z I']);
  });

  it('fails the batch with a Query it refuses, in a transaction block too', async () => {
    const alone = await both({ bytes: [...extended('select 1'), serialize.query('selec 2')], readies: 1 }, { bytes: [serialize.sync()], readies: 1 });
    expect(alone).toEqual(['1', '2', 'D 1', 'C SELECT 1', 'E 42601', 'Z I', 'Z I']);
    const inBlock = await both(
      { bytes: [serialize.query('begin')], readies: 1 },
      { bytes: [...extended('select 1'), serialize.query('selec 2'), serialize.sync()], readies: 2 },
      { bytes: [serialize.query('select 3')], readies: 1 },
      { bytes: [serialize.query('rollback')], readies: 1 },
    );
    expect(inBlock).toEqual(['C BEGIN', 'Z T', '1', '2', 'D 1', 'C SELECT 1', 'E 42601', 'Z E', 'Z E', 'E 25P02', 'Z E', 'C ROLLBACK', 'Z I']);
  });

  it('keeps the session in step afterwards: a stream statement waits for nothing left over', async () => {
    kinesql.write(serialize.query('select count(*) from events'));
    expect(await answer(kinesql, 1)).toEqual(['T', 'D 2', 'C SELECT 1', 'Z I']);
  });
});
