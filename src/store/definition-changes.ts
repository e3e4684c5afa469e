import type { Logger } from 'pino';
import type { TableChange } from '../catalog/definition-set.js';
import type { StreamStore } from './stream-store.js';
import { SQLSTATE } from '../pg/sqlstate.js';

/** PostgreSQL's lock_not_available: a DDL statement gave up waiting for a table a session's transaction holds. */
const LOCK_NOT_AVAILABLE = SQLSTATE.lockNotAvailable;
const FIRST_RETRY_MS = 1_000;
const LONGEST_RETRY_MS = 30_000;

/**
 * Applies definition changes to the store one batch at a time, in the order the source saw them. Changing
 * or dropping an engine table waits only briefly for the table's locks: a client's transaction that has read
 * the table (psycopg keeps one open between statements) would otherwise hold the change, and every reader
 * queued behind it, until that transaction ends. The old version keeps serving and the change is tried again
 * later, unless a newer change of the same table has come meanwhile.
 */
export class DefinitionChanges {
  private applying: Promise<void> = Promise.resolve();
  /** How many changes of each table were seen: a retry of an older one is dropped. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly store: StreamStore,
    private readonly afterBatch: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  enqueue(changes: TableChange[]): void {
    const stamped = changes.map((change) => ({ change, stamp: this.stamp(change) }));
    this.run(async () => {
      for (const { change, stamp } of stamped) await this.apply(change, stamp, 0);
    });
  }

  /** Resolves once every change enqueued so far has been applied (or given up on, or rescheduled). */
  whenIdle(): Promise<void> {
    return this.applying;
  }

  private run(work: () => Promise<void>): void {
    this.applying = this.applying
      .then(async () => {
        await work();
        await this.afterBatch();
      })
      // One failed change must not stop later ones or the process.
      .catch((error: unknown) => this.logger.error({ err: error }, 'could not apply table definition changes'));
  }

  private stamp(change: TableChange): number {
    let stamp = 0;
    for (const key of keysOf(change)) {
      const next = (this.seen.get(key) ?? 0) + 1;
      this.seen.set(key, next);
      stamp = Math.max(stamp, next);
    }
    return stamp;
  }

  private isLatest(change: TableChange, stamp: number): boolean {
    return keysOf(change).every((key) => (this.seen.get(key) ?? 0) <= stamp);
  }

  private async apply(change: TableChange, stamp: number, attempt: number): Promise<void> {
    const table = change.table;
    const name = `${table.schemaName}.${table.tableName}`;
    try {
      if (change.type === 'table-removed') await this.store.remove(table);
      else if (change.type === 'table-changed') await this.store.replace(change.old, table);
      else await this.store.add(table);
    } catch (error) {
      if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE) {
        this.logger.error({ err: error, table: name, source: table.source }, `could not apply ${change.type}`);
        return;
      }
      const delay = Math.min(FIRST_RETRY_MS * 2 ** attempt, LONGEST_RETRY_MS);
      this.logger.warn(
        { table: name, source: table.source, retryInMs: delay },
        `${change.type} waits for a session's open transaction on the table; the current version keeps serving`,
      );
      setTimeout(() => {
        if (this.isLatest(change, stamp)) this.run(() => this.apply(change, stamp, attempt + 1));
      }, delay).unref();
    }
  }
}

function keysOf(change: TableChange): string[] {
  const keys = [`${change.table.schemaName}.${change.table.tableName}`];
  if (change.type === 'table-changed') keys.push(`${change.old.schemaName}.${change.old.tableName}`);
  return keys;
}
