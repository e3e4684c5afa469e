/**
 * What a client asks about the server it talks to — `version()`, `inet_server_port()`,
 * `inet_server_addr()`, `SHOW port` — is answered about kinesql, not about the engine behind it (whose port
 * is a private socket). The calls are pointed at kinesql's functions in the client's SQL, token by token, so
 * strings and comments that contain the words are left alone; a `SHOW port` statement, found in the parse
 * tree whatever comments or quotes it is written with, is replaced whole.
 */
import type { ParsedStatement } from './parse.js';
import { fieldsOf } from './parse-tree.js';
import type { ByteEdit } from './splice.js';
import type { Token } from './tokens.js';

const FUNCTIONS: Record<string, string> = {
  version: 'kinesql.version',
  inet_server_port: 'kinesql.server_port',
  inet_server_addr: 'kinesql.server_addr',
};

const MAYBE = /version|inet_server_/i;

/** The edits that point questions about the server at kinesql (none when the text cannot ask one). */
export function serverIdentityEdits(sql: string, scan: () => readonly Token[]): ByteEdit[] {
  if (!MAYBE.test(sql)) return [];
  const tokens = scan();
  const edits: ByteEdit[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const word = token.text.toLowerCase();
    const replacement = FUNCTIONS[word];
    if (replacement && tokens[i + 1]?.text === '(' && tokens[i + 2]?.text === ')') {
      const qualified = tokens[i - 1]?.text === '.' && tokens[i - 2]?.text.toLowerCase() === 'pg_catalog';
      if (tokens[i - 1]?.text === '.' && !qualified) continue;
      edits.push({ start: qualified ? tokens[i - 2]!.start : token.start, end: token.end, text: replacement });
    }
  }
  return edits;
}

/** What `SHOW port` (any spelling: comments, quotes, case) answers: kinesql's own port, never the engine's. */
const SHOW_PORT = `SELECT current_setting('kinesql.server_port') AS port`;

/** The edits that turn each `SHOW port` statement into a question about kinesql's port. */
export function showPortEdits(sql: string, statements: readonly ParsedStatement[]): ByteEdit[] {
  return statements.flatMap((statement) => {
    if (fieldsOf(statement.node, 'VariableShowStmt')?.name?.toLowerCase() !== 'port') return [];
    const start = Buffer.byteLength(sql.slice(0, statement.textOffset), 'utf8');
    return [{ start, end: start + Buffer.byteLength(statement.text, 'utf8'), text: SHOW_PORT }];
  });
}
