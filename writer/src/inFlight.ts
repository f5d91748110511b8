/** A count of operations in progress, and a promise of the moment it is back to zero. */
export class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  /** Operations in progress. */
  get size(): number {
    return this.count;
  }

  /** One more operation in progress. */
  enter(): void {
    this.count++;
  }

  /** One operation ended; the last one resolves every `drained()` promise. */
  leave(): void {
    this.count--;
    if (this.count === 0) for (const resolve of this.waiters.splice(0)) resolve();
  }

  /** Resolves once nothing is in progress (at once when nothing is). */
  drained(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
