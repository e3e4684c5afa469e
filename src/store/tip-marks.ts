/**
 * How far each shard of a stream table counts as read to its tip (`readToTipFor`: the latest statement start
 * a read of its tip served), which is what bounded-staleness answers are judged by (staleness.ts). Marked by
 * this server's own complete reads, recorded in the engine for the other servers on it (shard-tip-reads.ts),
 * and by the other servers' reads it adopts. When the engine may have lost commits, no shard counts as read
 * until a read has taken its position from the engine again: a read begun before that doubt marks nothing.
 */
import type { Logger } from 'pino';
import type { ShardState } from './shard-loader.js';
import type { TipReads } from './shard-tip-reads.js';

/** When a read began, as tip marks count: a doubt since then makes it mark nothing. */
export type ReadBegun = number;

export class TipMarks {
  /** Counts the doubts: a read that began before one does not make its shard fresh. */
  private generation = 0;

  constructor(
    /** The table's key in the engine's tip reads (roles.ts tableKey). */
    private readonly table: string,
    /** The table as the log names it. */
    private readonly tableName: string,
    /** Servers sharing the engine: reads to the tip are recorded there for the others. */
    private readonly tipReads: TipReads | undefined,
    private readonly logger: Logger,
  ) {}

  /** Taken as a read (or an adoption) begins, before it takes the shard's position from the engine. */
  begin(): ReadBegun {
    return this.generation;
  }

  /**
   * The engine may have lost commits (it restarted, a connection or a commit failed): no shard counts as
   * read to its tip until a read has taken its position from the engine again.
   */
  distrust(shards: Iterable<ShardState>): void {
    this.generation += 1;
    for (const shard of shards) shard.readToTipFor = undefined;
  }

  /** This server's read begun at `begun` read the shard to its tip for statements started until `tipFor`; the other servers are told. */
  async readToTip(shard: ShardState, tipFor: Date, begun: ReadBegun): Promise<void> {
    if (!this.marks(shard, tipFor, begun)) return;
    // Others then wait a little longer, or read themselves: the statement need not fail for it.
    await this.tipReads
      ?.publish(this.table, shard.description.shardId, tipFor)
      .catch((error: unknown) => this.logger.warn({ err: error, table: this.tableName }, 'could not record a read to the tip in the engine'));
  }

  /** Another server's read took the shard to its tip for statements started until `at` (its loads are in the engine). */
  adopt(shard: ShardState, at: Date, begun: ReadBegun): void {
    this.marks(shard, at, begun);
  }

  private marks(shard: ShardState, tipFor: Date, begun: ReadBegun): boolean {
    if (begun !== this.generation || (shard.readToTipFor !== undefined && shard.readToTipFor >= tipFor)) return false;
    shard.readToTipFor = tipFor;
    return true;
  }
}
