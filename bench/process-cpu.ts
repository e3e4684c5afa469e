/**
 * CPU time of the processes a cold load runs on, read from /proc: the Kinesis stand-in, and the engine
 * (every live process under this one except the stand-in, plus what its exited children used, which the
 * kernel adds to the parent that reaped them). Linux only; elsewhere every reading is 0.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { MS_PER_TICK, statFieldsAfterName } from '../src/sql/thread-cpu.js';

interface ProcessTimes {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, in ms. */
  ms: number;
}

function readTimes(pid: number): ProcessTimes | undefined {
  try {
    const fields = statFieldsAfterName(readFileSync(`/proc/${pid}/stat`, 'latin1'));
    // Fields 14 to 17 of stat(5): utime, stime, cutime, cstime; field 4 the parent's pid.
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
    return { pid, ppid: Number(fields[1]), ms: ticks * MS_PER_TICK };
  } catch {
    return undefined;
  }
}

function allProcesses(): ProcessTimes[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  return names.filter((name) => /^\d+$/.test(name)).flatMap((name) => readTimes(Number(name)) ?? []);
}

/** ms of CPU used so far by the process `pid` and its reaped children. */
export function processCpuMs(pid: number): number {
  return readTimes(pid)?.ms ?? 0;
}

/** ms of CPU used so far by every process below `root` (not root itself), leaving out the trees of `except`. */
export function descendantsCpuMs(root: number, except: readonly number[]): number {
  const processes = allProcesses();
  const children = new Map<number, ProcessTimes[]>();
  for (const p of processes) {
    const siblings = children.get(p.ppid);
    if (siblings) siblings.push(p);
    else children.set(p.ppid, [p]);
  }
  let total = 0;
  const pending = [...(children.get(root) ?? [])];
  while (pending.length > 0) {
    const p = pending.pop()!;
    if (except.includes(p.pid)) continue;
    total += p.ms;
    pending.push(...(children.get(p.pid) ?? []));
  }
  return total;
}
