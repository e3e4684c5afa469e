/**
 * Stream tables are partitioned by `_message_timestamp`, so a window query reads only the partitions its
 * window reaches and eviction drops whole partitions instead of deleting rows. Partitions live in their own
 * schema, readable by no client (BI tools list only the stream tables, and the parent's row policy is the
 * only way in), and are created on demand, before the batch that needs one is copied.
 *
 * New partitions are attached (SHARE UPDATE EXCLUSIVE on the parent, which no reader's lock conflicts
 * with) rather than created with PARTITION OF (ACCESS EXCLUSIVE): a session's open transaction never holds up
 * a load. Expired ones are detached concurrently for the same reason (partition-detach.ts); one whose detach
 * is pending is no longer listed here.
 */
import { createHash } from 'node:crypto';
import type { Engine, EngineTransaction } from '../engine/engine.js';
import { READER_ROLE } from '../engine/roles.js';
import { qualifiedName, quoteIdent, quoteLiteral, type TableName } from '../pg/quoting.js';
import { SQLSTATE } from '../pg/sqlstate.js';

export const PARTITION_SCHEMA = 'kinesql_partitions';

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86_400;
const WIDTHS = [MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 6 * HOUR, DAY];
/** A window is split in at least this many partitions, so eviction keeps the table within ~4% of the window. */
const PARTITIONS_PER_WINDOW = 24;

/**
 * The partition width (seconds) for a table's window: hourly for the default 24 hours; a day without a
 * window; never under a minute, so that a session reading far behind a short window does not make thousands.
 */
export function partitionSeconds(windowSeconds: number | undefined): number {
  if (windowSeconds === undefined) return DAY;
  const fitting = WIDTHS.filter((width) => width * PARTITIONS_PER_WINDOW <= windowSeconds);
  return fitting.at(-1) ?? MINUTE;
}

/** The width (seconds) of existing partitions, when there are any. */
export function partitionSecondsOf(partitions: readonly TimePartition[]): number | undefined {
  const first = partitions[0];
  return first ? (first.to.getTime() - first.from.getTime()) / 1000 : undefined;
}

export interface TimePartition {
  table: TableName;
  from: Date;
  to: Date;
}

interface Queries {
  query: EngineTransaction['query'];
}

/**
 * The statements that make the schema partitions live in. Readers may name things in it (catalog queries of
 * BI tools pass schema-qualified names, and a schema without USAGE turns those into errors) but read no partition.
 */
export function partitionSchemaStatements(): string[] {
  return [`CREATE SCHEMA IF NOT EXISTS ${PARTITION_SCHEMA}`, `GRANT USAGE ON SCHEMA ${PARTITION_SCHEMA} TO ${READER_ROLE}`];
}

/** The partitions of a table, oldest first: those attached, or (detachPending) the one whose detach is pending. */
export async function listPartitions(engine: Queries, parent: TableName, detachPending = false): Promise<TimePartition[]> {
  const { rows } = await engine.query(
    `SELECT n.nspname AS schema, c.relname AS name, b[1]::timestamptz AS from_time, b[2]::timestamptz AS to_time
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') b
      WHERE i.inhparent = to_regclass($1) AND i.inhdetachpending = $2
      ORDER BY 3`,
    [qualifiedName(parent), detachPending],
  );
  return rows.map((row) => ({
    table: { schemaName: String(row['schema']), tableName: String(row['name']) },
    from: new Date(row['from_time'] as Date),
    to: new Date(row['to_time'] as Date),
  }));
}

/** Takes the lock under which partitions of one table are added or dropped, across kinesql servers. */
export async function lockPartitions(tx: EngineTransaction, parent: TableName): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`kinesql.partitions ${qualifiedName(parent)}`]);
}

/** A partition's name: the table's name and a tag of its schema-qualified name, then the partition's start. */
export function partitionName(parent: TableName, from: Date): string {
  const start = from.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '_');
  return `${partitionNamePrefix(parent)}${start}`;
}

/** What the names of one table's partitions start with (and of no other table's). */
export function partitionNamePrefix(parent: TableName): string {
  const tag = createHash('sha256').update(qualifiedName(parent)).digest('hex').slice(0, 6);
  return `${parent.tableName.slice(0, 30)}_${tag}_`;
}

/** The partitions one table has, as far as this server knows, and adding those a batch needs. */
export class TimePartitions {
  /** Starts (ms) of the partitions known to exist. */
  private readonly known = new Set<number>();
  /** The width of the table's partitions: from the engine once one exists (another server may have chosen it). */
  private widthMs: number | undefined;
  /** This server's transaction adding partitions, while one runs. */
  private adding: Promise<void> | undefined;

  constructor(
    private readonly parent: TableName,
    private readonly configuredSeconds: number,
  ) {}

  /** Makes sure a partition exists for each timestamp; in a transaction of its own unless tx is given. */
  async ensure(engine: Engine, timestamps: Iterable<Date>, tx?: EngineTransaction): Promise<void> {
    if (tx) {
      if (this.missing(timestamps).length > 0) await this.add(tx, timestamps);
      return;
    }
    // The first batches of every shard arrive together and need the same partitions: one adds them while the
    // others wait for it and look again, instead of each queueing a transaction behind the partitions' lock.
    while (this.adding) await this.adding.catch(() => undefined);
    if (this.missing(timestamps).length === 0) return;
    const adding = engine.transaction((own) => this.add(own, timestamps));
    this.adding = adding;
    try {
      await adding;
    } finally {
      if (this.adding === adding) this.adding = undefined;
    }
  }

  /** Forgets what it knew: the next batch looks at the engine again (another server may have dropped some). */
  forget(): void {
    this.known.clear();
    this.widthMs = undefined;
  }

  /** Partitions dropped by eviction. */
  dropped(partitions: readonly TimePartition[]): void {
    for (const partition of partitions) this.known.delete(partition.from.getTime());
  }

  private missing(timestamps: Iterable<Date>): number[] {
    const width = this.widthMs ?? this.configuredSeconds * 1000;
    const starts = new Set<number>();
    for (const timestamp of timestamps) {
      const start = Math.floor(timestamp.getTime() / width) * width;
      if (!this.known.has(start)) starts.add(start);
    }
    return [...starts];
  }

  private async add(tx: EngineTransaction, timestamps: Iterable<Date>): Promise<void> {
    await lockPartitions(tx, this.parent);
    const existing = await listPartitions(tx, this.parent);
    this.known.clear();
    for (const partition of existing) this.known.add(partition.from.getTime());
    this.widthMs = (partitionSecondsOf(existing) ?? this.configuredSeconds) * 1000;
    const missing = this.missing(timestamps);
    const [detaching] = await listPartitions(tx, this.parent, true);
    if (detaching && missing.some((start) => start >= detaching.from.getTime() && start < detaching.to.getTime())) {
      // Its range cannot hold a new partition until the detach is finished (partition-detach.ts), which waits for the transactions that held the table before it.
      throw Object.assign(
        new Error(
          `rows of ${qualifiedName(this.parent)} from ${detaching.from.toISOString()} to ${detaching.to.toISOString()} are being evicted, ` +
            "and another session's open transaction holds the table: try again once it ends",
        ),
        { code: SQLSTATE.lockNotAvailable, severity: 'ERROR' },
      );
    }
    for (const start of missing) {
      const from = new Date(start);
      const to = new Date(start + this.widthMs);
      const partition: TableName = { schemaName: PARTITION_SCHEMA, tableName: partitionName(this.parent, from) };
      const name = qualifiedName(partition);
      await tx.query(`CREATE TABLE ${name} (LIKE ${qualifiedName(this.parent)} INCLUDING DEFAULTS)`);
      await tx.query(
        `ALTER TABLE ${qualifiedName(this.parent)} ATTACH PARTITION ${name} FOR VALUES FROM (${quoteLiteral(from.toISOString())}) TO (${quoteLiteral(to.toISOString())})`,
      );
      this.known.add(start);
    }
  }
}

/** Renames a table's partitions to the names of the table it now is (after a rebuild under a staging name). */
export async function renamePartitions(tx: EngineTransaction, parent: TableName): Promise<void> {
  for (const partition of await listPartitions(tx, parent)) {
    const name = partitionName(parent, partition.from);
    if (name !== partition.table.tableName) await tx.query(`ALTER TABLE ${qualifiedName(partition.table)} RENAME TO ${quoteIdent(name)}`);
  }
}
