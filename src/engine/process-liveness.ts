/**
 * Whether a process still runs. A process whose parent died is handed to pid 1, and until pid 1 reaps it
 * (some container inits take seconds, some never do) it stays a zombie that `kill -0` still finds: one has
 * exited, holds no file, no socket and no lock, and counts as gone here.
 */
import { readFileSync } from 'node:fs';
import { errorCode } from './file-probes.js';

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (errorCode(error) !== 'EPERM') return false;
  }
  return stateOf(pid) !== 'Z';
}

/** The state letter /proc gives a process (R, S, D, Z, …), or undefined where /proc does not say. */
function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; the state follows its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}
