import type { TableDefinition } from './definition.js';

/** One row of the future `kinesql.definitions` view: what each source holds and whether it is served. */
export interface DefinitionStatus {
  /** null when the source never parsed. */
  schemaName: string | null;
  tableName: string | null;
  source: string;
  /** The version served (ok, stale), or the version that failed when nothing was ever served. */
  version: string;
  /** When `version` was loaded or rejected. */
  loadedAt: Date;
  /**
   * ok: served as is; stale: the last good version is served while the newest is broken or unreadable, or
   * while the location cannot be listed; error: not served.
   */
  status: 'ok' | 'error' | 'stale';
  error: string | null;
}

export type TableChange =
  | { type: 'table-added'; table: TableDefinition }
  | { type: 'table-changed'; old: TableDefinition; table: TableDefinition }
  | { type: 'table-removed'; table: TableDefinition };

/** A location that cannot be listed: everything read from it is kept and shown with this error. */
export interface LocationProblem {
  location: string;
  error: string;
  at: Date;
}

export interface DefinitionUpdate {
  accepted?: TableDefinition[];
  rejected?: { source: string; version: string; error: string }[];
  removed?: string[];
}

interface SourceState {
  /** The last version of this source that parsed. */
  good?: { definition: TableDefinition; loadedAt: Date };
  /** Set while the newest version of this source does not parse. */
  failure?: { version: string; error: string; at: Date };
}

/**
 * The definitions of every source, and which tables are served from them. Pure bookkeeping: the caller
 * parses and passes results in; every update returns the table changes it caused.
 *
 * - A source whose newest version is broken keeps serving its last good version ('stale').
 * - Two sources defining the same schema.table are both errors and neither is served, whatever order they
 *   arrived in, until one of them is changed or removed.
 */
export class DefinitionSet {
  private readonly sources = new Map<string, SourceState>();

  update(update: DefinitionUpdate, at: Date = new Date()): TableChange[] {
    const before = this.served();
    for (const source of update.removed ?? []) this.sources.delete(source);
    for (const definition of update.accepted ?? []) {
      this.sources.set(definition.source, { good: { definition, loadedAt: at } });
    }
    for (const { source, version, error } of update.rejected ?? []) {
      const state = this.sources.get(source) ?? {};
      state.failure = { version, error, at };
      this.sources.set(source, state);
    }
    return diff(before, this.served());
  }

  accept(definition: TableDefinition, at?: Date): TableChange[] {
    return this.update({ accepted: [definition] }, at);
  }

  reject(source: string, version: string, error: string, at?: Date): TableChange[] {
    return this.update({ rejected: [{ source, version, error }] }, at);
  }

  remove(source: string): TableChange[] {
    return this.update({ removed: [source] });
  }

  /** The version last accepted or rejected for a source (to skip re-reading what has not changed). */
  versionOf(source: string): string | undefined {
    const state = this.sources.get(source);
    return state?.failure?.version ?? state?.good?.definition.version;
  }

  /** The tables served, ordered by schema and name. */
  tables(): TableDefinition[] {
    return [...this.served().values()].sort((a, b) => compare(key(a), key(b)));
  }

  /** One row per source; with a location problem, each row carries it (and the location gets a row when there is none). */
  status(locationProblem?: LocationProblem): DefinitionStatus[] {
    const conflicts = this.conflicts();
    const rows: DefinitionStatus[] = [];
    for (const [source, state] of [...this.sources].sort(([a], [b]) => compare(a, b))) {
      const good = state.good;
      const failure = state.failure;
      const others = good === undefined ? undefined : conflicts.get(key(good.definition))?.filter((s) => s !== source);
      const conflicted = others !== undefined && others.length > 0;
      const problems: string[] = [];
      if (locationProblem !== undefined) problems.push(locationProblem.error);
      if (conflicted && good !== undefined) {
        problems.push(`${key(good.definition)} is also defined by ${others.join(', ')}; a table must be defined once, so none of these is served`);
      }
      if (failure !== undefined) problems.push(failure.error);
      rows.push({
        schemaName: good?.definition.schemaName ?? null,
        tableName: good?.definition.tableName ?? null,
        source,
        version: good?.definition.version ?? failure?.version ?? '',
        loadedAt: good?.loadedAt ?? failure?.at ?? new Date(0),
        status: good === undefined || conflicted ? 'error' : failure === undefined && locationProblem === undefined ? 'ok' : 'stale',
        error: problems.length === 0 ? null : problems.join('; '),
      });
    }
    if (rows.length === 0 && locationProblem !== undefined) {
      // Nothing read from it yet: without this row the problem would not show at all.
      const { location, error, at } = locationProblem;
      rows.push({ schemaName: null, tableName: null, source: location, version: '', loadedAt: at, status: 'error', error });
    }
    return rows;
  }

  /** schema.table → every source whose last good version defines it. */
  private byTable(): Map<string, string[]> {
    const byTable = new Map<string, string[]>();
    for (const [source, state] of this.sources) {
      if (state.good === undefined) continue;
      const tableKey = key(state.good.definition);
      byTable.set(tableKey, [...(byTable.get(tableKey) ?? []), source]);
    }
    return byTable;
  }

  private conflicts(): Map<string, string[]> {
    return new Map([...this.byTable()].filter(([, sources]) => sources.length > 1).map(([k, s]) => [k, s.sort(compare)]));
  }

  private served(): Map<string, TableDefinition> {
    const served = new Map<string, TableDefinition>();
    for (const [tableKey, sources] of this.byTable()) {
      const only = sources.length === 1 ? this.sources.get(sources[0] as string)?.good : undefined;
      if (only !== undefined) served.set(tableKey, only.definition);
    }
    return served;
  }
}

function diff(before: Map<string, TableDefinition>, after: Map<string, TableDefinition>): TableChange[] {
  const changes: TableChange[] = [];
  for (const [tableKey, old] of before) {
    const table = after.get(tableKey);
    if (table === undefined) changes.push({ type: 'table-removed', table: old });
    else if (!sameTable(old, table)) changes.push({ type: 'table-changed', old, table });
  }
  for (const [tableKey, table] of after) {
    if (!before.has(tableKey)) changes.push({ type: 'table-added', table });
  }
  return changes;
}

/** Equal apart from where and when it was read: a touched or renamed file is not a change of the table. */
function sameTable(a: TableDefinition, b: TableDefinition): boolean {
  const { source: _sa, version: _va, ...restA } = a;
  const { source: _sb, version: _vb, ...restB } = b;
  return JSON.stringify(restA) === JSON.stringify(restB);
}

function key(definition: TableDefinition): string {
  return `${definition.schemaName}.${definition.tableName}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
