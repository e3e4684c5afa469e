/**
 * The changes of what a stream table holds, for those who wait for its rows (a `LIMIT n`: visible-rows.ts):
 * counted, so a waiter can tell whether one came while it looked, and told to each waiter at once.
 */
export class RowChanges {
  private changes = 0;
  private readonly waiters = new Set<() => void>();

  /** How many changes there have been. */
  get count(): number {
    return this.changes;
  }

  /** A batch committed, or a shard's rows were taken from the engine again. */
  changed(): void {
    this.changes += 1;
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }

  /** Calls `wake` at the next change; the function returned stops waiting. */
  onNext(wake: () => void): () => void {
    this.waiters.add(wake);
    return () => this.waiters.delete(wake);
  }
}
