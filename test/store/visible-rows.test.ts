import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import { RowChanges } from '../../src/store/row-changes.js';
import { untilRowsVisible } from '../../src/store/visible-rows.js';

/** Lets every promise reaction run (setImmediate is left real: only the timers below are faked). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A `SELECT … LIMIT n` waits for n rows of a table still loading. The table and the engine are stand-ins
 * here: what is under test is when the wait looks again, which must be at a change of the table's rows
 * (a batch's commit), never on a timer. Timers are faked and never advanced until the end.
 */
describe('the wait of a LIMIT n for its rows', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup() {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const table = { definition: { schemaName: 'public', tableName: 'events' }, rowsLoaded: 0, rowChanges: new RowChanges(), windowStart: () => undefined };
    /** The rows of the table the engine counts within the window. */
    const engineRows = { visible: 0 };
    const engine = { query: vi.fn(async () => ({ rows: [{ n: Math.min(engineRows.visible, 3) }] })) };
    let finishLoad!: () => void;
    const catchingUp = new Promise<void>((resolve) => {
      finishLoad = resolve;
    });
    const state = { answered: false };
    const waiting = untilRowsVisible(engine as unknown as Engine, table as never, 3, undefined, catchingUp).then(() => {
      state.answered = true;
    });
    /** A batch of the table commits: `loaded` rows in all, `visible` of them in the window. */
    const commit = async (loaded: number, visible: number) => {
      table.rowsLoaded = loaded;
      engineRows.visible = visible;
      table.rowChanges.changed();
      await settle();
    };
    return { engine, commit, finishLoad, state, waiting };
  }

  it('asks the engine again at each commit of the table, and answers at the commit that makes n rows visible', async () => {
    const { engine, commit, finishLoad, state, waiting } = setup();
    await settle();
    // Fewer rows loaded than asked for: the engine is not asked.
    expect(engine.query).not.toHaveBeenCalled();
    await commit(2, 2);
    expect(engine.query).not.toHaveBeenCalled();
    // Enough loaded, but not yet in the window as the engine counts it: asked once, then not again while nothing commits.
    await commit(5, 2);
    expect(engine.query).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(engine.query).toHaveBeenCalledTimes(1);
    expect(state.answered).toBe(false);
    await commit(8, 3);
    expect(engine.query).toHaveBeenCalledTimes(2);
    expect(state.answered).toBe(true);
    finishLoad();
    await waiting;
  });

  it('ends with the load when n rows never become visible, and then waits for no more commits', async () => {
    const { engine, commit, finishLoad, state, waiting } = setup();
    await commit(5, 1);
    expect(engine.query).toHaveBeenCalledTimes(1);
    finishLoad();
    await waiting;
    expect(state.answered).toBe(true);
    await commit(9, 3);
    expect(engine.query).toHaveBeenCalledTimes(1);
  });
});
