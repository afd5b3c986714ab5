/**
 * Each backend's circuit breaker: a backend that just failed is skipped for a cool-down.
 *
 * closed --failure--> open --cool-down--> half-open (one trial request) --success--> closed
 */

export type BreakerState = "closed" | "open" | "half_open";

export class BackendBreaker {
  state: BreakerState = "closed";
  lastError: string | null = null;
  private openedAt = 0;

  constructor(
    readonly cooldownMs: number,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** May a request go to this backend now? Once the cool-down is over, one trial may. */
  allow(): boolean {
    if (this.state === "open" && this.clock() - this.openedAt >= this.cooldownMs) {
      this.state = "half_open";
      return true;
    }
    return this.state === "closed";
  }

  recordSuccess(): void {
    this.state = "closed";
    this.lastError = null;
  }

  recordFailure(error: string): void {
    this.state = "open";
    this.openedAt = this.clock();
    this.lastError = error;
  }
}
