import type { Logger } from 'pino';
import { dropTableStatement } from '../catalog/ddl.js';
import { qualifiedName } from '../pg/quoting.js';
import type { TableDefinition } from '../catalog/definition.js';
import type { Engine } from '../engine/engine.js';
import type { ScanBounds, ScanProgress, ScanRequest, ScanWindow, ReadOverrides } from './scan-request.js';
import { LoadRate, loadProgressOf } from './load-progress.js';
import { writeStatusTables } from './status-tables.js';
import { READER_ROLE, tableGrantStatements, tableKey } from '../engine/roles.js';
import { createStreamTable, setShardPolicies } from './table-distribution.js';
import { DISTRIBUTION_COLUMN } from '../engine/citus.js';
import {
  definitionFingerprint,
  forgetTable,
  loadPositions,
  lockDefinition,
  registeredTables,
  registerTable,
  renameTable,
  storedFingerprint,
} from './shard-positions.js';
import { catchUpUnlessFresh } from './fresh-catch-up.js';
import type { OwnerReads } from './owner-reads.js';
import type { ShardLeases } from './shard-leases.js';
import type { LoadBudget } from './load-budget.js';
import { StreamTable } from './stream-table.js';
import type { StreamTableOptions } from './stream-table-options.js';
import { canRebuildFromLoadedMessages, rebuildFromLoadedMessages } from './table-rebuild.js';
import { DDL_LOCK_TIMEOUT_MS, lockTablesWithoutQueueing } from './ddl-locks.js';
import { PgError } from '../pg/pg-error.js';
import { SQLSTATE } from '../pg/sqlstate.js';

/** A relation as a statement names it: schema as written (case-folded unless quoted), absent when unqualified. */
export interface RelationName {
  readonly schema?: string;
  readonly name: string;
}

/** The configured window a session's kinesis.* settings start from, and how far back they may take it. */
export interface WindowDefaults {
  iterFromTimestamp: boolean;
  iterOffsetSeconds: number;
  maxWindowSeconds?: number;
}

export type StoreOptions = StreamTableOptions & {
  /** A catch-up reports its progress this often (ms); 0 = never. */
  progressIntervalMs: number;
  /** Default of kinesql.max_staleness (ms). */
  maxStalenessMs: number;
  /** How far back (seconds) a session's window may reach (kinesql.max-window); undefined = no cap. */
  maxWindowSeconds?: number;
  /**
   * A follower keeps the tables read (kinesis.read-budget-share > 0, or enhanced fan-out): a strict
   * statement then needs no read of its own when the follower read its shards past the statement's start,
   * and otherwise waits for the read under way before it reads (its reads share the follower's budget).
   */
  followed?: boolean;
  /** Servers on one engine dividing the shards: a strict statement waits for the owners' reads of the shards it does not follow. */
  ownerReads?: OwnerReads;
  /** The same servers' shard leases: kinesql.shards names each shard's holder. */
  leases?: ShardLeases;
};

/** What a statement asks of the store: its start, and per table the bounds its WHERE puts on the scan. */
export interface CatchUpRequest {
  stopAt: Date;
  boundsFor?: (table: StreamTable) => ScanBounds | undefined;
  /** The session's window for a table (SET kinesis.*), when it has its own. */
  windowFor?: (table: StreamTable) => ScanWindow | undefined;
  read?: ReadOverrides;
  /** Answers up to this old are good enough (kinesql.max_staleness): a table fresh enough is not read. */
  maxStalenessMs?: number;
  /** Called every progressIntervalMs while the catch-up runs, with one entry per table still loading. */
  onProgress?: (progress: ScanProgress[]) => void;
  /** The follower's catch-up (see ScanRequest.background). */
  background?: boolean;
  /** Called for a table answered from what is loaded (within maxStalenessMs) while its stream cannot be read. */
  onUnreadable?: (table: StreamTable, since: Date) => void;
}

function keyOf(schema: string, name: string): string {
  return `${schema}\u0000${name}`;
}

/** The stream tables the engine holds, by schema and name. */
export class StreamStore {
  private readonly tables = new Map<string, StreamTable>();
  private readonly shutdown = new AbortController();
  private readonly options: StoreOptions;

  constructor(
    private readonly engine: Engine,
    options: StoreOptions,
    private readonly logger: Logger,
  ) {
    this.options = { ...options, shutdown: this.shutdown.signal };
    engine.onDoubt((cause) => {
      this.logger.warn({ cause }, 'the engine may have lost loaded records: every shard position is read from the engine again before its next read');
      for (const table of this.tables.values()) table.distrustPositions();
    });
  }

  /**
   * Ends every read under way at its next batch (a batch's rows and its position commit together, so what
   * is loaded stays consistent) and refuses new ones: the first step of a prompt shutdown.
   */
  stopLoading(): void {
    this.shutdown.abort(new PgError('terminating connection because kinesql is shutting down', SQLSTATE.adminShutdown));
  }

  /** Stops the tables' conversions of closed partitions to columnar and waits for those under way to end. */
  async stopConversions(): Promise<void> {
    await Promise.all(this.list().map((table) => table.stopConversions()));
  }

  list(): StreamTable[] {
    return [...this.tables.values()];
  }

  /** Creates the engine table for a new definition (replacing any table of that name) and starts tracking it. */
  async add(definition: TableDefinition): Promise<StreamTable> {
    const previous = this.tables.get(keyOf(definition.schemaName, definition.tableName));
    if (previous) return (await previous.retire(() => this.create(definition)))!;
    return this.create(definition);
  }

  /**
   * Serves a changed definition. When only the decoding changed, the loaded messages are decoded again
   * (no Kinesis reads); otherwise the table is created anew and read from its window start.
   */
  async replace(old: TableDefinition, next: TableDefinition): Promise<StreamTable> {
    const previous = this.tables.get(keyOf(old.schemaName, old.tableName));
    if (!previous) return this.add(next);
    const successor = await previous.retire(async () => {
      // A distributed table is read again: its rows cannot be paged through by row id, which each shard has its own of.
      if (this.options.distributed || !canRebuildFromLoadedMessages(old, next)) return this.create(next, old);
      // Another kinesql server on the same engine may have rebuilt it already.
      if ((await storedFingerprint(this.engine, tableKey(next), qualifiedName(next))) === this.fingerprint(next)) return this.create(next, old);
      const { rows, mappings } = await rebuildFromLoadedMessages(this.engine, old, next, this.options.partitionByTime);
      await this.engine.transaction((tx) => renameTable(tx, tableKey(old), tableKey(next), next, this.fingerprint(next)), {
        lockTimeoutMs: DDL_LOCK_TIMEOUT_MS,
      });
      const table = this.track(next);
      table.adoptLoadedState(previous);
      if (mappings) table.adoptMappingVerdict(mappings);
      this.logger.info({ table: `${next.schemaName}.${next.tableName}`, rows }, 'stream table rebuilt from loaded messages');
      return table;
    });
    if (old.schemaName !== next.schemaName || old.tableName !== next.tableName) {
      this.tables.delete(keyOf(old.schemaName, old.tableName));
    }
    return successor!;
  }

  async remove(definition: Pick<TableDefinition, 'schemaName' | 'tableName'>): Promise<void> {
    const key = keyOf(definition.schemaName, definition.tableName);
    const previous = this.tables.get(key);
    if (previous) {
      await previous.retire(async () => {
        await this.dropEngineTable(definition);
        return undefined;
      });
    } else await this.dropEngineTable(definition);
    if (this.tables.get(key) === previous) this.tables.delete(key);
  }

  private async dropEngineTable(definition: Pick<TableDefinition, 'schemaName' | 'tableName'>): Promise<void> {
    await this.engine.transaction(
      async (tx) => {
        await lockTablesWithoutQueueing(tx, [definition]);
        await tx.query(dropTableStatement(definition));
        await forgetTable(tx, tableKey(definition));
      },
      { lockTimeoutMs: DDL_LOCK_TIMEOUT_MS },
    );
  }

  /**
   * Engine tables an earlier run built for definitions that are not served now (deleted, or broken since)
   * are kept, with what they loaded, for when the definition comes back, but no client may read them.
   */
  async hideUnserved(): Promise<void> {
    const served = new Set(this.list().map((table) => tableKey(table.definition)));
    for (const { key, table } of await registeredTables(this.engine)) {
      if (served.has(key)) continue;
      await this.engine
        .exec(`REVOKE SELECT ON ${table} FROM ${READER_ROLE}`)
        .catch((error: unknown) => this.logger.warn({ err: error, table: key }, 'could not hide an unserved table'));
      this.logger.info({ table: key }, 'engine table of a definition no longer served is kept but hidden from clients');
    }
  }

  /**
   * Serves a definition: an engine table an earlier run built from the same definition is kept with what it
   * loaded (only what arrived since is read); otherwise the table is created anew.
   */
  private async create(definition: TableDefinition, replacing?: TableDefinition): Promise<StreamTable> {
    const key = tableKey(definition);
    const name = `${definition.schemaName}.${definition.tableName}`;
    const statements = [...(replacing && tableKey(replacing) !== key ? [dropTableStatement(replacing)] : []), dropTableStatement(definition)];
    const layout = { partitionedByTime: this.options.partitionByTime, distributed: this.options.distributed === true };
    // One kinesql server at a time decides, under the definition's lock: an engine table built from this very
    // definition (by an earlier run, or by another server on the same engine just now) is kept.
    const resumed = await this.engine.transaction(
      async (tx) => {
        await lockDefinition(tx, key);
        if ((await storedFingerprint(tx, key, qualifiedName(definition))) === this.fingerprint(definition)) {
          // An earlier run may have hidden it while its definition was away.
          for (const statement of tableGrantStatements(definition)) await tx.query(statement);
          return true;
        }
        await lockTablesWithoutQueueing(tx, replacing ? [replacing, definition] : [definition]);
        for (const statement of statements) await tx.query(statement);
        await createStreamTable(tx, definition, layout);
        if (replacing && tableKey(replacing) !== key) await forgetTable(tx, tableKey(replacing));
        await registerTable(tx, key, definition, this.fingerprint(definition));
        return false;
      },
      { lockTimeoutMs: DDL_LOCK_TIMEOUT_MS },
    );
    if (layout.distributed) await setShardPolicies(this.engine, definition);
    const table = this.track(definition);
    if (resumed) {
      const positions = await loadPositions(this.engine, key);
      table.restore(positions);
      const rows = [...positions.values()].reduce((sum, position) => sum + position.rows, 0);
      this.logger.info({ table: name, stream: definition.streamName, source: definition.source, rows }, 'stream table resumed with what is already loaded');
    } else {
      this.logger.info({ table: name, stream: definition.streamName, source: definition.source }, 'stream table ready');
    }
    return table;
  }

  private fingerprint(definition: TableDefinition): string {
    const fingerprint = definitionFingerprint(definition, this.options.partitionByTime);
    return this.options.distributed ? `${fingerprint}; distributed by ${DISTRIBUTION_COLUMN}` : fingerprint;
  }

  private track(definition: TableDefinition): StreamTable {
    const table = new StreamTable(definition, this.options);
    this.tables.set(keyOf(definition.schemaName, definition.tableName), table);
    return table;
  }

  /** Whether stream tables are distributed over a Citus cluster's workers. */
  get distributed(): boolean {
    return this.options.distributed === true;
  }

  /** The stream tables a statement names; unqualified names are looked up along searchPath. */
  resolve(relations: RelationName[], searchPath: string[]): StreamTable[] {
    const found = new Set<StreamTable>();
    for (const relation of relations) {
      const schemas = relation.schema === undefined ? searchPath : [relation.schema];
      for (const schema of schemas) {
        const table = this.tables.get(keyOf(schema, relation.name));
        if (table) {
          found.add(table);
          break;
        }
      }
    }
    return [...found];
  }

  /** What batches on their way into the engine hold now, over every table (kinesql.load-buffer-bytes). */
  get loadBudget(): LoadBudget {
    return this.options.loadBudget;
  }

  /** kinesql.max-staleness: what a session that did not SET kinesql.max_staleness accepts. */
  defaultMaxStalenessMs(): number {
    return this.options.maxStalenessMs;
  }

  /** The configured window, which a session's kinesis.* settings start from. */
  windowDefaults(): WindowDefaults {
    const { iterFromTimestamp, iterOffsetSeconds, maxWindowSeconds } = this.options;
    return { iterFromTimestamp, iterOffsetSeconds, ...(maxWindowSeconds !== undefined ? { maxWindowSeconds } : {}) };
  }

  /** Rewrites kinesql.streams and kinesql.shards from the tables' current state. */
  async refreshStatus(): Promise<void> {
    await writeStatusTables(this.engine, this.list(), this.options.leases);
  }

  /** Brings every given table up to what the statement needs, in parallel, reporting progress while it runs. */
  async catchUp(tables: StreamTable[], request: CatchUpRequest | Date): Promise<void> {
    const asked: CatchUpRequest = request instanceof Date ? { stopAt: request } : request;
    const onProgress = asked.onProgress;
    const rate = new LoadRate();
    // The percent a statement is told never goes back: the window moves with the clock, so a read the machine
    // delays would show less of it loaded than the read before, though nothing loaded was lost.
    const shown = new Map<string, number>();
    const report = (): void => {
      const now = Date.now();
      const running = tables
        .filter((table) => table.loading)
        .map((table) => {
          const progress = loadProgressOf(table, rate, now);
          const ratio = Math.max(progress.ratio, shown.get(progress.table) ?? 0);
          shown.set(progress.table, ratio);
          return { ...progress, ratio };
        });
      if (running.length > 0) onProgress?.(running);
    };
    const timer = onProgress && this.options.progressIntervalMs > 0 ? setInterval(report, this.options.progressIntervalMs) : undefined;
    try {
      await Promise.all(
        tables.map((table) => {
          const scan = scanOf(table, asked);
          const { ownerReads } = this.options;
          if (asked.maxStalenessMs) return catchUpUnlessFresh(table, scan, asked.maxStalenessMs, ownerReads, asked.onUnreadable);
          return this.options.followed ? catchUpUnlessFresh(table, scan, 0, ownerReads) : table.catchUp(scan);
        }),
      );
    } finally {
      if (timer) clearInterval(timer);
    }
  }

  /**
   * Whether a catch-up that accepts answers up to maxStalenessMs old has nothing to do: every table was read recently
   * enough (its onUnreadable is called for a table whose stream cannot be read meanwhile). Then catchUp is not needed.
   */
  freshEnough(tables: StreamTable[], request: CatchUpRequest): boolean {
    const bound = request.maxStalenessMs;
    if (!bound || !tables.every((table) => table.freshFor(scanOf(table, request), bound))) return false;
    for (const table of tables) if (table.failingSince) request.onUnreadable?.(table, table.failingSince);
    return true;
  }
}

/** What a catch-up reads of one table. */
function scanOf(table: StreamTable, asked: CatchUpRequest): ScanRequest {
  const bounds = asked.boundsFor?.(table);
  const window = asked.windowFor?.(table);
  return {
    stopAt: asked.stopAt,
    ...(bounds ? { bounds } : {}),
    ...(window ? { window } : {}),
    ...(asked.read ? { read: asked.read } : {}),
    ...(asked.background ? { background: true } : {}),
  };
}
