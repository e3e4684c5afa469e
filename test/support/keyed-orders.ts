/**
 * The `orders` stream the fault tests write: records of a few partition keys, each carrying its key and a
 * per-key counter, so SQL can tell a lost, repeated or reordered record of a key from the payload alone.
 */
export const KEYED_ORDERS_DEFINITION = {
  tableName: 'orders',
  streamName: 'orders',
  message: {
    dataFormat: 'json',
    fields: [
      { name: 'k', type: 'VARCHAR', mapping: 'k' },
      { name: 'seq', type: 'INTEGER', mapping: 'seq' },
    ],
  },
};

/** Rows whose per-key counter does not follow the previous record of its key in the stream's order (should be none). */
export const KEY_COUNTER_GAPS_SQL = `select k from (select k, seq, lag(seq) over (partition by k order by _shard_sequence_id::numeric) as previous from orders) s
  where previous is not null and seq <> previous + 1`;

/** The PutRecords entries of one writer round: `count` records spread over `keys` keys, counters in nextSeq. */
export function keyedRecords(round: number, count: number, nextSeq: number[]): { Data: Buffer; PartitionKey: string }[] {
  return Array.from({ length: count }, (_, i) => {
    const key = (round * count + i) % nextSeq.length;
    return { Data: Buffer.from(JSON.stringify({ k: `k${key}`, seq: nextSeq[key]!++ })), PartitionKey: `k${key}` };
  });
}
