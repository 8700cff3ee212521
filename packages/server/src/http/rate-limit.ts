import { RampartError } from '@rampart/errors';

/**
 * Token bucket per key (an API key, a source address), in this process. Each node limits on its own, so a
 * fleet of N nodes admits up to N times the limit: acceptable for abuse protection,
 * which is what this is for; quotas that must be exact belong in the database.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updated: number }>();
  private readonly refillPerMs: number;
  private readonly perMinute: number;
  private readonly now: () => number;
  /** Bounded memory: the oldest buckets are dropped first. */
  private readonly maxKeys: number;

  constructor(perMinute: number, now: () => number = Date.now, maxKeys = 100_000) {
    this.perMinute = perMinute;
    this.now = now;
    this.maxKeys = maxKeys;
    this.refillPerMs = perMinute / 60_000;
  }

  /** Takes one token or throws `rate_limited` with the seconds until one is free. */
  take(key: string): void {
    if (this.perMinute === 0) return;
    const bucket = this.bucket(key);
    this.refuseIfEmpty(bucket);
    bucket.tokens -= 1;
  }

  /** Throws `rate_limited` while `key` has no token left, taking none. */
  check(key: string): void {
    if (this.perMinute === 0) return;
    this.refuseIfEmpty(this.bucket(key));
  }

  /** Takes a token if one is left, never throwing: for what is counted after the fact (a failure). */
  spend(key: string): void {
    if (this.perMinute === 0) return;
    const bucket = this.bucket(key);
    bucket.tokens = Math.max(0, bucket.tokens - 1);
  }

  /** The key's bucket, refilled for the time since it was last used. */
  private bucket(key: string): { tokens: number; updated: number } {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = { tokens: this.perMinute, updated: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.updated) * this.refillPerMs);
    bucket.updated = now;
    return bucket;
  }

  private refuseIfEmpty(bucket: { tokens: number }): void {
    if (bucket.tokens >= 1) return;
    const retryAfter = Math.ceil((1 - bucket.tokens) / this.refillPerMs / 1000);
    throw new RampartError('rate_limited', { retry_after: retryAfter, limit: this.perMinute, window: '1m' });
  }
}
