/**
 * One stream table: its shards, what of each is loaded, and reading what a statement needs: catch-up sharing,
 * shard listing and reshard order, fills of older ranges. Loading batches (shard-loader.ts), filling older ranges
 * (older-range-fill.ts), the catch-up queue (catch-up-queue.ts), whether what is loaded answers a statement within
 * its staleness bound (staleness.ts), how far each shard counts as read to its tip (tip-marks.ts) and the upkeep
 * at the eviction pace (partition-upkeep.ts: eviction, detaching, columnar conversion) live in their own modules.
 * What is left stays together because every part reads and moves the same per-shard state: the catch-up chain,
 * the position reload after an engine doubt, the stream incarnation, the other servers' tip reads it adopts
 * (shard leases) and the load budget's room per read. At about 580 lines it is past the 450 the others keep;
 * the shard listing and reshard order (listing, lineage, which children may be read) go to a module of their own next.
 */
import type { KinesisClient } from '../kinesis/client.js';
import type { Logger } from 'pino';
import { indexStatements } from '../catalog/ddl.js';
import { qualifiedName } from '../pg/quoting.js';
import { tableKey } from '../engine/roles.js';
import type { TableDefinition } from '../catalog/definition.js';
import type { MappingVerdict } from '../decode/mapping-sample.js';
import { createRecordDecoder, type RecordDecoder } from '../decode/record-decoder.js';
import type { SchemaRegistries } from '../registry/schema-registries.js';
import type { Engine, EngineTransaction } from '../engine/engine.js';
import { type ClosedPartitionStorage, windowSecondsOf } from '../config/config.js';
import type { ShardRateBudget } from '../kinesis/rate-budget.js';
import type { ShardDescription } from '../kinesis/records.js';
import type { RetryPolicy } from '../kinesis/retry.js';
import { firstLoadBatchSize, ShardReader, type ShardSubscriptions } from '../kinesis/shard-reader.js';
import { listShards, parentsFirst } from '../kinesis/shard-listing.js';
import { covers, positionOf, type LowerBound } from './loaded-range.js';
import { neededBound, shardsForBounds, type ScanRequest } from './scan-request.js';
import { fillOlderRange } from './older-range-fill.js';
import { FirstLoad } from './first-load.js';
import { CatchUpProgress, mergeInto, requestKey, type WaitingCatchUp } from './catch-up-queue.js';
import type { StoredPosition } from './shard-positions.js';
import type { TipReads } from './shard-tip-reads.js';
import { listingServes, readServes, unreadShards } from './staleness.js';
import { TipMarks } from './tip-marks.js';
import { PartitionUpkeep } from './partition-upkeep.js';
import { describeShard, PositionLostError, ShardLoader, type ShardState, type ShardStatus } from './shard-loader.js';
import type { RowChanges } from './row-changes.js';

export type { ShardStatus };
import type { LoadBudget } from './load-budget.js';
import { StreamReadError } from './stream-read-error.js';
import { type IncarnationCheck, isStreamMissing, StreamIncarnations } from './stream-incarnation.js';
import { partitionSeconds, TimePartitions } from './time-partitions.js';

export interface StreamTableOptions {
  /** Aborted when kinesql shuts down: reads end at their next batch. */
  shutdown?: AbortSignal;
  client: KinesisClient;
  engine: Engine;
  logger: Logger;
  retry: RetryPolicy;
  budget: ShardRateBudget;
  batchSize: number;
  maxBatches: number;
  logBatches: boolean;
  maxMessageBytes: number;
  /** kinesis.iter-from-timestamp: the table shows the last iterOffsetSeconds; false = everything from TRIM_HORIZON. */
  iterFromTimestamp: boolean;
  /** kinesis.iter-offset-seconds: seconds of history the table shows when iterFromTimestamp. */
  iterOffsetSeconds: number;
  /** How long a shard listing is trusted before the next catch-up lists again (reshards are found this way). */
  shardListTtlMs: number;
  /** Rows older than the window are dropped at most this often (ms). */
  evictionIntervalMs: number;
  /** What partitions that can receive no more records become (columnar-partitions.ts); heap when absent. */
  closedPartitionStorage?: ClosedPartitionStorage;
  /** Whether engine tables are partitioned by _message_timestamp (see time-partitions.ts). */
  partitionByTime: boolean;
  /** Width of new partitions (seconds); derived from the window when absent. */
  partitionSeconds?: number;
  /** Caps on what one table holds; 0 = none. */
  maxRows: number;
  maxBytes: number;
  /** What batches on their way into the engine may hold, shared by every table (kinesql.load-buffer-bytes). */
  loadBudget: LoadBudget;
  /** Where avro and protobuf writer schemas are looked up. */
  schemaRegistries?: SchemaRegistries;
  /** kinesis.consumer-mode = efo: shards' new records come by subscription. */
  subscriptions?: ShardSubscriptions;
  /** Servers sharing the engine: reads to the tip are recorded there for the others (shard-tip-reads.ts). */
  tipReads?: TipReads;
  /** The same servers' shard leases: with enhanced fan-out, only a shard's lease holder subscribes to it. */
  leases?: TableLeases;
  /** Stream tables are distributed over a Citus cluster (kinesql.engine-distribution): expired partitions are dropped, not detached. */
  distributed?: boolean;
}

/** What a table asks of the shard leases of the servers on one engine (shard-leases.ts). */
export interface TableLeases {
  /** Whether this server follows the shard now (with enhanced fan-out: subscribes to it). */
  holds(table: StreamTable, shardId: string): boolean;
  /** Runs a round now, so that shards just listed have their leases before they are read. */
  renewNow(): Promise<void>;
}

/** Reads of one shard per catch-up when the engine keeps losing commits under it. */
const MAX_POSITION_RELOADS = 3;
const POSITION_WENT_BACK = 'the engine lost loaded records (a crash before they reached the disk); reading the shard again from its stored position';

/** Listings per catch-up when reads keep closing shards (a reshard during the catch-up). */
const MAX_LISTING_ROUNDS = 4;

/** What the engine holds of one stream table, and how to bring it up to what a statement needs. */
export class StreamTable {
  private readonly shards = new Map<string, ShardState>();
  private listedAt = 0;
  private catchingUp: Promise<void> = Promise.resolve();
  /** Catch-ups queued behind the running one, by what they ask for; a new statement asking the same joins one. */
  private readonly waiting = new Map<string, WaitingCatchUp>();
  /** Set when a new version of the definition took this table's place: catch-ups go there. */
  private successor: StreamTable | undefined;
  private retired = false;
  private retiring = false;
  private readonly tableName: string;
  private readonly loader: ShardLoader;
  private readonly decodeRecord: RecordDecoder;
  private readonly partitions: TimePartitions | undefined;
  private readonly incarnations: StreamIncarnations;
  /** Positions stored in the engine by an earlier run, taken over when their shards are listed. */
  private restored = new Map<string, StoredPosition>();
  private current: CatchUpProgress | undefined;
  private readonly firstLoad: FirstLoad;
  private readonly tipMarks: TipMarks;
  private readonly upkeep: PartitionUpkeep;
  /** Indexes are built after the first load (bulk COPY into an unindexed table is a third faster). */
  private indexed = false;
  lastError: string | undefined;
  /** Since when every catch-up of the table failed (the stream cannot be read); undefined once one succeeds. */
  failingSince: Date | undefined;

  constructor(
    readonly definition: TableDefinition,
    private readonly options: StreamTableOptions,
  ) {
    this.tableName = qualifiedName(definition);
    this.firstLoad = new FirstLoad(`${definition.schemaName}.${definition.tableName}`, options.logger);
    const registries = options.schemaRegistries === undefined ? {} : { registries: options.schemaRegistries };
    const decodeRecord = createRecordDecoder(definition.message, {
      maxMessageBytes: options.maxMessageBytes,
      ...registries,
      onMappingVerdict: ({ messages, unmatched }) => {
        for (const { field, mapping } of unmatched) {
          options.logger.warn(
            { table: `${definition.schemaName}.${definition.tableName}`, file: definition.source, field, mapping, messages },
            `${definition.source}: field "${field}" (mapping "${mapping}") matched nothing in the first ${messages} records`,
          );
        }
      },
    });
    this.decodeRecord = decodeRecord;
    this.partitions = options.partitionByTime
      ? new TimePartitions(definition, options.partitionSeconds ?? partitionSeconds(windowSecondsOf(options)))
      : undefined;
    this.incarnations = new StreamIncarnations(tableKey(definition), this.tableName, definition.streamName, options.engine, options.logger);
    this.loader = new ShardLoader(definition, decodeRecord, options, () => ({ rows: this.rowsLoaded, bytes: this.bytesLoaded }), this.partitions);
    this.tipMarks = new TipMarks(tableKey(definition), this.tableName, options.tipReads, options.logger);
    const upkept = {
      shards: this.shards,
      windowStart: () => this.windowStart(),
      save: (tx: EngineTransaction, shard: ShardState) => this.loader.save(tx, shard),
    };
    this.upkeep = new PartitionUpkeep(definition, upkept, this.partitions, options);
  }

  get rowsLoaded(): number {
    return [...this.shards.values()].reduce((total, shard) => total + shard.rows, 0);
  }

  /** When rowsLoaded changes: a batch committed, or a shard's position was taken from the engine again. */
  get rowChanges(): RowChanges {
    return this.loader.rowChanges;
  }

  get bytesLoaded(): number {
    return [...this.shards.values()].reduce((total, shard) => total + shard.messageBytes, 0);
  }

  /** Where the table's configured window starts now; undefined = TRIM_HORIZON. */
  windowStart(now = Date.now()): Date | undefined {
    const seconds = windowSecondsOf(this.options);
    return seconds === undefined ? undefined : new Date(now - seconds * 1000);
  }

  /** Is a catch-up of the table running now? */
  get loading(): boolean {
    return this.current !== undefined;
  }

  /**
   * Whether what is loaded already answers a statement that accepts answers up to maxStalenessMs old: the
   * shard listing is recent, and every shard the statement needs holds the range it needs and was read to
   * its tip for a statement that started at most that long before this one.
   */
  freshFor(request: ScanRequest, maxStalenessMs: number): boolean {
    return listingServes(this.listedAt, this.options.shardListTtlMs, request, maxStalenessMs) && this.unreadShards(request, maxStalenessMs).length === 0;
  }

  /** The listed shards a statement needs that do not hold its range, or were not read to their tips recently enough for it. */
  unreadShards(request: ScanRequest, maxStalenessMs: number): string[] {
    const windowStart = request.window ? request.window.start : this.windowStart(request.stopAt.getTime());
    return unreadShards(this.shards, request, maxStalenessMs, windowStart);
  }

  /**
   * Other kinesql servers read these shards to their tips for statements started until the given times
   * (shard-tip-reads.ts): their loads are in the engine, so each shard's position is taken from there and it
   * counts as read to then. In the table's catch-up chain: a read of this server's own in flight keeps the
   * position it started from.
   */
  adoptTipReads(reads: Map<string, Date>): Promise<void> {
    const adopt = this.catchingUp.then(async () => {
      if (this.retired) return;
      const begun = this.tipMarks.begin();
      for (const [shardId, at] of reads) {
        const shard = this.shards.get(shardId);
        if (!shard) continue;
        await this.loader.reloadPosition(shard);
        this.tipMarks.adopt(shard, at, begun);
      }
    });
    this.catchingUp = adopt.catch(() => undefined);
    return adopt;
  }

  /** Per shard, the last record loaded (what a statement that caught up now can see at most). */
  reachedPositions(): Map<string, string> {
    const reached = new Map<string, string>();
    for (const [shardId, shard] of this.shards) if (shard.range?.lastSequence) reached.set(shardId, shard.range.lastSequence);
    return reached;
  }

  /** Fields whose mapping matched nothing in the table's first records (kinesql.streams): `field (mapping)`; undefined until judged. */
  unmatchedFields(): string[] | undefined {
    return this.decodeRecord.unmatchedFields()?.map(({ field, mapping }) => `${field} (${mapping})`);
  }

  /** Why the latest records that needed a schema registry could not decode, if they could not (kinesql.streams). */
  schemaRegistryError(): string | undefined {
    return this.decodeRecord.registryError();
  }

  /** What kinesql.streams says of the stream itself: active, deleted, or recreated (and when it was created). */
  streamStatus(): { status: string; createdAt: Date | undefined } {
    return { status: this.incarnations.status(), createdAt: this.incarnations.createdAt };
  }

  /** A NOTICE for statements reading the table while its stream is gone or was just replaced. */
  streamNotice(): string | undefined {
    return this.incarnations.notice(this.rowsLoaded);
  }

  shardStatus(): ShardStatus[] {
    return [...this.shards.values()].map(describeShard);
  }

  /** Ends the subscriptions of the shards whose leases this server no longer holds: another server subscribes to them. */
  releaseSubscriptions(): void {
    const leases = this.options.leases;
    if (!leases) return;
    for (const shard of this.shards.values()) if (!leases.holds(this, shard.description.shardId)) shard.reader.releaseSubscription();
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
      return waiting.done;
    }
    const entry: WaitingCatchUp = { request: { ...request }, done: Promise.resolve() };
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
      // A conversion's copy holds the partition it copies, which a definition change must take.
      await this.upkeep.stopConversions();
      let successor: StreamTable | undefined;
      try {
        successor = await fn();
      } catch (error) {
        // Not retired after all: this version goes on serving (and may build its indexes and convert partitions).
        this.retiring = false;
        this.upkeep.resumeConversions();
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

  /**
   * The engine may have lost commits (it restarted, a connection or a commit failed): no shard counts as
   * read to its tip until a read has taken its position from the engine again.
   */
  distrustPositions(): void {
    this.tipMarks.distrust(this.shards.values());
  }

  /** Takes over what an earlier run loaded into the engine table (its stored shard positions). */
  restore(positions: Map<string, StoredPosition>): void {
    this.restored = positions;
    this.indexed = true;
    if (positions.size > 0) this.firstLoad.skip();
  }

  /** The verdict on the mappings from decoding the loaded messages again for this version of the definition. */
  adoptMappingVerdict(verdict: MappingVerdict): void {
    this.decodeRecord.adoptMappingVerdict(verdict);
  }

  /** Takes over what `previous` has loaded (same stream, rows already in the engine table). */
  adoptLoadedState(previous: StreamTable): void {
    for (const [shardId, state] of previous.shards) this.shards.set(shardId, state);
    this.listedAt = previous.listedAt;
    this.indexed = true;
    this.firstLoad.skip();
  }

  private async readNeeded(request: ScanRequest): Promise<void> {
    const streamName = this.definition.streamName;
    const progress = new CatchUpProgress();
    this.current = progress;
    try {
      await this.upkeep.evictOldRows();
      const windowStart = request.window ? request.window.start : this.windowStart(request.stopAt.getTime());
      const read = new Set<string>();
      // A shard read to its end during this catch-up may have children nobody has listed yet: list again
      // and read them too, so records written after a reshard are in this statement's snapshot.
      for (let round = 0; round < MAX_LISTING_ROUNDS; round++) {
        if (Date.now() - this.listedAt > this.options.shardListTtlMs) {
          const stream = await this.refreshShards();
          // A stream that is gone has nothing more to read: what was loaded of it is the answer.
          if (stream === 'deleted') break;
          if (stream === 'replaced') read.clear();
        } else if (this.incarnations.deleted) break;
        const all = [...this.shards.values()].map((shard) => shard.description);
        const selected = shardsForBounds(all, request.bounds);
        const chosen = [...selected].filter((id) => !read.has(id));
        if (chosen.length === 0) break;
        this.firstLoad.begin(all.length, windowStart === undefined ? undefined : request.stopAt.getTime() - windowStart.getTime(), this.bytesLoaded);
        try {
          await this.readShards(parentsFirst(all), new Set(chosen), selected, windowStart, request, progress);
        } catch (error) {
          // The stream went away under the read (deleted, perhaps created again): look at it again.
          if (!isStreamMissing(error) || round === MAX_LISTING_ROUNDS - 1) throw error;
          this.listedAt = 0;
          continue;
        }
        for (const id of chosen) read.add(id);
        if (this.listedAt !== 0) break;
      }
      this.lastError = undefined;
      this.failingSince = undefined;
      // What was just loaded may close partitions (columnar-partitions.ts): their conversion starts now, in the background.
      this.upkeep.offerClosedPartitions();
      if (this.firstLoad.ended(progress.recordsRead, this.bytesLoaded, true)) this.decodeRecord.judgeMappings();
    } catch (error) {
      this.firstLoad.ended(progress.recordsRead, this.bytesLoaded, false);
      const readError = StreamReadError.from(error, streamName);
      this.lastError = readError.message;
      this.failingSince ??= new Date();
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
      const needed = neededBound(shard.description, windowStart, request);
      if (needed === 'nothing') continue;
      const parentIds = [description.parentShardId, description.adjacentParentShardId].filter((id): id is string => id !== undefined);
      const parents = parentIds.map((id) => reads.get(id)).filter((read): read is Promise<void> => read !== undefined);
      const read = Promise.all(parents).then(() =>
        this.parentsReadToEnd(parentIds, selected, windowStart, request) ? this.readShard(shard, needed, request, progress) : undefined,
      );
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
      return neededBound(parent.description, windowStart, request) === 'nothing';
    });
  }

  /** Lists the stream's shards, after making sure the name still stands for the stream the table holds. */
  private async refreshShards(): Promise<IncarnationCheck> {
    const stream = await this.incarnations.check(this.options.client, this.options.retry);
    if (stream === 'deleted') {
      this.listedAt = Date.now();
      return stream;
    }
    if (stream === 'replaced') {
      // The previous stream's rows and positions are gone from the engine: its shards are forgotten here too.
      this.shards.clear();
      this.restored = new Map();
    }
    const listed = await listShards(this.options.client, this.definition.streamName, this.options.retry);
    // A closed shard past the retention period leaves the listing and can no longer be read; what was
    // loaded of it stays until the window evicts it.
    const present = new Set(listed.map((description) => description.shardId));
    for (const shard of this.shards.values()) {
      if (present.has(shard.description.shardId)) continue;
      shard.expired = true;
      shard.closedAndRead = true;
    }
    let added = false;
    for (const description of listed) {
      const known = this.shards.get(description.shardId);
      if (known) {
        known.description = description;
        continue;
      }
      added = true;
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
          ...(this.options.subscriptions ? { subscriptions: this.options.subscriptions } : {}),
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
        expired: false,
      });
    }
    this.listedAt = Date.now();
    if (added) await this.options.leases?.renewNow();
    return stream;
  }

  /**
   * Reads one shard from the position the engine holds. When a batch finds the engine's position behind
   * what this server loaded (the engine lost commits in a crash), the shard is read again from there: a
   * record read twice is loaded once, because every commit checks the stored position first.
   */
  private async readShard(shard: ShardState, needed: LowerBound, request: ScanRequest, progress: CatchUpProgress): Promise<void> {
    if (readServes(shard, needed, request)) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.readShardOnce(shard, needed, request, progress);
        return;
      } catch (error) {
        if (!(error instanceof PositionLostError) || attempt >= MAX_POSITION_RELOADS) throw error;
        this.options.logger.warn({ table: this.tableName, shard: error.shardId, believed: error.believed, stored: error.stored ?? null }, POSITION_WENT_BACK);
      }
    }
  }

  private async readShardOnce(shard: ShardState, needed: LowerBound, request: ScanRequest, progress: CatchUpProgress): Promise<void> {
    const begun = this.tipMarks.begin();
    await this.loader.removeUnfinishedFill(shard);
    const lost = await this.loader.reloadPosition(shard);
    if (lost !== undefined) {
      this.options.logger.warn(
        { table: this.tableName, shard: shard.description.shardId, believed: lost, stored: shard.range?.lastSequence ?? null },
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
        await fillOlderRange(this.loader, this.options.engine, this.tableName, shard, needed, request, progress);
      }
    }
    if (shard.closedAndRead) return;
    const range = shard.range;
    this.loader.startLoads(shard);
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
        ...(this.options.leases && !this.options.leases.holds(this, shard.description.shardId) ? { subscribe: false } : {}),
        beforeCall: (records) => this.loader.roomForNextBatch(shard, records),
        onBatch: async (records) => {
          this.options.shutdown?.throwIfAborted();
          await this.loader.load(shard, records, 'tail');
          progress.recordsRead += records.length;
        },
      })
      .finally(() => this.loader.releaseReadRoom(shard));
    // A read found the tip at tipAt (the call's send time, the event's arrival): it answers statements started until then.
    const tipFor = result.tipAt && (result.tipAt > request.stopAt || request.tipSince || request.background) ? result.tipAt : request.stopAt;
    if (result.complete) await this.tipMarks.readToTip(shard, tipFor, begun);
    if (result.closed) {
      shard.closedAndRead = true;
      await this.options.engine.transaction((tx) => this.loader.save(tx, shard));
      // A closed parent's children may be new: list again on the next catch-up.
      this.listedAt = 0;
    }
  }

  /** Stops converting partitions to columnar and waits for a conversion under way to end (kinesql is closing). */
  stopConversions(): Promise<void> {
    return this.upkeep.stopConversions();
  }
}
