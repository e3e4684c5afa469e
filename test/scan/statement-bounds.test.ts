import { beforeAll, describe, expect, it } from 'vitest';
import { initParser, isParseFailure, parseStatements } from '../../src/sql/parse.js';
import { scanBoundsFor } from '../../src/sql/scan-bounds.js';
import { boundsOfPrecomputed, precomputeBounds } from '../../src/sql/statement-bounds.js';
import { referencedRelations } from '../../src/sql/stream-tables.js';

const analysedAt = new Date('2026-03-01T12:00:00.000Z').getTime();
const laterStarts = [0, 1, 90_000, 86_400_000].map((ms) => new Date(analysedAt + ms));

/** A worker's bounds (worked out once, when the text was analysed) against the tree's, for statements starting then or later. */
function compare(sql: string, tables: { schema: string; name: string }[]) {
  const parsed = parseStatements(sql);
  if (isParseFailure(parsed)) throw new Error(parsed.error.message);
  const node = parsed[0]!.node;
  const fromWorker = boundsOfPrecomputed(structuredClone(precomputeBounds(node, referencedRelations(node), analysedAt)));
  for (const table of tables) {
    for (const start of laterStarts)
      expect(fromWorker.boundsFor(table, start), `${sql} / ${table.schema}.${table.name} at ${start.toISOString()}`).toEqual(scanBoundsFor(node, table, start));
  }
}

describe('scan bounds worked out in a worker, used for later statement starts', () => {
  beforeAll(async () => {
    await initParser();
  });

  it('equal the bounds from the parse tree: fixed instants, instants relative to the start, shards, keys, sequences', () => {
    const tables = [
      { schema: 'public', name: 'events' },
      { schema: 'other', name: 'events' },
      { schema: 'public', name: 'clicks' },
    ];
    for (const sql of [
      `select * from events where _message_timestamp >= now() - interval '5 minutes'`,
      `select * from events where _message_timestamp between '2026-02-01T00:00:00Z' and '2026-02-02T00:00:00Z'`,
      `select * from events where _shard_id in ('shardId-1', 'shardId-2') and _partition_key = 'k' and _shard_sequence_id > '42'`,
      `select * from other.events e where e._message_timestamp > current_timestamp - '1 hour'::interval`,
      `select * from events a join clicks b on true where a._message_timestamp >= now() - interval '1 minute' and b._shard_id = 'x'`,
      `select * from events where _message_timestamp >= date_trunc('day', now())`,
    ]) {
      compare(sql, tables);
    }
  });

  it('never start later than the tree would when a bound mixes a fixed instant and the start', () => {
    const sql = `select * from events where _message_timestamp >= now() - interval '1 hour' union all select * from events where _message_timestamp >= '2026-03-01T11:30:00Z'`;
    const parsed = parseStatements(sql);
    if (isParseFailure(parsed)) throw new Error(parsed.error.message);
    const node = parsed[0]!.node;
    const fromWorker = boundsOfPrecomputed(precomputeBounds(node, referencedRelations(node), analysedAt));
    const table = { schema: 'public', name: 'events' };
    for (const start of laterStarts) {
      const exact = scanBoundsFor(node, table, start)?.fromTime?.getTime() ?? Number.NEGATIVE_INFINITY;
      const used = fromWorker.boundsFor(table, start)?.fromTime?.getTime() ?? Number.NEGATIVE_INFINITY;
      expect(used).toBeLessThanOrEqual(exact);
    }
  });
});
