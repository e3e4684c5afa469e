/**
 * Session-scoping of SQL-level names. All sessions share one engine backend, so the names of cursors
 * (DECLARE/FETCH/MOVE/CLOSE) and of SQL prepared statements (PREPARE/EXECUTE/DEALLOCATE) are given the
 * session's prefix before the text reaches the engine; error texts have it removed again (ReplyFilter).
 */
import { scanSync } from 'libpg-query';
import { quoteIdent } from '../catalog/ddl.js';
import { isParseFailure, parseStatements, type ParsedStatement } from '../sql/parse.js';

export interface RewrittenSql {
  sql: string;
  statements: ParsedStatement[];
  /** A statement that only kinesql can answer for this session alone (it must be the only statement). */
  sessionCommand?: 'discard-all' | 'deallocate-all' | 'close-all';
  /** True when the text may change session settings (SET, RESET, set_config, DISCARD …). */
  maySetSettings: boolean;
}

const SETTINGS_WORDS = /set_config|\bset\b|\breset\b|\bdiscard\b/i;

export function rewriteSql(sql: string, prefix: string): RewrittenSql {
  const maySetSettings = SETTINGS_WORDS.test(sql);
  const parsed = parseStatements(sql);
  if (isParseFailure(parsed)) return { sql, statements: [], maySetSettings };
  const edits: { start: number; end: number; text: string }[] = [];
  let sessionCommand: RewrittenSql['sessionCommand'];
  for (const statement of parsed) {
    const fields = (statement.node as unknown as Record<string, Record<string, unknown>>)[statement.nodeType] ?? {};
    let tokenIndex: number | 'last' | undefined;
    let name: unknown;
    switch (statement.nodeType) {
      case 'PrepareStmt':
      case 'ExecuteStmt':
        tokenIndex = 1;
        name = fields['name'];
        break;
      case 'DeclareCursorStmt':
        tokenIndex = 1;
        name = fields['portalname'];
        break;
      case 'DeallocateStmt':
        if (fields['isall'] === true) sessionCommand = 'deallocate-all';
        else {
          tokenIndex = 1;
          name = fields['name'];
        }
        break;
      case 'ClosePortalStmt':
        if (fields['portalname'] === undefined) sessionCommand = 'close-all';
        else {
          tokenIndex = 1;
          name = fields['portalname'];
        }
        break;
      case 'FetchStmt':
        tokenIndex = 'last';
        name = fields['portalname'];
        break;
      case 'DiscardStmt':
        if (fields['target'] === undefined || fields['target'] === 'DISCARD_ALL') sessionCommand = 'discard-all';
        break;
    }
    if (tokenIndex === undefined || typeof name !== 'string') continue;
    const tokens = scanSync(statement.text).tokens.filter((token) => token.text !== ';');
    let token = tokenIndex === 'last' ? tokens.at(-1) : tokens[tokenIndex];
    if (statement.nodeType === 'DeallocateStmt' && token?.text.toLowerCase() === 'prepare') token = tokens[2];
    if (!token) continue;
    // Token offsets are bytes of the UTF-8 text; convert to string indexes.
    const bytes = Buffer.from(statement.text, 'utf8');
    const start = statement.textOffset + bytes.subarray(0, token.start).toString('utf8').length;
    const end = statement.textOffset + bytes.subarray(0, token.end).toString('utf8').length;
    edits.push({ start, end, text: quoteIdent(prefix + name) });
  }
  let out = sql;
  for (const edit of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
  return { sql: out, statements: parsed, maySetSettings, ...(sessionCommand ? { sessionCommand } : {}) };
}
