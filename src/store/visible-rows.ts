/**
 * The wait of a `SELECT … FROM t LIMIT n` (sql/limit-rows.ts): its answer is any n rows of its snapshot, so it
 * may run once n rows of the table's window are loaded and visible, the rest of the load going on in the
 * background. It looks again at each change of the table's rows (a batch's commit), never on a timer.
 */
import type { Engine } from '../engine/engine.js';
import { qualifiedName } from '../pg/quoting.js';
import type { ScanWindow } from './scan-request.js';
import type { StreamTable } from './stream-table.js';

/** What the wait reads of a table. */
export type RowsOfTable = Pick<StreamTable, 'definition' | 'rowsLoaded' | 'rowChanges' | 'windowStart'>;

/**
 * Resolves when `catchingUp` does, or sooner, once `rows` rows of the table's window are loaded: the engine is
 * asked (as the row policy counts them, with the window as it will stand a minute on) only once the table's
 * own count says there could be enough, and again after each change of its rows until there are.
 */
export async function untilRowsVisible(
  engine: Engine,
  table: RowsOfTable,
  rows: number,
  window: ScanWindow | undefined,
  catchingUp: Promise<void>,
): Promise<void> {
  let finished = false;
  let wake: (() => void) | undefined;
  const settled = catchingUp.finally(() => {
    finished = true;
    wake?.();
  });
  const visible = async (): Promise<void> => {
    while (!finished) {
      const seen = table.rowChanges.count;
      if (table.rowsLoaded >= rows) {
        const start = window ? window.start : table.windowStart(Date.now() + 60_000);
        const where = start ? `WHERE _message_timestamp >= $1` : '';
        const { rows: counted } = await engine.query(
          `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${qualifiedName(table.definition)} ${where} LIMIT ${rows}) AS loaded`,
          start ? [start] : [],
        );
        if ((counted[0]?.n as number | undefined) === rows) return;
      }
      // A change while it looked: look again at once.
      if (table.rowChanges.count !== seen) continue;
      let stopWaiting: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (finished) resolve();
        else stopWaiting = table.rowChanges.onNext(resolve);
      });
      stopWaiting?.();
      wake = undefined;
    }
  };
  // The engine out of reach while asked: the statement waits for the whole load, as any other does.
  await Promise.race([settled, visible().catch(() => settled)]);
}
