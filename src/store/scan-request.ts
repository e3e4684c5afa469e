import { createHash } from 'node:crypto';
import type { ShardDescription } from '../kinesis/records.js';
import { compareSequenceNumbers } from '../kinesis/sequence-number.js';
import { laterTime, type LowerBound } from './loaded-range.js';

/** Bounds a statement puts on a stream table's internal columns, pushed into the shard reads. */
export interface ScanBounds {
  /** `_message_timestamp >= / > / BETWEEN`: older records are not needed. */
  fromTime?: Date;
  /** `_shard_id = / IN`: only these shards. */
  shardIds?: readonly string[];
  /** `_partition_key = / IN`: only the shards whose hash-key range holds MD5 of one of these keys. */
  partitionKeys?: readonly string[];
  /** `_shard_sequence_id > / >=`: only records after (or at) this sequence number. */
  fromSequence?: { sequenceNumber: string; inclusive: boolean };
}

/** Where a table's window starts for one statement: `undefined` start = TRIM_HORIZON. */
export interface ScanWindow {
  start: Date | undefined;
}

/** How far a table a statement waits for has loaded its window, reported every few seconds while it loads. */
export interface ScanProgress {
  /** schema.table */
  table: string;
  /** 0…1 of the window's time span (see load-progress.ts). */
  ratio: number;
  /** The window's span; undefined when it reaches back to the trim horizon. */
  windowMs: number | undefined;
  /** At the rate of the load so far; undefined until it is known. */
  secondsLeft: number | undefined;
}

/** Per-session overrides of the Trino connector's read settings (SET kinesis.max_batches, batch_size). */
export interface ReadOverrides {
  maxBatches?: number;
  batchSize?: number;
}

export interface ScanRequest {
  /** The statement's start: the snapshot ends at the streams' tips as of then. */
  stopAt: Date;
  bounds?: ScanBounds;
  /** The session's window; the table's configured window when absent. */
  window?: ScanWindow;
  read?: ReadOverrides;
  /**
   * A bounded-staleness statement (kinesql.max_staleness): the tips as of this moment or later will do, so a
   * subscription's read ends at the first event at the tip made after it rather than after stopAt.
   */
  tipSince?: Date;
  /**
   * The follower's catch-up: with enhanced fan-out it loads what the subscriptions delivered and does not
   * wait for an event at the tip, so the table is free for statements at once.
   */
  background?: boolean;
}

/** The 128-bit hash Kinesis puts a partition key under: MD5 of its UTF-8 bytes, as an unsigned integer. */
export function partitionKeyHash(partitionKey: string): bigint {
  return BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
}

/** The shards a statement's bounds leave to read: every shard unless _shard_id or _partition_key narrow them. */
export function shardsForBounds(shards: ShardDescription[], bounds: ScanBounds | undefined): Set<string> {
  let chosen = new Set(shards.map((shard) => shard.shardId));
  if (bounds?.shardIds) {
    const wanted = new Set(bounds.shardIds);
    chosen = new Set([...chosen].filter((id) => wanted.has(id)));
  }
  if (bounds?.partitionKeys) {
    const hashes = bounds.partitionKeys.map(partitionKeyHash);
    const holding = new Set(
      shards.filter((shard) => hashes.some((hash) => hash >= shard.startingHashKey && hash <= shard.endingHashKey)).map((shard) => shard.shardId),
    );
    chosen = new Set([...chosen].filter((id) => holding.has(id)));
  }
  return chosen;
}

/** The lower bound of what the statement needs from one shard, or 'nothing' when its bounds exclude the shard. */
export function neededBound(shard: ShardDescription, windowStart: Date | undefined, request: ScanRequest): LowerBound | 'nothing' {
  const byTime = laterTime(windowStart, request.bounds?.fromTime);
  const fromSequence = request.bounds?.fromSequence;
  if (!fromSequence) return byTime;
  const seq = fromSequence.sequenceNumber;
  if (shard.endingSequenceNumber !== undefined && compareSequenceNumbers(seq, shard.endingSequenceNumber) >= 0) {
    return compareSequenceNumbers(seq, shard.endingSequenceNumber) === 0 && fromSequence.inclusive ? byTime : 'nothing';
  }
  // A sequence number from before this shard began says nothing about where to start in it.
  if (compareSequenceNumbers(seq, shard.startingSequenceNumber) < 0) return byTime;
  return { kind: 'sequence', sequenceNumber: seq, inclusive: fromSequence.inclusive };
}
