/**
 * Catalog columns that PostgreSQL renamed after older clients were built. The embedded engine is PostgreSQL
 * 18; the psql in Debian 12 is 15 and asks pg_database for `daticulocale` (`\l`), renamed `datlocale` in 17. Such
 * identifiers are renamed in the client's SQL before it reaches the engine, token by token, so strings and
 * comments that happen to contain the old name are left alone.
 */
import type { ByteEdit } from './splice.js';
import type { Token } from './tokens.js';

const RENAMED: Record<string, string> = {
  daticulocale: 'datlocale',
  colliculocale: 'colllocale',
};

const MAYBE_RENAMED = new RegExp(Object.keys(RENAMED).join('|'), 'i');

/** The edits that give renamed catalog columns their new names (none when the text cannot name one). */
export function oldCatalogColumnEdits(sql: string, tokens: () => readonly Token[]): ByteEdit[] {
  if (!MAYBE_RENAMED.test(sql)) return [];
  return tokens()
    .filter((token) => token.tokenName === 'IDENT' && RENAMED[token.text.toLowerCase()] !== undefined)
    .map((token) => ({ start: token.start, end: token.end, text: RENAMED[token.text.toLowerCase()]! }));
}
