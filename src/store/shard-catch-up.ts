/**
 * One shard's part of a catch-up: from the position the engine holds, the older range the statement reaches
 * filled first, then the shard's new tail read up to the tip as of the statement's start, the read to the tip
 * marked and a shard read to its end saved as closed. When a batch finds the engine's position behind what
 * this server loaded (the engine lost commits in a crash), the shard is read again from there: a record read
 * twice is loaded once, because every commit checks the stored position first.
 */
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import { firstLoadBatchSize } from '../kinesis/shard-reader.js';
import type { CatchUpProgress } from './catch-up-queue.js';
import { covers, positionOf, type LowerBound } from './loaded-range.js';
import { fillOlderRange } from './older-range-fill.js';
import type { ScanRequest } from './scan-request.js';
import { PositionLostError, type ShardLoader, type ShardState } from './shard-loader.js';
import { readServes } from './staleness.js';
import type { TipMarks } from './tip-marks.js';

/** Reads of one shard per catch-up when the engine keeps losing commits under it. */
const MAX_POSITION_RELOADS = 3;
const POSITION_WENT_BACK = 'the engine lost loaded records (a crash before they reached the disk); reading the shard again from its stored position';

export interface ShardCatchUpOptions {
  /** Aborted when kinesql shuts down: reads end at their next batch. */
  shutdown?: AbortSignal;
  engine: Engine;
  logger: Logger;
  batchSize: number;
  maxBatches: number;
}

export interface ShardCatchUpParts {
  /** The table as the log names it. */
  tableName: string;
  loader: ShardLoader;
  tipMarks: TipMarks;
  /** A read found the shard's end: its children may be new. */
  onClosed: () => void;
  /** Another server holds the shard's lease (with enhanced fan-out, it alone subscribes to the shard). */
  heldElsewhere: (shardId: string) => boolean;
}

export class ShardCatchUp {
  constructor(
    private readonly parts: ShardCatchUpParts,
    private readonly options: ShardCatchUpOptions,
  ) {}

  /** Loads what the statement needs of the shard from `needed` on, unless what is loaded already serves it. */
  async read(shard: ShardState, needed: LowerBound, request: ScanRequest, progress: CatchUpProgress): Promise<void> {
    if (readServes(shard, needed, request)) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.readOnce(shard, needed, request, progress);
        return;
      } catch (error) {
        if (!(error instanceof PositionLostError) || attempt >= MAX_POSITION_RELOADS) throw error;
        this.options.logger.warn(
          { table: this.parts.tableName, shard: error.shardId, believed: error.believed, stored: error.stored ?? null },
          POSITION_WENT_BACK,
        );
      }
    }
  }

  private async readOnce(shard: ShardState, needed: LowerBound, request: ScanRequest, progress: CatchUpProgress): Promise<void> {
    const { loader, tipMarks, tableName } = this.parts;
    const begun = tipMarks.begin();
    await loader.removeUnfinishedFill(shard);
    const lost = await loader.reloadPosition(shard);
    if (lost !== undefined) {
      this.options.logger.warn(
        { table: tableName, shard: shard.description.shardId, believed: lost, stored: shard.range?.lastSequence ?? null },
        POSITION_WENT_BACK,
      );
    }
    if (!shard.range) {
      shard.range = { lower: needed };
    } else if (!covers(shard.range, needed)) {
      if (shard.range.firstSequence === undefined) {
        // Nothing of this shard is held: read it afresh from the wider bound.
        shard.range = { lower: needed };
        shard.closedAndRead = false;
      } else {
        await fillOlderRange(loader, this.options.engine, tableName, shard, needed, request, progress);
      }
    }
    if (shard.closedAndRead) return;
    const range = shard.range;
    loader.startLoads(shard);
    const from = range.lastSequence ? ({ type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: range.lastSequence } as const) : positionOf(range.lower);
    // Nothing of the shard loaded yet: its first batches start small, so its first rows are in the engine soon.
    const firstBatchSize = range.lastSequence
      ? undefined
      : firstLoadBatchSize(request.read?.batchSize ?? this.options.batchSize, request.read?.maxBatches ?? this.options.maxBatches);
    const result = await shard.reader
      .read({
        from,
        stopAt: request.stopAt,
        ...(request.read?.maxBatches !== undefined ? { maxBatches: request.read.maxBatches } : {}),
        ...(request.read?.batchSize !== undefined ? { batchSize: request.read.batchSize } : {}),
        ...(firstBatchSize !== undefined ? { firstBatchSize } : {}),
        // The follower's reads do not wait for the tip, but take it when they find it, whenever it was made.
        ...(request.background ? { waitForTip: false, tipSince: new Date(0) } : {}),
        ...(request.tipSince ? { tipSince: request.tipSince } : {}),
        // Kinesis serves one subscription per consumer and shard: the lease holder's; the other servers poll.
        ...(this.parts.heldElsewhere(shard.description.shardId) ? { subscribe: false } : {}),
        beforeCall: (records) => loader.roomForNextBatch(shard, records),
        onBatch: async (records) => {
          this.options.shutdown?.throwIfAborted();
          await loader.load(shard, records, 'tail');
          progress.recordsRead += records.length;
        },
      })
      .finally(() => loader.releaseReadRoom(shard));
    // A read found the tip at tipAt (the call's send time, the event's arrival): it answers statements started until then.
    const tipFor = result.tipAt && (result.tipAt > request.stopAt || request.tipSince || request.background) ? result.tipAt : request.stopAt;
    if (result.complete) await tipMarks.readToTip(shard, tipFor, begun);
    if (result.closed) {
      shard.closedAndRead = true;
      await this.options.engine.transaction((tx) => loader.save(tx, shard));
      this.parts.onClosed();
    }
  }
}
