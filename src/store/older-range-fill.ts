/**
 * Filling an older range of one shard: the records between a wider bound a statement needs (its own window,
 * or a WHERE on time or sequence number) and the first record loaded so far.
 */
import type { Engine } from '../engine/engine.js';
import type { StreamRecord } from '../kinesis/records.js';
import { quoteLiteral } from '../pg/quoting.js';
import type { CatchUpProgress } from './catch-up-queue.js';
import { positionOf, type LowerBound } from './loaded-range.js';
import type { ScanRequest } from './scan-request.js';
import type { ShardLoader, ShardState } from './shard-loader.js';

/** Loads the records between a wider bound and the first loaded record; undone if it fails half-way. */
export async function fillOlderRange(
  loader: ShardLoader,
  engine: Engine,
  tableName: string,
  shard: ShardState,
  needed: LowerBound,
  request: ScanRequest,
  progress: CatchUpProgress,
): Promise<void> {
  const range = shard.range!;
  const stop = range.firstSequence!;
  let first: StreamRecord | undefined;
  let handedOver = false;
  const before = { rows: shard.rows, invalidRows: shard.invalidRows, messageBytes: shard.messageBytes, segmentCount: shard.segmentCount };
  loader.startLoads(shard);
  try {
    await shard.reader
      .read({
        from: positionOf(needed),
        stopAt: request.stopAt,
        stopBeforeSequence: stop,
        maxBatches: 0,
        beforeCall: (records) => loader.roomForNextBatch(shard, records),
        onBatch: async (records) => {
          handedOver = true;
          await loader.load(shard, records, 'fill');
          first ??= records[0];
          progress.recordsRead += records.length;
        },
      })
      .finally(() => loader.releaseReadRoom(shard));
  } catch (error) {
    // A batch whose commit failed with the connection may have committed all the same: any handed over counts.
    if (first !== undefined || handedOver) {
      Object.assign(shard, before);
      await engine
        .transaction(async (tx) => {
          await tx.query(
            `DELETE FROM ${tableName} WHERE _shard_id = ${quoteLiteral(shard.description.shardId)} AND _shard_sequence_id::numeric < ${quoteLiteral(stop)}::numeric`,
          );
          await loader.save(tx, shard);
        })
        .catch(() => {
          // The engine is away (it crashed under the fill): the rows the fill committed go before the shard's next read.
          shard.unfinishedFill = stop;
        });
    }
    throw error;
  }
  range.lower = needed;
  if (first) {
    range.firstSequence = first.sequenceNumber;
    range.firstArrival = first.arrivalTimestamp;
  }
  await engine.transaction((tx) => loader.save(tx, shard));
}
