/**
 * A strict statement on a server that does not follow some of its shards: their owners' followers read them
 * (shard-leases.ts), so the statement waits for an owner's read to the tip begun after it started, found in
 * the engine (shard-tip-reads.ts), rather than spending the shard's shared budget on a read of its own. An
 * owner that does not read in time (gone, or stuck) leaves the shard to the statement's own read.
 */
import { tableKey } from '../engine/roles.js';
import { sleep } from '../kinesis/retry.js';
import type { ScanRequest } from './scan-request.js';
import type { ShardLeases } from './shard-leases.js';
import type { TipReads } from './shard-tip-reads.js';
import type { StreamTable } from './stream-table.js';

export interface OwnerReadOptions {
  /** How often the engine is asked while statements wait (ms). */
  pollMs: number;
  /** The longest a statement waits for an owner's read before it reads itself (ms). */
  maxWaitMs: number;
}

export class OwnerReads {
  /** Per table key, the look at the engine under way: statements waiting together share it. */
  private readonly looks = new Map<string, Promise<Map<string, Date>>>();

  constructor(
    private readonly tips: TipReads,
    private readonly leases: ShardLeases,
    private readonly options: OwnerReadOptions,
  ) {}

  /**
   * Waits until every shard the statement needs that another live server follows has been read to its tip
   * at (start − maxStalenessMs) or later, or until maxWaitMs has passed, and takes those reads over.
   */
  async wait(table: StreamTable, request: ScanRequest, maxStalenessMs: number): Promise<void> {
    const since = request.stopAt.getTime() - maxStalenessMs;
    const key = tableKey(table.definition);
    const deadline = Date.now() + this.options.maxWaitMs;
    let pending = table.unreadShards(request, maxStalenessMs).filter((shardId) => this.leases.ownedElsewhere(table, shardId));
    while (pending.length > 0) {
      const tips = await this.look(key);
      const read = pending.filter((shardId) => (tips.get(shardId)?.getTime() ?? 0) >= since);
      if (read.length > 0) await table.adoptTipReads(new Map(read.map((shardId) => [shardId, tips.get(shardId)!])));
      pending = pending.filter((shardId) => !read.includes(shardId) && this.leases.ownedElsewhere(table, shardId));
      if (pending.length === 0 || Date.now() >= deadline) return;
      await sleep(this.options.pollMs);
    }
  }

  private look(key: string): Promise<Map<string, Date>> {
    let look = this.looks.get(key);
    if (!look) {
      look = this.tips.latest(key).finally(() => this.looks.delete(key));
      this.looks.set(key, look);
    }
    return look;
  }
}
