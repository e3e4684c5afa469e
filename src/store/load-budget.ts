/**
 * The memory that batches on their way into the engine may hold, across every shard of every table
 * (kinesql.load-buffer-bytes): a shard reader waits here before each GetRecords call until the batches being
 * fetched, decoded and copied leave room for the one it will fetch (a batch read some other way waits before
 * it is decoded). Waiters are let in first come, first served, so a
 * shard's batches go in in the order they were read; a batch larger than the whole budget goes in alone.
 */
export class LoadBudget {
  private held = 0;
  private readonly waiting: { bytes: number; admit: () => void }[] = [];

  constructor(readonly limitBytes: number) {}

  /** Bytes held now by admitted batches. */
  get heldBytes(): number {
    return this.held;
  }

  /** Resolves once `bytes` fit; release them with release(bytes). */
  acquire(bytes: number): Promise<void> {
    if (this.waiting.length === 0 && this.fits(bytes)) {
      this.held += bytes;
      return Promise.resolve();
    }
    return new Promise((admit) => this.waiting.push({ bytes, admit }));
  }

  release(bytes: number): void {
    this.held -= bytes;
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.held += next.bytes;
      next.admit();
    }
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limitBytes;
  }
}
