/**
 * The settings a stream statement's catch-up plans with (search_path, statement_timeout, the session
 * properties, the login role), kept by kinesql from what passes through the session instead of asked of its
 * backend before every statement. The session's first stream statement reads them with SHOW; read before
 * anything changed them, they are the session's start values (the startup packet's included), which RESET goes
 * back to. From then on each turn's SET, SET LOCAL, RESET, RESET ALL, DISCARD ALL
 * and set_config() are replayed once its ReadyForQuery says how it went, with PostgreSQL's transaction rules:
 * a ROLLBACK (or ROLLBACK TO a savepoint) undoes what was set after the transaction (savepoint) began, SET LOCAL
 * lasts until the transaction ends, a statement string that fails outside a block leaves nothing set. The
 * ParameterStatus the backend sends for the settings it reports correct the replay. Where the replay cannot know
 * (a set_config that may run any number of times, a failed turn that also began or ended a transaction, a
 * transaction status other than the replay expected), the values are unknown until the session reads them
 * back with SHOW once.
 */
import { TransactionStatus } from '../pg/protocol-constants.js';
import type { SettingChange } from '../sql/setting-changes.js';

type Values = ReadonlyMap<string, string> | undefined;

interface Savepoint {
  readonly name: string;
  readonly session: Values;
  readonly current: Values;
}

interface State {
  /** What statements see now (SET LOCAL included); undefined when unknown. */
  current: Values;
  /** What stays once the transaction commits. */
  session: Values;
  /** What a ROLLBACK of the transaction block goes back to. */
  atBegin: Values;
  /** What a failing or rolled-back implicit transaction (one statement string, one batch up to Sync) goes back to. */
  atTurnStart: Values;
  inBlock: boolean;
  /** The block failed: COMMIT rolls back. */
  failed: boolean;
  savepoints: Savepoint[];
}

/** What a turn's ReadyForQuery told. */
export interface TurnOutcome {
  failed: boolean;
  status: number;
  /** ParameterStatus messages that came with it, by name. */
  reported: ReadonlyMap<string, string>;
}

const TRANSACTION_KINDS = new Set<SettingChange['kind']>(['begin', 'commit', 'rollback', 'savepoint', 'release', 'rollback-to']);

export class TrackedSettings {
  private state: State;
  /** Changes of messages forwarded without a Sync yet: they count with the next ReadyForQuery. */
  private unsynced: SettingChange[] = [];
  /** The values the session started with, which RESET goes back to; undefined until read. */
  private resetValues: Values;
  /** Whether nothing has changed a kept setting yet: values read now are the start values. */
  private untouched = true;

  constructor(
    /** The settings kept (lower-case names). */
    private readonly tracked: ReadonlySet<string>,
    /** The start values, when known at once. */
    startValues?: ReadonlyMap<string, string>,
  ) {
    this.resetValues = startValues;
    this.state = { current: startValues, session: startValues, atBegin: startValues, atTurnStart: startValues, inBlock: false, failed: false, savepoints: [] };
  }

  /** The values statements see now, with `changes` (about to be sent) applied; undefined when they are not known. */
  preview(changes: readonly SettingChange[]): Values {
    const pending = [...this.unsynced, ...changes];
    if (pending.length === 0) return this.state.current;
    const state = { ...this.state, savepoints: [...this.state.savepoints] };
    for (const change of pending) this.apply(state, change);
    return state.current;
  }

  /** Whether the values must be read from the backend before a statement may plan with them. */
  get unknown(): boolean {
    return this.preview([]) === undefined;
  }

  /**
   * A turn's messages went to the backend. With `awaitsReady` they end in a Sync (or are a simple Query): the
   * returned function takes their ReadyForQuery; without, their changes wait for the next turn that has one.
   */
  sent(changes: readonly SettingChange[], awaitsReady: boolean): ((outcome: TurnOutcome) => void) | undefined {
    this.unsynced.push(...changes);
    if (!awaitsReady) return undefined;
    const turn = this.unsynced;
    this.unsynced = [];
    return (outcome) => this.answered(turn, outcome);
  }

  /** The values as SHOW read them just now, at transaction status `status`. */
  learned(values: ReadonlyMap<string, string>, status: number): void {
    const state = this.state;
    state.current = values;
    if (this.untouched && this.resetValues === undefined) this.resetValues = values;
    if (status === TransactionStatus.Idle) {
      state.session = values;
      state.atBegin = values;
      state.atTurnStart = values;
      state.savepoints = [];
    }
  }

  private answered(changes: readonly SettingChange[], outcome: TurnOutcome): void {
    if (changes.some((change) => !TRANSACTION_KINDS.has(change.kind))) this.untouched = false;
    const state = this.state;
    if (outcome.failed) {
      // What ran before the error is undone with the implicit transaction, or with the failed block later; a
      // failed string that also began, ended or marked a transaction leaves a state the replay cannot know.
      if (changes.some((change) => TRANSACTION_KINDS.has(change.kind))) this.forget(outcome.status);
    } else {
      for (const change of changes) this.apply(state, change);
    }
    const inBlock = outcome.status !== TransactionStatus.Idle;
    if (inBlock !== state.inBlock) this.forget(outcome.status);
    const after = this.state;
    if (!inBlock) this.endTransaction(after, after.session);
    after.failed = outcome.status === TransactionStatus.Failed;
    after.atTurnStart = after.inBlock ? after.atTurnStart : after.session;
    this.correct(after, outcome.reported);
  }

  /** The backend's own report of a setting is the truth; the value kept after commit is then known only outside a block. */
  private correct(state: State, reported: ReadonlyMap<string, string>): void {
    for (const [rawName, value] of reported) {
      const name = rawName.toLowerCase();
      if (!this.tracked.has(name) || state.current === undefined || state.current.get(name) === value) continue;
      state.current = withValue(state.current, name, value);
      state.session = state.inBlock ? undefined : state.current;
    }
  }

  private forget(status: number): void {
    this.state = {
      current: undefined,
      session: undefined,
      atBegin: undefined,
      atTurnStart: undefined,
      inBlock: status !== TransactionStatus.Idle,
      failed: status === TransactionStatus.Failed,
      savepoints: [],
    };
  }

  private endTransaction(state: State, to: Values): void {
    state.current = to;
    state.session = to;
    state.atBegin = to;
    state.atTurnStart = to;
    state.inBlock = false;
    state.failed = false;
    state.savepoints = [];
  }

  private apply(state: State, change: SettingChange): void {
    switch (change.kind) {
      case 'set':
        this.set(state, change.name, change.value, change.local);
        return;
      case 'reset':
        this.set(state, change.name, this.resetValues?.get(change.name), change.local);
        return;
      case 'reset-all':
        for (const name of this.tracked) this.set(state, name, this.resetValues?.get(name), false);
        return;
      case 'unknown':
        if (change.name === '*' || this.tracked.has(change.name)) {
          state.current = undefined;
          state.session = undefined;
        }
        return;
      case 'begin':
        if (!state.inBlock) {
          // Statements of the same string before BEGIN belong to the transaction it begins.
          state.atBegin = state.atTurnStart;
          state.inBlock = true;
        }
        return;
      case 'commit':
        if (state.failed) this.rollback(state);
        else this.endTransaction(state, state.session);
        if (change.chain) this.chain(state);
        return;
      case 'rollback':
        this.rollback(state);
        if (change.chain) this.chain(state);
        return;
      case 'savepoint':
        state.savepoints.push({ name: change.name, session: state.session, current: state.current });
        return;
      case 'release': {
        const at = lastNamed(state.savepoints, change.name);
        if (at < 0) this.lose(state);
        else state.savepoints.splice(at);
        return;
      }
      case 'rollback-to': {
        const at = lastNamed(state.savepoints, change.name);
        if (at < 0) {
          this.lose(state);
          return;
        }
        const savepoint = state.savepoints[at]!;
        state.savepoints.splice(at + 1);
        state.session = savepoint.session;
        state.current = savepoint.current;
        state.failed = false;
        return;
      }
    }
  }

  private set(state: State, name: string, value: string | undefined, local: boolean): void {
    if (!this.tracked.has(name)) return;
    state.current = value === undefined || state.current === undefined ? undefined : withValue(state.current, name, value);
    if (!local) state.session = value === undefined || state.session === undefined ? undefined : withValue(state.session, name, value);
  }

  private rollback(state: State): void {
    this.endTransaction(state, state.inBlock ? state.atBegin : state.atTurnStart);
  }

  private chain(state: State): void {
    state.inBlock = true;
    state.atBegin = state.session;
  }

  /** A savepoint the replay does not know of: nothing is known until the values are read again. */
  private lose(state: State): void {
    state.current = undefined;
    state.session = undefined;
    state.atBegin = undefined;
    state.savepoints = [];
  }
}

function lastNamed(savepoints: readonly Savepoint[], name: string): number {
  for (let at = savepoints.length - 1; at >= 0; at -= 1) if (savepoints[at]!.name === name) return at;
  return -1;
}

function withValue(values: ReadonlyMap<string, string>, name: string, value: string): ReadonlyMap<string, string> {
  return new Map(values).set(name, value);
}
