/**
 * The exactness checker of the fault tests: the whole stream read from TRIM_HORIZON (every shard, parents
 * and children) is the truth, and what SQL shows is compared with it — records lost, records shown more
 * than once, records loaded out of order within their shard (by _segment_count) and within their partition
 * key (by the engine transaction that loaded them, so across a parent and its children too).
 * A table whose older range was filled after its tail (a statement reaching back past what was loaded)
 * holds older records loaded later on purpose: its load order is not the stream's, so check such a table
 * for lost and duplicated records only.
 */
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type pg from 'pg';

/** One record of the stream as Kinesis holds it. */
export interface StreamFact {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
}

/** One row as SQL shows it: its internal columns. */
export interface ShownRow {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  /** _segment_count: the running count of records loaded from the shard. */
  segment: number;
  /** The engine transaction that loaded the row (xmin): batches commit one after another, parents before children. */
  loadedBy: bigint;
}

export interface Exactness {
  /** Records of the stream. */
  records: number;
  /** Rows SQL shows. */
  rows: number;
  /** Records of the stream SQL does not show, as shard/sequence. */
  lost: string[];
  /** Records SQL shows more than once. */
  duplicated: string[];
  /** Rows SQL shows that the stream never held. */
  unknown: string[];
  /** Shards whose rows, in the order they were loaded, do not follow the stream's order. */
  outOfOrderShards: string[];
  /** Partition keys whose rows, in load order (parents before children), do not follow the stream's order. */
  outOfOrderKeys: string[];
}

const idOf = (shardId: string, sequenceNumber: string): string => `${shardId}/${sequenceNumber}`;

/** Every shard of the stream with its parents, read to its current end from TRIM_HORIZON. */
export async function readWholeStream(kinesis: KinesisClient, streamName: string): Promise<{ facts: StreamFact[]; parents: Map<string, string[]> }> {
  const shards: { ShardId?: string; ParentShardId?: string; AdjacentParentShardId?: string }[] = [];
  let token: string | undefined;
  do {
    const page = await kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: streamName }));
    shards.push(...(page.Shards ?? []));
    token = page.NextToken;
  } while (token);
  const facts: StreamFact[] = [];
  const parents = new Map<string, string[]>();
  for (const shard of shards) {
    const shardId = shard.ShardId!;
    parents.set(
      shardId,
      [shard.ParentShardId, shard.AdjacentParentShardId].filter((id): id is string => id !== undefined),
    );
    let iterator = (await kinesis.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' })))
      .ShardIterator;
    while (iterator) {
      const answer = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      const records = answer.Records ?? [];
      for (const record of records) facts.push({ shardId, sequenceNumber: record.SequenceNumber!, partitionKey: record.PartitionKey ?? '' });
      // An empty answer with nothing behind it is the tip of an open shard; a closed shard ends without an iterator.
      if (records.length === 0 && (answer.MillisBehindLatest ?? 0) === 0) break;
      iterator = answer.NextShardIterator;
    }
  }
  return { facts, parents };
}

/** The rows a stream table shows, through any client connection to kinesql (or the engine). */
export async function shownRows(client: pg.Client, table: string): Promise<ShownRow[]> {
  const { rows } = await client.query(
    `select _shard_id as shard, _shard_sequence_id as seq, _partition_key as key, _segment_count::text as segment, xmin::text as loaded_by from ${table}`,
  );
  return rows.map((row: Record<string, string>) => ({
    shardId: row['shard']!,
    sequenceNumber: row['seq']!,
    partitionKey: row['key']!,
    segment: Number(row['segment']),
    loadedBy: BigInt(row['loaded_by']!),
  }));
}

const bySequence = (a: string, b: string): number => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

/** Depth of a shard in its lineage: parents come before their children in a key's order. */
function generationOf(shardId: string, parents: Map<string, string[]>, seen = new Set<string>()): number {
  if (seen.has(shardId)) return 0;
  seen.add(shardId);
  const own = parents.get(shardId) ?? [];
  return own.length === 0 ? 0 : 1 + Math.max(...own.map((parent) => generationOf(parent, parents, seen)));
}

/** Compares what SQL shows with the stream. */
export function compareWithStream(stream: { facts: StreamFact[]; parents: Map<string, string[]> }, rows: ShownRow[]): Exactness {
  const known = new Map(stream.facts.map((fact) => [idOf(fact.shardId, fact.sequenceNumber), fact]));
  const shownCount = new Map<string, number>();
  for (const row of rows) {
    const id = idOf(row.shardId, row.sequenceNumber);
    shownCount.set(id, (shownCount.get(id) ?? 0) + 1);
  }
  const lost = [...known.keys()].filter((id) => !shownCount.has(id));
  const duplicated = [...shownCount].filter(([, count]) => count > 1).map(([id]) => id);
  const unknown = [...shownCount.keys()].filter((id) => !known.has(id));

  // Within a shard: loaded in the stream's order, each record after the one before it.
  const outOfOrderShards = new Set<string>();
  const byShard = new Map<string, ShownRow[]>();
  for (const row of rows) byShard.set(row.shardId, [...(byShard.get(row.shardId) ?? []), row]);
  for (const [shardId, shardRows] of byShard) {
    const loaded = [...shardRows].sort((a, b) => a.segment - b.segment || bySequence(a.sequenceNumber, b.sequenceNumber));
    for (let i = 1; i < loaded.length; i++) {
      if (bySequence(loaded[i - 1]!.sequenceNumber, loaded[i]!.sequenceNumber) >= 0 || loaded[i - 1]!.segment === loaded[i]!.segment) {
        outOfOrderShards.add(shardId);
        break;
      }
    }
  }

  // Within a key: the rows in the order they were loaded are the key's records in the stream's order (a
  // parent's before its children's).
  const generation = new Map([...stream.parents.keys()].map((id) => [id, generationOf(id, stream.parents)]));
  const keyOrder = (a: { shardId: string; sequenceNumber: string }, b: { shardId: string; sequenceNumber: string }): number =>
    (generation.get(a.shardId) ?? 0) - (generation.get(b.shardId) ?? 0) || bySequence(a.sequenceNumber, b.sequenceNumber);
  const expectedByKey = new Map<string, string[]>();
  for (const fact of [...stream.facts].sort(keyOrder)) {
    expectedByKey.set(fact.partitionKey, [...(expectedByKey.get(fact.partitionKey) ?? []), idOf(fact.shardId, fact.sequenceNumber)]);
  }
  const shownByKey = new Map<string, ShownRow[]>();
  for (const row of rows) shownByKey.set(row.partitionKey, [...(shownByKey.get(row.partitionKey) ?? []), row]);
  const outOfOrderKeys: string[] = [];
  for (const [key, keyRows] of shownByKey) {
    const loadOrder = (a: ShownRow, b: ShownRow): number => (a.loadedBy < b.loadedBy ? -1 : a.loadedBy > b.loadedBy ? 1 : a.segment - b.segment);
    const shown = [...keyRows].sort(loadOrder).map((row) => idOf(row.shardId, row.sequenceNumber));
    const expected = (expectedByKey.get(key) ?? []).filter((id) => shownCount.has(id));
    if (shown.length !== expected.length || shown.some((id, i) => id !== expected[i])) outOfOrderKeys.push(key);
  }
  return {
    records: stream.facts.length,
    rows: rows.length,
    lost,
    duplicated,
    unknown,
    outOfOrderShards: [...outOfOrderShards],
    outOfOrderKeys,
  };
}

/** Reads the stream and the table and compares them. */
export async function checkExactness(kinesis: KinesisClient, streamName: string, client: pg.Client, table: string): Promise<Exactness> {
  const stream = await readWholeStream(kinesis, streamName);
  return compareWithStream(stream, await shownRows(client, table));
}
