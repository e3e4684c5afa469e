/**
 * The memory that batches on their way into the engine may hold, across every shard of every table
 * (kinesql.load-buffer-bytes): a shard reader waits here before each GetRecords call until the batches being
 * fetched, decoded and copied leave room for the one it will fetch (a batch read some other way waits before
 * it is decoded). Waiters are let in first come, first served, so a
 * shard's batches go in in the order they were read; a batch larger than the whole budget goes in alone.
 */
export class LoadBudget {
  private held = 0;
  private peakHeld = 0;
  private decoded = 0;
  private peakDecoded = 0;
  private readonly waiting: { bytes: number; admit: () => void }[] = [];

  constructor(readonly limitBytes: number) {}

  /** Bytes held now by admitted batches. */
  get heldBytes(): number {
    return this.held;
  }

  /** The most bytes held at once since the budget was made. */
  get peakHeldBytes(): number {
    return this.peakHeld;
  }

  /** Records held decoded now (as COPY text, not committed yet), and the most held at once. */
  get decodedRecords(): number {
    return this.decoded;
  }

  get peakDecodedRecords(): number {
    return this.peakDecoded;
  }

  /** Resolves once `bytes` fit; release them with release(bytes). */
  acquire(bytes: number): Promise<void> {
    if (this.waiting.length === 0 && this.fits(bytes)) {
      this.take(bytes);
      return Promise.resolve();
    }
    return new Promise((admit) => this.waiting.push({ bytes, admit }));
  }

  release(bytes: number): void {
    this.held -= bytes;
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.take(next.bytes);
      next.admit();
    }
  }

  /**
   * An admitted batch turned out to hold more than it was let in with: those bytes are in memory already, so
   * they count at once (over the limit if need be) and what waits next waits for them too.
   */
  grow(bytes: number): void {
    this.take(bytes);
  }

  /** `records` of an admitted batch are being decoded; dropDecoded once they are committed or given up. */
  holdDecoded(records: number): void {
    this.decoded += records;
    this.peakDecoded = Math.max(this.peakDecoded, this.decoded);
  }

  dropDecoded(records: number): void {
    this.decoded -= records;
  }

  private take(bytes: number): void {
    this.held += bytes;
    this.peakHeld = Math.max(this.peakHeld, this.held);
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limitBytes;
  }
}
