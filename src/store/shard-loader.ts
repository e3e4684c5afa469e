/**
 * Loading one stream table's batches into the engine: each batch's rows and its shard's new position commit
 * in one transaction, under the shard's engine lock (so several kinesql servers never load a record twice),
 * within the table's caps, with records the engine refuses loaded as invalid messages.
 */
import { columnNames } from '../catalog/ddl.js';
import { INTERNAL_COLUMNS, type TableDefinition } from '../catalog/definition.js';
import type { RecordDecoder } from '../decode/record-decoder.js';
import type { Engine, EngineTransaction } from '../engine/engine.js';
import { tableKey } from '../engine/roles.js';
import type { ShardDescription, StreamRecord } from '../kinesis/records.js';
import { compareSequenceNumbers } from '../kinesis/sequence-number.js';
import type { ShardReader } from '../kinesis/shard-reader.js';
import type { ShardReaderStats } from '../kinesis/shard-reader-stats.js';
import { qualifiedName, quoteIdent } from '../pg/quoting.js';
import { SQLSTATE } from '../pg/sqlstate.js';
import { batchRows, copyIsolatingBadRows, encodeBatch, isDataException, type EncodedBatch, type RowShape, type UnwrappedRecord } from './copy-batch.js';
import { BatchFootprint, heldRecordBytes } from './batch-footprint.js';
import type { LoadBudget } from './load-budget.js';
import { PositionReads } from './position-reads.js';
import type { LoadedRange, LowerBound } from './loaded-range.js';
import { lockAndLoadPosition, savePosition, savePositionSql, type StoredPosition } from './shard-positions.js';
import { StreamReadError } from './stream-read-error.js';
import type { TimePartitions } from './time-partitions.js';
import { RowChanges } from './row-changes.js';
import type { Logger } from 'pino';

export interface ShardState {
  description: ShardDescription;
  reader: ShardReader;
  range: LoadedRange | undefined;
  closedAndRead: boolean;
  /** The latest statement start this shard was read to its tip for (what a bounded-staleness answer needs). */
  readToTipFor: Date | undefined;
  rows: number;
  invalidRows: number;
  messageBytes: number;
  /** Running count of records loaded from this shard (the _segment_count column). */
  segmentCount: number;
  /** The same count including batches decoded but not yet copied. */
  preparedSegments: number;
  /** COPYs of this shard's decoded batches, in order. */
  loads: Promise<void>;
  /** Gone from the shard listing (a closed shard past the retention period): nothing more can be read. */
  expired: boolean;
  /** A fill that failed and could not remove what it had loaded: the rows before this sequence number go first. */
  unfinishedFill?: string;
  /** Load budget taken before the shard's GetRecords call under way, for the batch it fetches (bytes). */
  readRoom?: number;
}

export interface ShardLoaderOptions {
  engine: Engine;
  logger: Logger;
  /** Caps on what one table holds; 0 = none. */
  maxRows: number;
  maxBytes: number;
  /** What batches on their way into the engine may hold, shared by every table (kinesql.load-buffer-bytes). */
  loadBudget: LoadBudget;
}

export class ShardLoader {
  private readonly copySql: string;
  private readonly tableName: string;
  private readonly key: string;
  private readonly rowShape: RowShape;
  /** Rows and bytes of batches being copied now, counted against the caps before they commit. */
  private reservedRows = 0;
  private reservedBytes = 0;
  /** What the table's batches hold until they commit: the room a GetRecords call takes is estimated from it. */
  private readonly footprints = new BatchFootprint();
  private readonly positionReads: PositionReads;
  /** A batch of the table committed, or a shard's rows were taken from the engine again (a `LIMIT n` waits for them: visible-rows.ts). */
  readonly rowChanges = new RowChanges();

  constructor(
    private readonly definition: TableDefinition,
    private readonly decodeRecord: RecordDecoder,
    private readonly options: ShardLoaderOptions,
    /** What the table holds now, over all its shards. */
    private readonly loaded: () => { rows: number; bytes: number },
    private readonly partitions: TimePartitions | undefined,
  ) {
    this.tableName = qualifiedName(definition);
    this.key = tableKey(definition);
    this.positionReads = new PositionReads(options.engine, this.key);
    this.copySql = `COPY ${this.tableName} (${columnNames(definition).map(quoteIdent).join(', ')}) FROM STDIN`;
    const dataColumns = definition.message.fields.length;
    this.rowShape = { dataColumns, validColumn: dataColumns + INTERNAL_COLUMNS.findIndex((column) => column.name === '_message_valid') };
  }

  save(tx: EngineTransaction, shard: ShardState, range = shard.range): Promise<void> {
    if (!range) return Promise.resolve();
    return savePosition(tx, this.key, shard.description.shardId, {
      range,
      closedAndRead: shard.closedAndRead,
      segmentCount: shard.segmentCount,
      rows: shard.rows,
      invalidRows: shard.invalidRows,
      messageBytes: shard.messageBytes,
    });
  }

  private checkCaps(adding: number, addingBytes: number): void {
    const { maxRows, maxBytes } = this.options;
    adding += this.reservedRows;
    addingBytes += this.reservedBytes;
    const name = `${this.definition.schemaName}.${this.definition.tableName}`;
    const hint = 'narrow the window (SET kinesis.iter_offset_seconds, or a WHERE on _message_timestamp) or raise the cap';
    if (maxRows > 0 && this.loaded().rows + adding > maxRows) {
      throw new StreamReadError(
        `table ${name} (stream "${this.definition.streamName}") would hold more than ${maxRows} rows (kinesql.max-rows-per-table); ${hint}`,
        SQLSTATE.programLimitExceeded,
        this.definition.streamName,
      );
    }
    if (maxBytes > 0 && this.loaded().bytes + addingBytes > maxBytes) {
      throw new StreamReadError(
        `table ${name} (stream "${this.definition.streamName}") would hold more than ${maxBytes} message bytes (kinesql.max-bytes-per-table); ${hint}`,
        SQLSTATE.programLimitExceeded,
        this.definition.streamName,
      );
    }
  }

  /**
   * Queues a batch's COPY behind the shard's earlier ones. The batch is decoded as soon as the load budget
   * has room for it (on this thread), so the engine loads batch n while batch n+1 is decoded and n+2 is
   * fetched. The rows and the shard's new position (a tail read moves its end; a fill moves its start only
   * once it is complete) commit together.
   */
  load(shard: ShardState, records: StreamRecord[], kind: 'tail' | 'fill'): Promise<void> {
    const shardId = shard.description.shardId;
    const segment = shard.preparedSegments;
    shard.preparedSegments = segment + records.length;
    const budget = this.options.loadBudget;
    // Counted against the load budget from the call until the commit: the records, and once decoded their COPY
    // text. Estimated until the batch is decoded, then as it is.
    const recordBytes = heldRecordBytes(records);
    let footprint = this.footprints.estimate(recordBytes);
    const room = shard.readRoom ?? 0;
    shard.readRoom = undefined;
    // Room taken before the call (roomForNextBatch) becomes the batch's; a batch larger than its room gives the
    // room back and waits for its whole footprint, holding nothing of the budget while it waits.
    if (room > footprint) budget.release(room - footprint);
    if (room > 0 && room < footprint) budget.release(room);
    const admitted = room >= footprint ? Promise.resolve() : budget.acquire(footprint);
    const decoded = (encoded: EncodedBatch): EncodedBatch => {
      const held = recordBytes + encoded.textBytes;
      if (held > footprint) budget.grow(held - footprint);
      else budget.release(footprint - held);
      footprint = held;
      this.footprints.measured(records.length, recordBytes, held);
      return encoded;
    };
    const encoding = admitted.then(() => {
      budget.holdDecoded(records.length);
      const unwrapped = this.unwrap(records);
      const encode = (): EncodedBatch => decoded(encodeBatch(unwrapped, this.decodeRecord.decodeUnwrapped, shardId, segment));
      // Registry schemas the batch needs and nobody has looked up yet come first; its COPY keeps its place.
      const fetching = this.decodeRecord.fetchSchemas(unwrapped.flatMap((record) => record.messages));
      return fetching === undefined ? encode() : fetching.then(encode);
    });
    // Failed with the COPY that waits for it; a batch behind a failed one is never copied.
    encoding.catch(() => undefined);
    const copy = shard.loads.then(async () => {
      const encoded = await encoding;
      // Checked and reserved at once, so shards loading in parallel cannot all pass the cap.
      this.checkCaps(encoded.rows, encoded.bytes);
      this.reservedRows += encoded.rows;
      this.reservedBytes += encoded.bytes;
      let saved: StoredPosition;
      const engine = this.options.engine;
      const arrivals = records.map((record) => record.arrivalTimestamp);
      // A batch lost in a crash is lost with its position, so it is simply read again: no need to wait for
      // the disk at every commit.
      const commit = (isolateBadRows: boolean): Promise<StoredPosition> =>
        engine.transaction((tx) => this.commitBatch(tx, shard, records, encoded, kind, isolateBadRows), { asynchronousCommit: !isolateBadRows });
      try {
        await this.partitions?.ensure(engine, arrivals);
        saved = await commit(false).catch(async (error: unknown) => {
          if (this.partitions && (error as { code?: string }).code === SQLSTATE.checkViolation) {
            // No partition for a row: another kinesql server dropped one this server still counted on.
            this.partitions.forget();
            await this.partitions.ensure(engine, arrivals);
            return commit(false);
          }
          if (!isDataException(error)) throw error;
          // The engine refused a value: the batch again, the refused records loaded as invalid messages.
          return commit(true);
        });
      } finally {
        this.reservedRows -= encoded.rows;
        this.reservedBytes -= encoded.bytes;
      }
      shard.segmentCount = saved.segmentCount;
      shard.preparedSegments = Math.max(shard.preparedSegments, saved.segmentCount);
      shard.rows = saved.rows;
      shard.invalidRows = saved.invalidRows;
      shard.messageBytes = saved.messageBytes;
      if (kind === 'tail') Object.assign(shard.range!, saved.range);
      this.rowChanges.changed();
    });
    // The budget is given back once the batch is committed or failed and its decoding is over (the batch was
    // let in by then: decoding waits for that).
    void Promise.allSettled([copy, encoding]).then(() => {
      budget.release(footprint);
      budget.dropDecoded(records.length);
    });
    shard.loads = copy;
    return copy;
  }

  private unwrap(records: readonly StreamRecord[]): UnwrappedRecord[] {
    return records.map((record) => ({ record, messages: this.decodeRecord.unwrap(record.data, record.partitionKey) }));
  }

  /**
   * Copies a batch and records the shard's new position in one transaction, holding the shard's lock: when
   * another kinesql server on the same engine has loaded past where this one stood, only the records after
   * its position are loaded (never a record twice), counted from its position. Three round trips: BEGIN with
   * the lock and the position read, the COPY, the position write with the COMMIT.
   */
  private async commitBatch(
    tx: EngineTransaction,
    shard: ShardState,
    records: StreamRecord[],
    encoded: EncodedBatch,
    kind: 'tail' | 'fill',
    isolateBadRows: boolean,
  ): Promise<StoredPosition> {
    const shardId = shard.description.shardId;
    let base: StoredPosition = {
      range: shard.range!,
      closedAndRead: shard.closedAndRead,
      segmentCount: shard.segmentCount,
      rows: shard.rows,
      invalidRows: shard.invalidRows,
      messageBytes: shard.messageBytes,
    };
    let loading = records;
    let segment = shard.segmentCount;
    if (kind === 'tail') {
      const stored = await lockAndLoadPosition(tx, this.key, shardId);
      const storedLast = stored?.range.lastSequence;
      const believed = base.range.lastSequence;
      if (believed !== undefined && (storedLast === undefined || compareSequenceNumbers(storedLast, believed) < 0)) {
        // The engine lost commits this server saw succeed (a crash before they reached the disk): this batch
        // does not follow what the engine holds, and storing it would leave a hole behind its position.
        throw new PositionLostError(shardId, believed, storedLast);
      }
      if (stored && storedLast !== undefined && storedLast !== believed) {
        base = stored;
        segment = stored.segmentCount;
        loading = records.filter((record) => compareSequenceNumbers(record.sequenceNumber, storedLast) > 0);
      }
    }
    const decode = this.decodeRecord.decodeUnwrapped;
    // Part of the batch only when another server loaded the rest.
    const batch = loading === records ? encoded : encodeBatch(this.unwrap(loading), decode, shardId, segment);
    let invalidRows = batch.invalidRows;
    if (batch.rows > 0 && isolateBadRows) {
      const rows = batchRows(this.unwrap(loading), decode, shardId, segment);
      const refused = await copyIsolatingBadRows(tx, this.copySql, rows, this.rowShape);
      invalidRows += refused.filter((index) => rows[index]!.values[this.rowShape.validColumn] === 't').length;
      this.options.logger.warn(
        { table: this.tableName, shard: shardId, records: refused.length },
        'records the engine refused were loaded as invalid messages',
      );
    } else if (batch.rows > 0) {
      await tx.copyFrom(this.copySql, batch.chunks);
    }
    const range: LoadedRange =
      kind === 'fill' || loading.length === 0
        ? base.range
        : {
            ...base.range,
            firstSequence: base.range.firstSequence ?? loading[0]!.sequenceNumber,
            firstArrival: base.range.firstArrival ?? loading[0]!.arrivalTimestamp,
            lastSequence: loading[loading.length - 1]!.sequenceNumber,
            lastArrival: loading[loading.length - 1]!.arrivalTimestamp,
          };
    const position: StoredPosition = {
      range,
      closedAndRead: base.closedAndRead,
      segmentCount: batch.segmentCount,
      rows: base.rows + batch.rows,
      invalidRows: base.invalidRows + invalidRows,
      messageBytes: base.messageBytes + batch.bytes,
    };
    tx.atCommit(savePositionSql(this.key, shardId, position));
    return position;
  }

  /**
   * Waits, before the shard's next GetRecords call, for room in the load budget for the batch it will fetch
   * (`records` records, at what the table's last batch held per record), so batches wait for the budget before
   * they are read, not after. The room goes to that batch in load(), or back to the budget with releaseReadRoom().
   */
  async roomForNextBatch(shard: ShardState, records: number): Promise<void> {
    if (shard.readRoom !== undefined) return;
    const bytes = this.footprints.roomForCall(records);
    await this.options.loadBudget.acquire(bytes);
    shard.readRoom = bytes;
  }

  /** Gives back room taken for a call that fetched nothing to load (the read is over). */
  releaseReadRoom(shard: ShardState): void {
    if (shard.readRoom === undefined) return;
    this.options.loadBudget.release(shard.readRoom);
    shard.readRoom = undefined;
  }

  /** Starts a read of a shard: no load of an earlier (failed) read stands in its way. */
  startLoads(shard: ShardState): void {
    shard.loads = Promise.resolve();
    shard.preparedSegments = shard.segmentCount;
  }

  /**
   * Removes what a failed fill of older records committed before the engine went away (rows before the first
   * record of the loaded range, which the stored position does not count), so the next fill loads them once.
   */
  async removeUnfinishedFill(shard: ShardState): Promise<void> {
    const stop = shard.unfinishedFill;
    if (stop === undefined) return;
    const shardId = shard.description.shardId;
    await this.options.engine.transaction(async (tx) => {
      const stored = await lockAndLoadPosition(tx, this.key, shardId);
      // Only while the stored range still starts where the failed fill was to stop (no fill has completed since).
      if (stored?.range.firstSequence !== stop) return;
      const { rows } = await tx.query(
        `WITH gone AS (DELETE FROM ${this.tableName} WHERE _shard_id = $1 AND _shard_sequence_id::numeric < $2::numeric RETURNING _message_valid, _message_length)
         SELECT count(*)::int AS rows, (count(*) FILTER (WHERE NOT _message_valid))::int AS invalid, coalesce(sum(_message_length), 0)::float8 AS bytes FROM gone`,
        [shardId, stop],
      );
      const gone = rows[0]!;
      await savePosition(tx, this.key, shardId, {
        ...stored,
        rows: stored.rows - Number(gone['rows']),
        invalidRows: stored.invalidRows - Number(gone['invalid']),
        messageBytes: stored.messageBytes - Number(gone['bytes']),
      });
    });
    shard.unfinishedFill = undefined;
  }

  /**
   * Takes the shard's position from the engine, the only truth about what is loaded: another kinesql server
   * on the same engine may have loaded it further, and a crashed engine may have lost commits this server
   * saw succeed. Returns the position this server believed in when the engine's is behind it.
   */
  async reloadPosition(shard: ShardState): Promise<string | undefined> {
    const shardId = shard.description.shardId;
    const stored = await this.positionReads.read(shardId);
    const believed = shard.range?.lastSequence;
    const storedLast = stored?.range.lastSequence;
    const lost = believed !== undefined && (storedLast === undefined || compareSequenceNumbers(storedLast, believed) < 0) ? believed : undefined;
    if (!stored) {
      // Nothing stored: nothing of the shard is loaded, whatever this server believed.
      if (shard.range?.firstSequence !== undefined || believed !== undefined) shard.range = undefined;
      shard.closedAndRead = shard.expired;
      shard.segmentCount = shard.preparedSegments = shard.rows = shard.invalidRows = shard.messageBytes = 0;
      return lost;
    }
    shard.range = { ...stored.range };
    // A shard that left the listing (past the retention period) cannot be read any more, whatever is stored.
    shard.closedAndRead = stored.closedAndRead || shard.expired;
    shard.segmentCount = stored.segmentCount;
    shard.preparedSegments = stored.segmentCount;
    shard.rows = stored.rows;
    shard.invalidRows = stored.invalidRows;
    shard.messageBytes = stored.messageBytes;
    this.rowChanges.changed();
    return lost;
  }
}

/** A batch was read past a position the engine no longer holds: the shard is read again from the engine's. */
export class PositionLostError extends Error {
  constructor(
    readonly shardId: string,
    readonly believed: string,
    readonly stored: string | undefined,
  ) {
    super(`the engine lost loaded records of shard ${shardId}: its position went back from ${believed} to ${stored ?? 'nothing loaded'}`);
  }
}

/** One shard as kinesql.shards shows it. */
export interface ShardStatus {
  shardId: string;
  parentShardId: string | undefined;
  adjacentParentShardId: string | undefined;
  state: 'open' | 'closed' | 'closed, read to its end';
  loadedFrom: LowerBound | undefined;
  firstSequenceNumber: string | undefined;
  lastSequenceNumber: string | undefined;
  /** When the oldest record held arrived. */
  firstArrival: Date | undefined;
  rows: number;
  invalidRows: number;
  reader: ShardReaderStats;
}

export function describeShard(shard: ShardState): ShardStatus {
  return {
    shardId: shard.description.shardId,
    parentShardId: shard.description.parentShardId,
    adjacentParentShardId: shard.description.adjacentParentShardId,
    state: shard.closedAndRead ? 'closed, read to its end' : shard.description.endingSequenceNumber ? 'closed' : 'open',
    loadedFrom: shard.range?.lower,
    firstSequenceNumber: shard.range?.firstSequence,
    lastSequenceNumber: shard.range?.lastSequence,
    firstArrival: shard.range?.firstArrival,
    rows: shard.rows,
    invalidRows: shard.invalidRows,
    reader: { ...shard.reader.stats },
  };
}
