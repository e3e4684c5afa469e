/**
 * What a shard reader has done, apart from the reader: what shows it (kinesql.shards, the status page, /metrics)
 * needs no Kinesis client.
 */

/** What a reader has done since it was made; shown in kinesql.shards. */
export interface ShardReaderStats {
  calls: number;
  records: number;
  bytes: number;
  throttles: number;
  retries: number;
  expiredIterators: number;
  millisBehindLatest: number | undefined;
  lastError: string | undefined;
  /** SubscribeToShard calls and the events they delivered (enhanced fan-out). */
  subscribeCalls: number;
  subscriptionEvents: number;
  /** When the shard was last read to its tip (ms since the epoch). */
  lastTipAt: number | undefined;
  /**
   * How far reads of the shard's tail have come, as a time (ms since the epoch): when the last GetRecords
   * was sent less the MillisBehindLatest it answered. Reads that fill in older records leave it alone.
   */
  readUpTo: number | undefined;
}

/** The stats of a shard nothing has read yet. */
export function unreadShardStats(): ShardReaderStats {
  return {
    calls: 0,
    records: 0,
    bytes: 0,
    throttles: 0,
    retries: 0,
    expiredIterators: 0,
    millisBehindLatest: undefined,
    lastError: undefined,
    subscribeCalls: 0,
    subscriptionEvents: 0,
    lastTipAt: undefined,
    readUpTo: undefined,
  };
}
