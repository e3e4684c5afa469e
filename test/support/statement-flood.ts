/**
 * A client that sends one large statement over and over until it is killed: a child process of a test, with
 * its messages built once, so that sending them costs the machine little more than the bytes themselves.
 * Run with `node --import tsx test/support/statement-flood.ts <port> <user> <bytes> [select|insert] [simple|extended]`
 * (extended: Parse, Bind, Execute, Sync instead of a Query); prints the outcome of each statement (`ok`, or
 * the SQLSTATE of its error), and logs in again whenever kinesql ends the connection.
 */
import { errorFields, RawClient } from './raw-client.js';

const [port, user, bytes, kind, protocol] = process.argv.slice(2);
// `select`: a count over an IN list of the same number; `insert`: rows of it (refused once analysed, so only
// kinesql's analysis costs anything). `bytes` long, built in one step however large.
const sql =
  kind === 'insert'
    ? `insert into ticks (n) values ${'(7), '.repeat(Math.max(1, Math.floor((Number(bytes) - 40) / 5)))}(7)`
    : `select count(*)::int as n from ticks where n in (${'7, '.repeat(Math.max(1, Math.floor((Number(bytes) - 60) / 3)))}7)`;
/** A message of `type` with `body`, built in one step. */
function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}
const text = Buffer.from(`${sql}\0`, 'utf8');
const query =
  protocol === 'extended'
    ? Buffer.concat([
        // The unnamed statement, no parameter types; the unnamed portal, no parameters, text results; all rows.
        message('P', Buffer.concat([Buffer.from([0]), text, Buffer.from([0, 0])])),
        message('B', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])),
        message('E', Buffer.from([0, 0, 0, 0, 0])),
        message('S', Buffer.alloc(0)),
      ])
    : message('Q', text);

// A statement refused before it is read ends its connection: the flood logs in again a second later (how
// fast a client may reconnect is a matter of connection limits, not of what a statement costs to analyse).
for (;;) {
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const client = await RawClient.startup(Number(port), { user: user! });
  while (!client.closed) {
    client.write(query);
    const messages = await client.readUntilReady();
    const error = messages.find((message) => message.type === 'E');
    if (error || !client.closed) process.stdout.write(`${error ? errorFields(error.body)['C'] : 'ok'}\n`);
  }
}
