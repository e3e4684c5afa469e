/**
 * Reads of stored shard positions for one table, joined: the shards of a catch-up start their reads together,
 * and the positions they ask for in the same turn of the event loop come from one query instead of one each
 * (32 shards queued 32 queries on the engine's pool before their first GetRecords calls).
 */
import { loadPositions, type Queries, type StoredPosition } from './shard-positions.js';

export class PositionReads {
  private pending: { shardIds: Set<string>; read: Promise<Map<string, StoredPosition>> } | undefined;

  constructor(
    private readonly engine: Queries,
    private readonly key: string,
  ) {}

  /** The shard's stored position as the engine holds it once the joined query runs (after this call). */
  async read(shardId: string): Promise<StoredPosition | undefined> {
    let pending = this.pending;
    if (!pending) {
      const shardIds = new Set<string>();
      // Sent once the current turn is over, so every shard asking in it is in the query.
      const read = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.pending = undefined;
        return loadPositions(this.engine, this.key, [...shardIds]);
      });
      pending = this.pending = { shardIds, read };
    }
    pending.shardIds.add(shardId);
    return (await pending.read).get(shardId);
  }
}
