/**
 * Stops calling a provider that keeps failing: after `threshold` consecutive faults
 * the circuit opens for `openMs`; then one trial call is let through (half-open), and
 * its result closes or re-opens the circuit.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private trial = false;
  private readonly threshold: number;
  private readonly openMs: number;
  private readonly now: () => number;

  constructor(options: { threshold?: number; openMs?: number; now?: () => number } = {}) {
    this.threshold = options.threshold ?? 5;
    this.openMs = options.openMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** May a call go out now? */
  allow(): boolean {
    if (this.failures < this.threshold) return true;
    if (this.now() < this.openUntil) return false;
    if (this.trial) return false; // one trial at a time while half-open
    this.trial = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.trial = false;
  }

  failure(): void {
    this.failures++;
    this.trial = false;
    if (this.failures >= this.threshold) this.openUntil = this.now() + this.openMs;
  }

  get state(): 'closed' | 'open' | 'half_open' {
    if (this.failures < this.threshold) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half_open';
  }
}
