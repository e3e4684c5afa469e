/**
 * Handles a connection's input strictly in order without a promise per message: each step runs at once, and
 * only a step that must wait (a catch-up, an analysis in a worker, kinesql's own exchange) holds the ones after it
 * until it settles. Input that arrives meanwhile is taken by the run under way.
 */

/** One step: false when nothing is left to take, true when one was taken and handled at once, or the promise of its handling. */
export type Step = Promise<void> | boolean;

export class InOrder {
  private waiting = false;

  constructor(
    /** Takes the next piece of input and handles it. */
    private readonly next: () => Step,
    /** A step failed (threw or rejected); the run goes on once this settles. */
    private readonly failed: (error: unknown) => Promise<void>,
    /** Nothing more is to be taken (the connection closed). */
    private readonly stopped: () => boolean,
  ) {}

  /** New input arrived: taken now, or by the step under way once it settles. */
  run(): void {
    if (this.waiting) return;
    let pending: Promise<void> | undefined;
    try {
      pending = this.takeAll();
    } catch (error) {
      pending = this.failed(error);
    }
    if (!pending) return;
    this.waiting = true;
    void pending
      .catch((error: unknown) => this.failed(error))
      .then(() => {
        this.waiting = false;
        if (!this.stopped()) this.run();
      });
  }

  private takeAll(): Promise<void> | undefined {
    while (!this.stopped()) {
      const step = this.next();
      if (step === false) return undefined;
      if (step !== true) return step.then(() => this.takeAll());
    }
    return undefined;
  }
}
