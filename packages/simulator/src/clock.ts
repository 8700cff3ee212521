/** Same shape as Rampart's own clock, so Rampart can hand the simulator its clock. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * The provider's notion of "now": the injected clock plus an offset that only admin
 * time travel moves. Settlements, returns, confirmations and expiries all run on it,
 * so "60 days later" is one admin call away.
 */
export class SimulatedClock implements Clock {
  readonly #base: Clock;
  #offsetMs = 0;

  constructor(base: Clock) {
    this.#base = base;
  }

  now(): Date {
    return new Date(this.nowMs());
  }

  nowMs(): number {
    return this.#base.now().getTime() + this.#offsetMs;
  }

  /** Wall time without the offset: webhook signature timestamps use it (see README). */
  wallMs(): number {
    return this.#base.now().getTime();
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot advance the clock by ${ms} ms`);
    this.#offsetMs += ms;
  }

  reset(): void {
    this.#offsetMs = 0;
  }
}

export function isoAt(ms: number): string {
  return new Date(ms).toISOString();
}

export function unixAt(ms: number): number {
  return Math.floor(ms / 1000);
}
