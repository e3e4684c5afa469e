/**
 * One stream table: its shards, what of each is loaded, and reading what a statement needs. Longer than most
 * modules because catch-up sharing, reshard ordering, fills, loads with their positions, caps and eviction
 * all work on the same per-shard state.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { columnNames, indexStatements } from '../catalog/ddl.js';
import { qualifiedName, quoteIdent, quoteLiteral } from '../pg/quoting.js';
import { INTERNAL_COLUMNS, type TableDefinition } from '../catalog/definition.js';
import { createRecordDecoder } from '../decode/record-decoder.js';
import type { Engine, EngineTransaction } from '../engine/engine.js';
import { tableKey } from '../engine/roles.js';
import type { ShardRateBudget } from '../kinesis/rate-budget.js';
import type { ShardDescription, StreamRecord } from '../kinesis/records.js';
import type { RetryPolicy } from '../kinesis/retry.js';
import { compareSequenceNumbers } from '../kinesis/sequence-number.js';
import { ShardReader, type ShardReaderStats } from '../kinesis/shard-reader.js';
import { listShards, parentsFirst } from '../kinesis/shard-listing.js';
import { covers, laterTime, positionOf, type LoadedRange, type LowerBound } from './loaded-range.js';
import { shardsForBounds, type ScanProgress, type ScanRequest } from './scan-request.js';
import { CatchUpProgress, mergeInto, requestKey, type WaitingCatchUp } from './catch-up-queue.js';
import { loadPositions, lockShard, savePosition, type StoredPosition } from './shard-positions.js';
import { batchText, copyIsolatingBadRows, encodeBatch, isDataException, type RowShape } from './copy-batch.js';
import { StreamReadError } from './stream-read-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';

export interface StreamTableOptions {
  client: KinesisClient;
  engine: Engine;
  logger: Logger;
  retry: RetryPolicy;
  budget: ShardRateBudget;
  batchSize: number;
  maxBatches: number;
  logBatches: boolean;
  maxMessageBytes: number;
  /** Seconds of history the table shows; undefined = everything from TRIM_HORIZON. */
  windowSeconds: number | undefined;
  /** How long a shard listing is trusted before the next catch-up lists again (reshards are found this way). */
  shardListTtlMs: number;
  /** Rows older than the window are deleted at most this often (ms). */
  evictionIntervalMs: number;
  /** Caps on what one table holds; 0 = none. */
  maxRows: number;
  maxBytes: number;
}

interface ShardState {
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
  rows: number;
  invalidRows: number;
  reader: ShardReaderStats;
}

/** Listings per catch-up when reads keep closing shards (a reshard during the catch-up). */
const MAX_LISTING_ROUNDS = 4;

/** What the engine holds of one stream table, and how to bring it up to what a statement needs. */
export class StreamTable {
  private readonly shards = new Map<string, ShardState>();
  private listedAt = 0;
  private evictedAt = Date.now();
  private catchingUp: Promise<void> = Promise.resolve();
  /** Catch-ups queued behind the running one, by what they ask for; a new statement asking the same joins one. */
  private readonly waiting = new Map<string, WaitingCatchUp>();
  /** Set when a new version of the definition took this table's place: catch-ups go there. */
  private successor: StreamTable | undefined;
  private retired = false;
  private retiring = false;
  private readonly decodeRecord;
  private readonly copySql: string;
  private readonly tableName: string;
  private readonly key: string;
  private readonly rowShape: RowShape;
  /** Positions stored in the engine by an earlier run, taken over when their shards are listed. */
  private restored = new Map<string, StoredPosition>();
  /** Rows and bytes of batches being copied now, counted against the caps before they commit. */
  private reservedRows = 0;
  private reservedBytes = 0;
  private current: CatchUpProgress | undefined;
  /** Indexes are built after the first load (bulk COPY into an unindexed table is a third faster). */
  private indexed = false;
  lastError: string | undefined;

  constructor(
    readonly definition: TableDefinition,
    private readonly options: StreamTableOptions,
  ) {
    this.decodeRecord = createRecordDecoder(definition.message, { maxMessageBytes: options.maxMessageBytes });
    this.tableName = qualifiedName(definition);
    this.key = tableKey(definition);
    this.copySql = `COPY ${this.tableName} (${columnNames(definition).map(quoteIdent).join(', ')}) FROM STDIN`;
    const dataColumns = definition.message.fields.length;
    this.rowShape = { dataColumns, validColumn: dataColumns + INTERNAL_COLUMNS.findIndex((column) => column.name === '_message_valid') };
  }

  get rowsLoaded(): number {
    let total = 0;
    for (const shard of this.shards.values()) total += shard.rows;
    return total;
  }

  get bytesLoaded(): number {
    let total = 0;
    for (const shard of this.shards.values()) total += shard.messageBytes;
    return total;
  }

  /** Where the table's configured window starts now; undefined = TRIM_HORIZON. */
  windowStart(now = Date.now()): Date | undefined {
    return this.options.windowSeconds === undefined ? undefined : new Date(now - this.options.windowSeconds * 1000);
  }

  /** Progress of the catch-up running now, if any. */
  progress(): ScanProgress | undefined {
    return this.current?.snapshot(this.definition.streamName);
  }

  /**
   * Whether what is loaded already answers a statement that accepts answers up to maxStalenessMs old: the
   * shard listing is recent, and every shard the statement needs holds the range it needs and was read to
   * its tip for a statement that started at most that long before this one.
   */
  freshFor(request: ScanRequest, maxStalenessMs: number): boolean {
    if (this.listedAt === 0 || Date.now() - this.listedAt > this.options.shardListTtlMs) return false;
    const oldest = request.stopAt.getTime() - maxStalenessMs;
    const windowStart = request.window ? request.window.start : this.windowStart(request.stopAt.getTime());
    const all = [...this.shards.values()].map((shard) => shard.description);
    for (const shardId of shardsForBounds(all, request.bounds)) {
      const shard = this.shards.get(shardId)!;
      const needed = this.neededBound(shard.description, windowStart, request);
      if (needed === 'nothing') continue;
      if (!shard.range || !covers(shard.range, needed)) return false;
      if (shard.closedAndRead) continue;
      if (shard.readToTipFor === undefined || shard.readToTipFor.getTime() < oldest) return false;
    }
    return true;
  }

  /** Per shard, the last record loaded (what a statement that caught up now can see at most). */
  reachedPositions(): Map<string, string> {
    const reached = new Map<string, string>();
    for (const [shardId, shard] of this.shards) if (shard.range?.lastSequence) reached.set(shardId, shard.range.lastSequence);
    return reached;
  }

  shardStatus(): ShardStatus[] {
    return [...this.shards.values()].map((shard) => ({
      shardId: shard.description.shardId,
      parentShardId: shard.description.parentShardId,
      adjacentParentShardId: shard.description.adjacentParentShardId,
      state: shard.closedAndRead ? 'closed, read to its end' : shard.description.endingSequenceNumber ? 'closed' : 'open',
      loadedFrom: shard.range?.lower,
      firstSequenceNumber: shard.range?.firstSequence,
      lastSequenceNumber: shard.range?.lastSequence,
      rows: shard.rows,
      invalidRows: shard.invalidRows,
      reader: { ...shard.reader.stats },
    }));
  }

  /**
   * Loads every record the statement needs that is not loaded yet: older records its bounds or window
   * reach (once), then each shard's new tail up to the tip as of the statement's start. Catch-ups of one
   * table run one after another.
   */
  catchUp(request: ScanRequest): Promise<void> {
    // Statements that arrive while another catch-up runs share the next one: it starts after they all
    // started, so it reads each one's tail, and N concurrent statements cost two reads of the stream, not N.
    const key = requestKey(request);
    const waiting = this.waiting.get(key);
    if (waiting) {
      mergeInto(waiting.request, request);
      if (request.onProgress) waiting.listeners.push(request.onProgress);
      return waiting.done;
    }
    const entry: WaitingCatchUp = { request: { ...request }, listeners: request.onProgress ? [request.onProgress] : [], done: Promise.resolve() };
    entry.request.onProgress = (progress) => {
      for (const listener of entry.listeners) listener(progress);
    };
    entry.done = this.catchingUp.then(() => {
      this.waiting.delete(key);
      if (this.successor) return this.successor.catchUp(entry.request);
      if (this.retired) return undefined;
      return this.readNeeded(entry.request);
    });
    this.waiting.set(key, entry);
    this.catchingUp = entry.done.catch(() => undefined);
    return entry.done;
  }

  /** Resolves when the catch-ups of this table under way or queued now have finished (failed ones too). */
  whenIdle(): Promise<void> {
    return this.catchingUp;
  }

  /**
   * Runs fn when no catch-up of this table is in flight, then retires the table: statements that resolved
   * it before go on with `successor` (the table that took its place), or read nothing when it was removed.
   */
  retire(fn: () => Promise<StreamTable | undefined>): Promise<StreamTable | undefined> {
    // Known at once, so work already scheduled for this table (its index build) stays off the new one.
    this.retiring = true;
    const run = this.catchingUp.then(async () => {
      let successor: StreamTable | undefined;
      try {
        successor = await fn();
      } catch (error) {
        // Not retired after all: this version goes on serving (and may build its indexes).
        this.retiring = false;
        throw error;
      }
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

  /** Takes over what an earlier run loaded into the engine table (its stored shard positions). */
  restore(positions: Map<string, StoredPosition>): void {
    this.restored = positions;
    this.indexed = true;
  }

  /** Takes over what `previous` has loaded (same stream, rows already in the engine table). */
  adoptLoadedState(previous: StreamTable): void {
    for (const [shardId, state] of previous.shards) this.shards.set(shardId, state);
    this.listedAt = previous.listedAt;
    this.indexed = true;
  }

  private async readNeeded(request: ScanRequest): Promise<void> {
    const streamName = this.definition.streamName;
    const progress = new CatchUpProgress();
    this.current = progress;
    try {
      await this.evictOldRows();
      const windowStart = request.window ? request.window.start : this.windowStart(request.stopAt.getTime());
      const read = new Set<string>();
      // A shard read to its end during this catch-up may have children nobody has listed yet: list again
      // and read them too, so records written after a reshard are in this statement's snapshot.
      for (let round = 0; round < MAX_LISTING_ROUNDS; round++) {
        if (Date.now() - this.listedAt > this.options.shardListTtlMs) await this.refreshShards();
        const all = [...this.shards.values()].map((shard) => shard.description);
        const selected = shardsForBounds(all, request.bounds);
        const chosen = [...selected].filter((id) => !read.has(id));
        if (chosen.length === 0) break;
        progress.shardsTotal += chosen.length;
        await this.readShards(parentsFirst(all), new Set(chosen), selected, windowStart, request, progress);
        for (const id of chosen) read.add(id);
        if (this.listedAt !== 0) break;
      }
      this.lastError = undefined;
    } catch (error) {
      const readError = StreamReadError.from(error, streamName);
      this.lastError = readError.message;
      throw readError;
    } finally {
      this.current = undefined;
      if (!this.indexed) this.createIndexesSoon();
    }
  }

  /**
   * Builds the indexes once the statement that did the first load has taken the engine: it does not need
   * them (the first load is scanned whole anyway), so it answers without waiting ~3 s per million rows.
   * The timer puts the build behind that statement in the engine's queue.
   */
  private createIndexesSoon(): void {
    this.indexed = true;
    const engine = this.options.engine;
    setTimeout(() => {
      const build = async (): Promise<void> => {
        // A table retired meanwhile may already be dropped or replaced.
        if (this.retiring) return;
        for (const statement of indexStatements(this.definition)) await engine.exec(statement);
      };
      build().catch((error: unknown) => {
        this.indexed = false;
        this.options.logger.warn({ err: error, table: this.tableName }, 'could not index the table; will try after the next load');
      });
    }, 0);
  }

  /**
   * Reads the chosen shards in parallel, each after its parents, and only once every parent the statement
   * reads is read to its end: a parent whose read stopped early (at the statement's start, or after
   * kinesis.max_batches calls) still holds records of the same keys older than any of its children's.
   */
  private async readShards(
    ordered: ShardDescription[],
    chosen: Set<string>,
    selected: Set<string>,
    windowStart: Date | undefined,
    request: ScanRequest,
    progress: CatchUpProgress,
  ): Promise<void> {
    const reads = new Map<string, Promise<void>>();
    for (const description of ordered) {
      if (!chosen.has(description.shardId)) continue;
      const shard = this.shards.get(description.shardId)!;
      const needed = this.neededBound(shard.description, windowStart, request);
      if (needed === 'nothing') {
        progress.shardsDone += 1;
        continue;
      }
      const parentIds = [description.parentShardId, description.adjacentParentShardId].filter((id): id is string => id !== undefined);
      const parents = parentIds.map((id) => reads.get(id)).filter((read): read is Promise<void> => read !== undefined);
      const read = Promise.all(parents)
        .then(() => (this.parentsReadToEnd(parentIds, selected, windowStart, request) ? this.readShard(shard, needed, request, progress) : undefined))
        .then(() => {
          progress.shardsDone += 1;
          progress.behind.delete(description.shardId);
        });
      read.catch(() => undefined);
      reads.set(description.shardId, read);
    }
    // Every shard's read must have stopped before the next catch-up of this table starts.
    const outcomes = await Promise.allSettled(reads.values());
    const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Has every parent this statement reads (known, selected by its bounds, not excluded by them) been read to its end? */
  private parentsReadToEnd(parentIds: string[], selected: Set<string>, windowStart: Date | undefined, request: ScanRequest): boolean {
    return parentIds.every((id) => {
      const parent = this.shards.get(id);
      if (!parent || !selected.has(id) || parent.closedAndRead) return true;
      return this.neededBound(parent.description, windowStart, request) === 'nothing';
    });
  }

  /** The lower bound of what the statement needs from one shard, or 'nothing' when its bounds exclude the shard. */
  private neededBound(shard: ShardDescription, windowStart: Date | undefined, request: ScanRequest): LowerBound | 'nothing' {
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

  private async refreshShards(): Promise<void> {
    const listed = await listShards(this.options.client, this.definition.streamName, this.options.retry);
    // A closed shard past the retention period leaves the listing and can no longer be read; what was
    // loaded of it stays until the window evicts it.
    const present = new Set(listed.map((description) => description.shardId));
    for (const shard of this.shards.values()) if (!present.has(shard.description.shardId)) shard.closedAndRead = true;
    for (const description of listed) {
      const known = this.shards.get(description.shardId);
      if (known) {
        known.description = description;
        continue;
      }
      const stored = this.restored.get(description.shardId);
      this.shards.set(description.shardId, {
        description,
        reader: new ShardReader(this.options.client, this.definition.streamName, description.shardId, {
          batchSize: this.options.batchSize,
          maxBatches: this.options.maxBatches,
          retry: this.options.retry,
          budget: this.options.budget,
          logBatches: this.options.logBatches,
          logger: this.options.logger,
        }),
        range: stored?.range,
        closedAndRead: stored?.closedAndRead ?? false,
        readToTipFor: undefined,
        rows: stored?.rows ?? 0,
        invalidRows: stored?.invalidRows ?? 0,
        messageBytes: stored?.messageBytes ?? 0,
        segmentCount: stored?.segmentCount ?? 0,
        preparedSegments: stored?.segmentCount ?? 0,
        loads: Promise.resolve(),
      });
    }
    this.listedAt = Date.now();
  }

  private async readShard(shard: ShardState, needed: LowerBound, request: ScanRequest, progress: CatchUpProgress): Promise<void> {
    await this.adoptNewerPosition(shard);
    if (!shard.range) {
      shard.range = { lower: needed };
    } else if (!covers(shard.range, needed)) {
      if (shard.range.firstSequence === undefined) {
        // Nothing of this shard is held: read it afresh from the wider bound.
        shard.range = { lower: needed };
        shard.closedAndRead = false;
      } else {
        await this.fill(shard, needed, request, progress);
      }
    }
    if (shard.closedAndRead) return;
    const range = shard.range;
    this.startLoads(shard);
    const from = range.lastSequence ? ({ type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: range.lastSequence } as const) : positionOf(range.lower);
    const result = await shard.reader.read({
      from,
      stopAt: request.stopAt,
      ...(request.read?.maxBatches !== undefined ? { maxBatches: request.read.maxBatches } : {}),
      ...(request.read?.batchSize !== undefined ? { batchSize: request.read.batchSize } : {}),
      onBatch: async (records, behind) => {
        await this.load(shard, records, 'tail');
        progress.recordsRead += records.length;
        progress.behind.set(shard.description.shardId, behind ?? 0);
      },
    });
    if (result.complete && (shard.readToTipFor === undefined || shard.readToTipFor < request.stopAt)) shard.readToTipFor = request.stopAt;
    if (result.closed) {
      shard.closedAndRead = true;
      await this.options.engine.transaction((tx) => this.saveShard(tx, shard));
      // A closed parent's children may be new: list again on the next catch-up.
      this.listedAt = 0;
    }
  }

  /**
   * Another kinesql server on the same engine may have loaded this shard further: go on from its position
   * instead of reading those records again.
   */
  private async adoptNewerPosition(shard: ShardState): Promise<void> {
    const shardId = shard.description.shardId;
    const stored = (await loadPositions(this.options.engine, this.key, shardId)).get(shardId);
    const storedLast = stored?.range.lastSequence;
    if (!stored || storedLast === undefined) return;
    if (shard.range?.lastSequence !== undefined && compareSequenceNumbers(storedLast, shard.range.lastSequence) <= 0) return;
    if (shard.range) Object.assign(shard.range, stored.range);
    else shard.range = { ...stored.range };
    shard.closedAndRead = stored.closedAndRead;
    shard.segmentCount = stored.segmentCount;
    shard.preparedSegments = stored.segmentCount;
    shard.rows = stored.rows;
    shard.invalidRows = stored.invalidRows;
    shard.messageBytes = stored.messageBytes;
  }

  /** Loads the records between a wider bound and the first loaded record; undone if it fails half-way. */
  private async fill(shard: ShardState, needed: LowerBound, request: ScanRequest, progress: CatchUpProgress): Promise<void> {
    const range = shard.range!;
    const stop = range.firstSequence!;
    let first: StreamRecord | undefined;
    const before = { rows: shard.rows, invalidRows: shard.invalidRows, messageBytes: shard.messageBytes, segmentCount: shard.segmentCount };
    this.startLoads(shard);
    try {
      await shard.reader.read({
        from: positionOf(needed),
        stopAt: request.stopAt,
        stopBeforeSequence: stop,
        maxBatches: 0,
        onBatch: async (records, behind) => {
          await this.load(shard, records, 'fill');
          first ??= records[0];
          progress.recordsRead += records.length;
          progress.behind.set(shard.description.shardId, behind ?? 0);
        },
      });
    } catch (error) {
      if (first !== undefined) {
        Object.assign(shard, before);
        await this.options.engine.transaction(async (tx) => {
          await tx.query(
            `DELETE FROM ${this.tableName} WHERE _shard_id = ${quoteLiteral(shard.description.shardId)} AND _shard_sequence_id::numeric < ${quoteLiteral(stop)}::numeric`,
          );
          await this.saveShard(tx, shard);
        });
      }
      throw error;
    }
    range.lower = needed;
    if (first) {
      range.firstSequence = first.sequenceNumber;
      range.firstArrival = first.arrivalTimestamp;
    }
    await this.options.engine.transaction((tx) => this.saveShard(tx, shard));
  }

  private saveShard(tx: EngineTransaction, shard: ShardState, range = shard.range): Promise<void> {
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
    if (maxRows > 0 && this.rowsLoaded + adding > maxRows) {
      throw new StreamReadError(
        `table ${name} (stream "${this.definition.streamName}") would hold more than ${maxRows} rows (kinesql.max-rows-per-table); ${hint}`,
        SQLSTATE.programLimitExceeded,
        this.definition.streamName,
      );
    }
    if (maxBytes > 0 && this.bytesLoaded + addingBytes > maxBytes) {
      throw new StreamReadError(
        `table ${name} (stream "${this.definition.streamName}") would hold more than ${maxBytes} message bytes (kinesql.max-bytes-per-table); ${hint}`,
        SQLSTATE.programLimitExceeded,
        this.definition.streamName,
      );
    }
  }

  /**
   * Decodes a batch at once (on this thread) and queues its COPY behind the shard's earlier ones, so the
   * engine loads batch n while batch n+1 is decoded and n+2 is fetched. The rows and the shard's new
   * position (a tail read moves its end; a fill moves its start only once it is complete) commit together.
   */
  private load(shard: ShardState, records: StreamRecord[], kind: 'tail' | 'fill'): Promise<void> {
    const shardId = shard.description.shardId;
    const encoded = encodeBatch(records, this.decodeRecord, shardId, shard.preparedSegments);
    shard.preparedSegments = encoded.segmentCount;
    const copy = shard.loads.then(async () => {
      // Checked and reserved at once, so shards loading in parallel cannot all pass the cap.
      this.checkCaps(encoded.rows, encoded.bytes);
      this.reservedRows += encoded.rows;
      this.reservedBytes += encoded.bytes;
      let saved: StoredPosition;
      try {
        // A batch lost in a crash is lost with its position, so it is simply read again: no need to wait for
        // the disk at every commit.
        saved = await this.options.engine
          .transaction((tx) => this.commitBatch(tx, shard, records, encoded, kind, false), { asynchronousCommit: true })
          .catch((error: unknown) => {
            if (!isDataException(error)) throw error;
            // The engine refused a value: the batch again, the refused records loaded as invalid messages.
            return this.options.engine.transaction((tx) => this.commitBatch(tx, shard, records, encoded, kind, true));
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
    });
    shard.loads = copy;
    return copy;
  }

  /**
   * Copies a batch and records the shard's new position in one transaction, holding the shard's lock: when
   * another kinesql server on the same engine has loaded past where this one stood, only the records after
   * its position are loaded (never a record twice), counted from its position.
   */
  private async commitBatch(
    tx: EngineTransaction,
    shard: ShardState,
    records: StreamRecord[],
    encoded: ReturnType<typeof encodeBatch>,
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
    let batch = encoded;
    let loading = records;
    if (kind === 'tail') {
      await lockShard(tx, this.key, shardId);
      const stored = (await loadPositions(tx, this.key, shardId)).get(shardId);
      const storedLast = stored?.range.lastSequence;
      if (stored && storedLast !== undefined && storedLast !== base.range.lastSequence) {
        base = stored;
        loading = records.filter((record) => compareSequenceNumbers(record.sequenceNumber, storedLast) > 0);
        batch = encodeBatch(loading, this.decodeRecord, shardId, stored.segmentCount);
      }
    }
    let invalid = batch.batch.filter((row) => row.values[this.rowShape.validColumn] === 'f').length;
    if (batch.batch.length > 0 && !isolateBadRows) await tx.copyFrom(this.copySql, batchText(batch.batch));
    if (batch.batch.length > 0 && isolateBadRows) {
      const refused = await copyIsolatingBadRows(tx, this.copySql, batch.batch, this.rowShape);
      invalid += refused.filter((index) => batch.batch[index]!.values[this.rowShape.validColumn] === 't').length;
      this.options.logger.warn(
        { table: this.tableName, shard: shardId, records: refused.length },
        'records the engine refused were loaded as invalid messages',
      );
    }
    const range: LoadedRange =
      kind === 'fill' || loading.length === 0
        ? base.range
        : {
            ...base.range,
            firstSequence: base.range.firstSequence ?? loading[0]!.sequenceNumber,
            firstArrival: base.range.firstArrival ?? loading[0]!.arrivalTimestamp,
            lastSequence: loading[loading.length - 1]!.sequenceNumber,
          };
    const position: StoredPosition = {
      range,
      closedAndRead: base.closedAndRead,
      segmentCount: batch.segmentCount,
      rows: base.rows + batch.rows,
      invalidRows: base.invalidRows + invalid,
      messageBytes: base.messageBytes + batch.bytes,
    };
    await savePosition(tx, this.key, shardId, position);
    return position;
  }

  /** Starts a read of a shard: no load of an earlier (failed) read stands in its way. */
  private startLoads(shard: ShardState): void {
    shard.loads = Promise.resolve();
    shard.preparedSegments = shard.segmentCount;
  }

  /**
   * Deletes rows older than the table's window (at most every evictionIntervalMs) so memory and disk stay
   * bounded, and moves each shard's loaded range up to what is still held.
   */
  private async evictOldRows(): Promise<void> {
    const windowStart = this.windowStart();
    if (windowStart === undefined || Date.now() - this.evictedAt < this.options.evictionIntervalMs) return;
    this.evictedAt = Date.now();
    const cutoff = quoteLiteral(windowStart.toISOString());
    const engine = this.options.engine;
    const evictedAny = await engine.transaction(async (tx) => {
      const evicted = await tx.query(
        `SELECT _shard_id AS shard, max(_shard_sequence_id::numeric)::text AS last FROM ${this.tableName} WHERE _message_timestamp < ${cutoff}::timestamptz GROUP BY 1`,
      );
      if (evicted.rows.length === 0) return false;
      await tx.query(`DELETE FROM ${this.tableName} WHERE _message_timestamp < ${cutoff}::timestamptz`);
      const remainingRows = await tx.query(
        `SELECT _shard_id AS shard, min(_shard_sequence_id::numeric)::text AS first, min(_message_timestamp) AS first_arrival,
                count(*)::int AS rows, (count(*) FILTER (WHERE NOT _message_valid))::int AS invalid, coalesce(sum(_message_length), 0)::float8 AS bytes
           FROM ${this.tableName} GROUP BY 1`,
      );
      const lastEvicted = new Map(evicted.rows.map((row) => [String(row['shard']), String(row['last'])]));
      const remaining = new Map(remainingRows.rows.map((row) => [String(row['shard']), row]));
      for (const [shardId, shard] of this.shards) {
        const range = shard.range;
        if (!range || !lastEvicted.has(shardId)) continue;
        const row = remaining.get(shardId);
        range.lower =
          range.lower.kind === 'sequence'
            ? { kind: 'sequence', sequenceNumber: lastEvicted.get(shardId)!, inclusive: false }
            : laterTime(windowStart, range.lower.kind === 'time' ? range.lower.at : undefined);
        if (row) {
          range.firstSequence = String(row['first']);
          range.firstArrival = new Date(row['first_arrival'] as string | Date);
        } else {
          delete range.firstSequence;
          delete range.firstArrival;
        }
        shard.rows = Number(row?.['rows'] ?? 0);
        shard.invalidRows = Number(row?.['invalid'] ?? 0);
        shard.messageBytes = Number(row?.['bytes'] ?? 0);
        await this.saveShard(tx, shard);
      }
      return true;
    });
    if (!evictedAny) return;
    this.options.logger.info({ table: this.tableName, before: windowStart.toISOString() }, 'evicted rows older than the window');
  }
}
