/**
 * The CPU time of one thread of this process, as Linux counts it in /proc: how a statement's time budget counts
 * what its analysis cost, not how long it waited for a core (a parse worker runs at the lowest priority, so on a
 * busy machine its wall-clock time says more about the machine than about the statement). Undefined where /proc
 * has no such file (not Linux): the budget then counts wall-clock time.
 */
import { readFileSync, readlinkSync } from 'node:fs';

/** /proc reports CPU time in ticks of USER_HZ, which Linux fixes at 100 a second for every architecture it runs on. */
export const MS_PER_TICK = 10;

/**
 * The fields of a /proc stat file after the command name, so that field n of stat(5) (counted from 1) is
 * element n − 3. The name, in parentheses, may hold spaces: the fields are counted after its closing one.
 */
export function statFieldsAfterName(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The calling thread's id (its TID), or undefined without /proc. */
export function currentThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    return Number.isInteger(tid) ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** The CPU time (user and system, ms, in steps of 10) thread `tid` of this process has used, or undefined. */
export function threadCpuMs(tid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  const fields = statFieldsAfterName(stat);
  // Fields 14 and 15 of stat(5), utime and stime.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks * MS_PER_TICK : undefined;
}
