/**
 * CPU time a PostgreSQL server has used, from /proc (Linux): its postmaster's own and reaped children's, plus
 * each live child's (backends, parallel workers, background workers). On a machine shared with other work a
 * statement's wall time says how much of the cores it got; its CPU time says what it cost.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Clock ticks per second of /proc's times: 100 on Linux (sysconf(_SC_CLK_TCK)). */
const TICKS_PER_SECOND = 100;

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces), from field 3 (state) on. */
function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds used so far by the server whose data directory is dataDir, or undefined where /proc cannot tell. */
export function serverCpuSeconds(dataDir: string): number | undefined {
  let postmaster: number;
  try {
    postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  const own = statFields(postmaster);
  if (!own) return undefined;
  // Fields 14–17 (utime, stime, cutime, cstime) are at 11–14 here; the parent pid (field 4) at 1.
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields && Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_SECOND;
}
