/**
 * The catch-up of a statement that accepts answers up to a bound old (kinesql.max_staleness; 0: read to the
 * tips after its start, when a follower keeps the tables read): nothing when the table is fresh enough
 * (staleness.ts); otherwise it first waits for a read already under way (the follower's, usually), which often
 * makes it so, then for the reads of the servers holding its shards' leases (owner-reads.ts), and reads itself
 * only when that was not enough.
 */
import type { OwnerReads } from './owner-reads.js';
import type { ScanRequest } from './scan-request.js';
import type { StreamTable } from './stream-table.js';

/**
 * `ownerReads`: servers on one engine dividing the shards, the owners' reads of the shards this server does not
 * follow. `onUnreadable`: called for a table answered from what is loaded (within the bound) while its stream
 * cannot be read.
 */
export async function catchUpUnlessFresh(
  table: StreamTable,
  scan: ScanRequest,
  maxStalenessMs: number,
  ownerReads: OwnerReads | undefined,
  onUnreadable?: (table: StreamTable, since: Date) => void,
): Promise<void> {
  if (table.freshFor(scan, maxStalenessMs)) {
    // Kinesis may be out of reach: the answer is still within the bound, and the client is told.
    if (table.failingSince && onUnreadable) onUnreadable(table, table.failingSince);
    return;
  }
  await table.whenIdle();
  if (table.freshFor(scan, maxStalenessMs)) return;
  if (ownerReads && !scan.background) {
    await ownerReads.wait(table, scan, maxStalenessMs);
    if (table.freshFor(scan, maxStalenessMs)) return;
  }
  // An answer as of the tips at (start − bound) is within the bound: with enhanced fan-out the read need
  // not wait for an event made after the statement started, the next one at the tip will do.
  await table.catchUp(maxStalenessMs > 0 ? { ...scan, tipSince: new Date(scan.stopAt.getTime() - maxStalenessMs) } : scan);
}
