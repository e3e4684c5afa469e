/**
 * Catalog columns that PostgreSQL renamed after older clients were built. The engine is PostgreSQL 18; the
 * psql in Debian 12 is 15 and asks pg_database for `daticulocale` (`\l`), renamed `datlocale` in 17. Such
 * identifiers are renamed in the client's SQL before it reaches the engine, token by token, so strings and
 * comments that happen to contain the old name are left alone.
 */
import { scanSync } from 'libpg-query';

const RENAMED: Record<string, string> = {
  daticulocale: 'datlocale',
  colliculocale: 'colllocale',
};

const MAYBE_RENAMED = new RegExp(Object.keys(RENAMED).join('|'), 'i');

export function renameOldCatalogColumns(sql: string): string {
  if (!MAYBE_RENAMED.test(sql)) return sql;
  const bytes = Buffer.from(sql, 'utf8');
  const replacements = scanSync(sql)
    .tokens.filter((token) => token.tokenName === 'IDENT' && RENAMED[token.text.toLowerCase()] !== undefined)
    .sort((a, b) => b.start - a.start);
  let out = bytes;
  for (const token of replacements) {
    out = Buffer.concat([out.subarray(0, token.start), Buffer.from(RENAMED[token.text.toLowerCase()]!, 'utf8'), out.subarray(token.end)]);
  }
  return out.toString('utf8');
}
