import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { columnNames, qualifiedName, quoteIdent } from '../catalog/ddl.js';
import type { TableDefinition } from '../catalog/definition.js';
import { createRecordDecoder } from '../decode/record-decoder.js';
import type { Engine } from '../engine/engine.js';
import type { RecordBatch, ShardDescription, ShardPosition } from '../kinesis/records.js';
import type { RetryPolicy } from '../kinesis/retry.js';
import { ShardReader } from '../kinesis/shard-reader.js';
import { listShards, parentsFirst } from '../kinesis/shard-listing.js';
import { copyLine } from './copy-text.js';
import { StreamReadError } from './stream-read-error.js';

export interface StreamTableOptions {
  client: KinesisClient;
  engine: Engine;
  logger: Logger;
  retry: RetryPolicy;
  batchSize: number;
  maxBatches: number;
  logBatches: boolean;
  maxMessageBytes: number;
  /** Where shards without loaded records start: AT_TIMESTAMP of the window start, or TRIM_HORIZON. */
  windowStart: Date | undefined;
  /** How long a shard listing is trusted before the next catch-up lists again (reshards are found this way). */
  shardListTtlMs: number;
}

interface ShardState {
  description: ShardDescription;
  reader: ShardReader;
  lastSequenceNumber: string | undefined;
  closedAndRead: boolean;
  recordsRead: number;
}

const textDecoder = new TextDecoder('utf-8');

/** What the engine holds of one stream table, and how to bring it up to the stream's tip. */
export class StreamTable {
  private readonly shards = new Map<string, ShardState>();
  private listedAt = 0;
  private catchingUp: Promise<void> = Promise.resolve();
  /** Set when a new version of the definition took this table's place: catch-ups go there. */
  private successor: StreamTable | undefined;
  private retired = false;
  private readonly decodeRecord;
  private readonly copySql: string;
  readonly startPosition: ShardPosition;

  constructor(
    readonly definition: TableDefinition,
    private readonly options: StreamTableOptions,
  ) {
    this.decodeRecord = createRecordDecoder(definition.message, { maxMessageBytes: options.maxMessageBytes });
    this.copySql = `COPY ${qualifiedName(definition)} (${columnNames(definition).map(quoteIdent).join(', ')}) FROM '/dev/blob'`;
    this.startPosition = options.windowStart ? { type: 'AT_TIMESTAMP', timestamp: options.windowStart } : { type: 'TRIM_HORIZON' };
  }

  get rowsLoaded(): number {
    let total = 0;
    for (const shard of this.shards.values()) total += shard.recordsRead;
    return total;
  }

  /**
   * Loads every record that reached the stream before stopAt and is not loaded yet. Catch-ups of one table
   * run one after another; a statement waiting behind another's catch-up still reads its own tail.
   */
  catchUp(stopAt: Date): Promise<void> {
    const run = this.catchingUp.then(() => {
      if (this.successor) return this.successor.catchUp(stopAt);
      if (this.retired) return undefined;
      return this.readNewRecords(stopAt);
    });
    this.catchingUp = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs fn when no catch-up of this table is in flight, then retires the table: statements that resolved
   * it before go on with `successor` (the table that took its place), or read nothing when it was removed.
   */
  retire(fn: () => Promise<StreamTable | undefined>): Promise<StreamTable | undefined> {
    const run = this.catchingUp.then(async () => {
      const successor = await fn();
      this.retired = true;
      this.successor = successor;
      return successor;
    });
    this.catchingUp = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Takes over what `previous` has loaded (same stream, rows already in the engine table). */
  adoptLoadedState(previous: StreamTable): void {
    for (const [shardId, state] of previous.shards) this.shards.set(shardId, state);
    this.listedAt = previous.listedAt;
  }

  private async readNewRecords(stopAt: Date): Promise<void> {
    const streamName = this.definition.streamName;
    try {
      if (Date.now() - this.listedAt > this.options.shardListTtlMs) await this.refreshShards();
      const reads = new Map<string, Promise<void>>();
      for (const state of parentsFirst([...this.shards.values()].map((shard) => shard.description))) {
        const shard = this.shards.get(state.shardId)!;
        const parents = [state.parentShardId, state.adjacentParentShardId]
          .map((id) => (id ? reads.get(id) : undefined))
          .filter((read): read is Promise<void> => read !== undefined);
        reads.set(state.shardId, Promise.all(parents).then(() => this.readShard(shard, stopAt)));
      }
      await Promise.all(reads.values());
    } catch (error) {
      throw StreamReadError.from(error, streamName);
    }
  }

  private async refreshShards(): Promise<void> {
    const listed = await listShards(this.options.client, this.definition.streamName, this.options.retry);
    for (const description of listed) {
      const known = this.shards.get(description.shardId);
      if (known) {
        known.description = description;
        continue;
      }
      this.shards.set(description.shardId, {
        description,
        reader: new ShardReader(this.options.client, this.definition.streamName, description.shardId, {
          batchSize: this.options.batchSize,
          maxBatches: this.options.maxBatches,
          retry: this.options.retry,
          logBatches: this.options.logBatches,
          logger: this.options.logger,
        }),
        lastSequenceNumber: undefined,
        closedAndRead: false,
        recordsRead: 0,
      });
    }
    this.listedAt = Date.now();
  }

  private async readShard(shard: ShardState, stopAt: Date): Promise<void> {
    if (shard.closedAndRead) return;
    const from: ShardPosition = shard.lastSequenceNumber
      ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: shard.lastSequenceNumber }
      : this.startPosition;
    const result = await shard.reader.read(from, stopAt, (batch) => this.load(shard, batch));
    if (result.closed) {
      shard.closedAndRead = true;
      // A closed parent's children may be new: list again on the next catch-up.
      this.listedAt = 0;
    }
  }

  private async load(shard: ShardState, batch: RecordBatch): Promise<void> {
    const first = batch.records[0]!.sequenceNumber;
    const last = batch.records[batch.records.length - 1]!.sequenceNumber;
    let text = '';
    let segmentCount = shard.recordsRead;
    for (const record of batch.records) {
      segmentCount += 1;
      const arrival = record.arrivalTimestamp.toISOString();
      for (const message of this.decodeRecord(record.data, record.partitionKey)) {
        text += copyLine([
          ...message.row.values,
          batch.shardId,
          record.sequenceNumber,
          first,
          last,
          String(segmentCount),
          message.row.valid ? 't' : 'f',
          messageText(message.message),
          String(message.message.byteLength),
          arrival,
          message.partitionKey,
          message.subSequenceNumber === null ? null : String(message.subSequenceNumber),
        ]);
      }
    }
    await this.options.engine.exclusive(() => this.options.engine.copyFrom(this.copySql, Buffer.from(text, 'utf8')));
    shard.recordsRead = segmentCount;
    shard.lastSequenceNumber = last;
  }
}

/** The message as PostgreSQL text: invalid UTF-8 replaced, NUL bytes (which text cannot hold) dropped. */
function messageText(payload: Uint8Array): string {
  const text = textDecoder.decode(payload);
  return text.includes('\u0000') ? text.replace(/\u0000/g, '') : text;
}
