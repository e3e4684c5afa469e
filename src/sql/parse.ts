/**
 * Parses client SQL with the real PostgreSQL 18 grammar (libpg-query, the parser of PostgreSQL compiled
 * to WASM) and splits a multi-statement string into its statements.
 */
import { channel } from 'node:diagnostics_channel';
import { hasSqlDetails, loadModule, parseSync } from 'libpg-query';
import type { Node } from 'libpg-query';
import { commandTagOf } from './command-tag.js';
import { SQLSTATE } from '../pg/sqlstate.js';

export type { Node } from 'libpg-query';

export interface ParsedStatement {
  /** The statement's parse tree, e.g. `{ SelectStmt: {...} }`. */
  readonly node: Node;
  /** Name of the node's only key, e.g. `SelectStmt`, `VariableSetStmt`. */
  readonly nodeType: string;
  /** PostgreSQL's name for the command, e.g. `SELECT`, `CREATE TABLE`, `SET` (as in its error messages). */
  readonly commandTag: string;
  /** This statement's own SQL text, without the separating semicolon or surrounding whitespace. */
  readonly text: string;
  /** Where `text` starts in the whole input, as a JS string index (UTF-16 units). */
  readonly textOffset: number;
}

export interface ParseFailure {
  readonly error: {
    /** PostgreSQL's message, e.g. `syntax error at or near "FORM"`. */
    readonly message: string;
    /** 1-based character position in the whole input, as PostgreSQL reports it; undefined when none. */
    readonly position?: number;
    /** 42601 (syntax_error), or 54001 (statement_too_complex) for nesting too deep to parse. */
    readonly sqlstate: string;
  };
}

/**
 * Each string the grammar parses, published as `{ sql }` on this Node.js diagnostics channel for tracing tools
 * (`kinesql:sql:parse`, in the thread that parses it); free while nothing subscribes.
 */
export const parseChannel = channel('kinesql:sql:parse');

let loading: Promise<void> | undefined;
let ready = false;

/** Loads the parser's WASM module. Call (and await) once before `parseStatements`; later calls are free. */
export function initParser(): Promise<void> {
  loading ??= loadModule().then(() => {
    ready = true;
  });
  return loading;
}

export function isParseFailure(result: ParsedStatement[] | ParseFailure): result is ParseFailure {
  return !Array.isArray(result);
}

/**
 * Parses `sql` into its statements. An empty string, or one of only whitespace, comments and semicolons,
 * gives an empty list (the wire layer answers that with EmptyQueryResponse).
 */
export function parseStatements(sql: string): ParsedStatement[] | ParseFailure {
  if (!ready) throw new Error('parseStatements called before initParser() finished');
  if (sql.length === 0) return [];
  if (parseChannel.hasSubscribers) parseChannel.publish({ sql });
  let result: ReturnType<typeof parseSync>;
  try {
    result = parseSync(sql);
  } catch (err) {
    return toParseFailure(err);
  }
  const raws = result.stmts ?? [];
  if (raws.length === 0) return [];

  // stmt_location / stmt_len are byte offsets into the UTF-8 encoding of the input.
  const bytes = Buffer.from(sql, 'utf8');
  const statements: ParsedStatement[] = [];
  for (const raw of raws) {
    const node = raw.stmt;
    if (node === undefined) continue;
    const start = raw.stmt_location ?? 0;
    // stmt_len absent or 0 means "to the end of the input".
    const end = raw.stmt_len ? start + raw.stmt_len : bytes.length;
    const slice = bytes.subarray(start, end).toString('utf8');
    const leading = slice.length - slice.trimStart().length;
    const prefixChars = bytes.subarray(0, start).toString('utf8').length;
    const nodeType = Object.keys(node)[0] ?? 'Unknown';
    statements.push({
      node,
      nodeType,
      commandTag: commandTagOf(node),
      text: slice.trim(),
      textOffset: prefixChars + leading,
    });
  }
  return statements;
}

function toParseFailure(err: unknown): ParseFailure {
  if (err instanceof RangeError) {
    // Nesting too deep for the parser's JSON result; PostgreSQL reports such statements the same way.
    return { error: { message: 'stack depth limit exceeded', sqlstate: SQLSTATE.statementTooComplex } };
  }
  if (hasSqlDetails(err) && err.sqlDetails) {
    const { message, cursorPosition } = err.sqlDetails;
    // libpg-query turns PostgreSQL's 1-based cursor position into a 0-based one; PostgreSQL clients
    // expect the 1-based character position.
    return {
      error: {
        message,
        sqlstate: SQLSTATE.syntaxError,
        ...(cursorPosition >= 0 ? { position: cursorPosition + 1 } : {}),
      },
    };
  }
  if (err instanceof WebAssembly.RuntimeError) {
    // The parser's memory may be corrupt from here on: the thread that hit this should not parse again.
    faulted = true;
    return { error: { message: `statement too complex: the SQL parser failed on it (${err.message})`, sqlstate: SQLSTATE.statementTooComplex } };
  }
  return { error: { message: describeError(err), sqlstate: SQLSTATE.syntaxError } };
}

/** An error's message, whatever was thrown (libpg-query may throw plain objects). */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null) {
    if ('message' in err && typeof err.message === 'string') return err.message;
    try {
      return JSON.stringify(err);
    } catch {
      return 'unknown parser error';
    }
  }
  return String(err);
}

let faulted = false;

/** Whether the parser failed in a way that may have left its WASM memory corrupt (this thread should stop parsing). */
export function parserFaulted(): boolean {
  return faulted;
}
