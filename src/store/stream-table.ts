/**
 * One stream table: its shards, what of each is loaded, and bringing it up to what a statement needs. Kept
 * here: the catch-up chain (catch-ups of one table run one after another, statements asking the same share
 * one, a definition change retires the table between them), a catch-up's rounds of listing and reading
 * (again when reads close shards in a reshard, or the stream went away under them), the other servers' tip
 * reads it adopts, and what the status tables show of the table. In their own modules: the shard listing
 * (listed-shards.ts), the order of reads across reshards (reshard-order.ts), one shard's read (shard-catch-up.ts:
 * the position reload after an engine doubt, fills of older ranges, the tail up to the tip), loading batches
 * (shard-loader.ts), the catch-up queue (catch-up-queue.ts), staleness (staleness.ts, tip-marks.ts), the upkeep
 * at the eviction pace (partition-upkeep.ts), the index build after the first load (deferred-indexes.ts), the
 * record decoder (table-decoder.ts) and which stream the rows came from (stream-incarnation.ts).
 */
import { qualifiedName } from '../pg/quoting.js';
import { tableKey } from '../engine/roles.js';
import type { TableDefinition } from '../catalog/definition.js';
import type { MappingVerdict } from '../decode/mapping-sample.js';
import type { RecordDecoder } from '../decode/record-decoder.js';
import type { EngineTransaction } from '../engine/engine.js';
import { windowSecondsOf } from '../config/config.js';
import { parentsFirst } from '../kinesis/shard-listing.js';
import type { LowerBound } from './loaded-range.js';
import { shardsForBounds, type ScanRequest } from './scan-request.js';
import { FirstLoad } from './first-load.js';
import { CatchUpProgress, mergeInto, requestKey, type WaitingCatchUp } from './catch-up-queue.js';
import type { StoredPosition } from './shard-positions.js';
import { listingServes, unreadShards } from './staleness.js';
import { TipMarks } from './tip-marks.js';
import { PartitionUpkeep } from './partition-upkeep.js';
import { describeShard, ShardLoader, type ShardState, type ShardStatus } from './shard-loader.js';
import type { RowChanges } from './row-changes.js';
import { ListedShards } from './listed-shards.js';
import { readInReshardOrder } from './reshard-order.js';
import { ShardCatchUp } from './shard-catch-up.js';
import { DeferredIndexes } from './deferred-indexes.js';
import { createTableDecoder } from './table-decoder.js';
import type { StreamTableOptions } from './stream-table-options.js';

export type { ShardStatus };
import { StreamReadError } from './stream-read-error.js';
import { type IncarnationCheck, isStreamMissing, StreamIncarnations } from './stream-incarnation.js';
import { partitionSeconds, TimePartitions } from './time-partitions.js';

/** Listings per catch-up when reads keep closing shards (a reshard during the catch-up). */
const MAX_LISTING_ROUNDS = 4;

/** What the engine holds of one stream table, and how to bring it up to what a statement needs. */
export class StreamTable {
  private readonly listing: ListedShards;
  /** The listed shards by id (the listing's own map). */
  private readonly shards: Map<string, ShardState>;
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
  private current: CatchUpProgress | undefined;
  private readonly firstLoad: FirstLoad;
  private readonly tipMarks: TipMarks;
  private readonly upkeep: PartitionUpkeep;
  private readonly indexes: DeferredIndexes;
  private readonly shardCatchUp: ShardCatchUp;
  lastError: string | undefined;
  /** Since when every catch-up of the table failed (the stream cannot be read); undefined once one succeeds. */
  failingSince: Date | undefined;

  constructor(
    readonly definition: TableDefinition,
    private readonly options: StreamTableOptions,
  ) {
    this.tableName = qualifiedName(definition);
    this.listing = new ListedShards(definition.streamName, options);
    this.shards = this.listing.byId;
    // A table retired meanwhile may already be dropped or replaced.
    this.indexes = new DeferredIndexes(definition, options.engine, options.logger, this.tableName, () => this.retiring);
    this.firstLoad = new FirstLoad(`${definition.schemaName}.${definition.tableName}`, options.logger);
    const decodeRecord = createTableDecoder(definition, options);
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
    const parts = {
      tableName: this.tableName,
      loader: this.loader,
      tipMarks: this.tipMarks,
      onClosed: () => this.listing.invalidate(),
      heldElsewhere: (shardId: string) => options.leases !== undefined && !options.leases.holds(this, shardId),
    };
    this.shardCatchUp = new ShardCatchUp(parts, options);
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
    return (
      listingServes(this.listing.lastListed, this.options.shardListTtlMs, request, maxStalenessMs) && this.unreadShards(request, maxStalenessMs).length === 0
    );
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
    this.listing.restore(positions);
    this.indexes.present();
    if (positions.size > 0) this.firstLoad.skip();
  }

  /** The verdict on the mappings from decoding the loaded messages again for this version of the definition. */
  adoptMappingVerdict(verdict: MappingVerdict): void {
    this.decodeRecord.adoptMappingVerdict(verdict);
  }

  /** Takes over what `previous` has loaded (same stream, rows already in the engine table). */
  adoptLoadedState(previous: StreamTable): void {
    this.listing.adopt(previous.listing);
    this.indexes.present();
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
        if (this.listing.stale) {
          const stream = await this.refreshShards();
          // A stream that is gone has nothing more to read: what was loaded of it is the answer.
          if (stream === 'deleted') break;
          if (stream === 'replaced') read.clear();
        } else if (this.incarnations.deleted) break;
        const all = this.listing.descriptions();
        const selected = shardsForBounds(all, request.bounds);
        const chosen = [...selected].filter((id) => !read.has(id));
        if (chosen.length === 0) break;
        this.firstLoad.begin(all.length, windowStart === undefined ? undefined : request.stopAt.getTime() - windowStart.getTime(), this.bytesLoaded);
        try {
          const readShard = (shard: ShardState, needed: LowerBound) => this.shardCatchUp.read(shard, needed, request, progress);
          await readInReshardOrder({ shards: this.shards, ordered: parentsFirst(all), chosen: new Set(chosen), selected, windowStart, request, readShard });
        } catch (error) {
          // The stream went away under the read (deleted, perhaps created again): look at it again.
          if (!isStreamMissing(error) || round === MAX_LISTING_ROUNDS - 1) throw error;
          this.listing.invalidate();
          continue;
        }
        for (const id of chosen) read.add(id);
        if (!this.listing.invalidated) break;
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
      this.indexes.buildSoon();
    }
  }

  /** Lists the stream's shards, after making sure the name still stands for the stream the table holds. */
  private async refreshShards(): Promise<IncarnationCheck> {
    const stream = await this.incarnations.check(this.options.client, this.options.retry);
    if (stream === 'deleted') {
      this.listing.lookedAtNow();
      return stream;
    }
    // The previous stream's rows and positions are gone from the engine: its shards are forgotten here too.
    if (stream === 'replaced') this.listing.forget();
    // Shards just listed get their leases before they are read.
    if (await this.listing.refresh()) await this.options.leases?.renewNow();
    return stream;
  }

  /** Ends the subscriptions of the shards whose leases this server no longer holds: another server subscribes to them. */
  releaseSubscriptions(): void {
    const leases = this.options.leases;
    if (!leases) return;
    for (const shard of this.shards.values()) if (!leases.holds(this, shard.description.shardId)) shard.reader.releaseSubscription();
  }

  /** Stops converting partitions to columnar and waits for a conversion under way to end (kinesql is closing). */
  stopConversions(): Promise<void> {
    return this.upkeep.stopConversions();
  }
}
