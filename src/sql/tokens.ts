/**
 * The client's SQL as PostgreSQL's lexer splits it (libpg-query's scanner), for rewrites that must touch
 * identifiers and keywords but never strings or comments. Offsets are bytes of the text's UTF-8 encoding.
 */
import { channel } from 'node:diagnostics_channel';
import { scanSync, type ScanToken } from 'libpg-query';

export type Token = Pick<ScanToken, 'start' | 'end' | 'text' | 'tokenName'>;

/** Each string the lexer splits, published as `{ sql }` on this diagnostics channel, like parse.ts's `parseChannel`. */
export const scanChannel = channel('kinesql:sql:scan');

/** Scans `sql` at most once, on first use: most statements need no token at all. */
export function lazyTokens(sql: string): () => readonly Token[] {
  let tokens: readonly Token[] | undefined;
  return () => {
    if (tokens === undefined) {
      if (scanChannel.hasSubscribers) scanChannel.publish({ sql });
      tokens = scanSync(sql).tokens;
    }
    return tokens;
  };
}
