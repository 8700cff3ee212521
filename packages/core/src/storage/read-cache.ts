import type { Notifications } from './notifications.ts';

interface Entry<V> {
  value: V;
  expiresAt: number;
}

/**
 * A per-process cache of rows that change rarely compared with how often they are read
 * (API keys, operator settings, a payment being polled), kept honest by NOTIFY:
 *
 * - a write on this node calls `invalidate` right after its commit (read-your-writes);
 * - other nodes hear the notice and invalidate within milliseconds;
 * - a load that was in flight while its key was invalidated is not kept, so a read
 *   that raced a commit cannot leave the old row behind;
 * - while the LISTEN connection is down nothing is cached, and everything is forgotten
 *   when it drops and when it comes back (notices may have been missed in between);
 * - every entry also expires after `ttlMs`, a bound on staleness should a committing
 *   node die between its commit and its notice.
 */
export class ReadCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  /** Sequence number of the last invalidation of each key since `epoch` began. */
  private readonly invalidated = new Map<string, number>();
  private sequence = 0;
  private epoch = 0;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly notifications: Notifications | undefined;
  private readonly now: () => number;

  constructor(options: { notifications?: Notifications; ttlMs: number; maxEntries?: number; now?: () => number }) {
    this.notifications = options.notifications;
    this.ttlMs = options.ttlMs;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
    options.notifications?.onGap(() => this.clear());
  }

  /** The cached value of `key`, or `load()`'s, kept when nothing invalidated `key` meanwhile. */
  async get(key: string, load: () => Promise<V>): Promise<V> {
    if (!this.notifications?.live) return load();
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > this.now()) return entry.value;
    const startEpoch = this.epoch;
    const startSequence = this.sequence;
    const value = await load();
    if (
      this.notifications.live &&
      this.epoch === startEpoch &&
      (this.invalidated.get(key) ?? Number.NEGATIVE_INFINITY) <= startSequence
    ) {
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs });
    }
    return value;
  }

  invalidate(key: string): void {
    this.entries.delete(key);
    if (this.invalidated.size >= this.maxEntries) this.clear();
    else this.invalidated.set(key, ++this.sequence);
  }

  /** Drops every entry `matches` accepts (e.g. all keys of one operator). */
  invalidateWhere(matches: (key: string, value: V) => boolean): void {
    for (const [key, entry] of this.entries) if (matches(key, entry.value)) this.entries.delete(key);
    // Loads in flight may belong to the dropped set: keep none of them.
    this.epoch++;
  }

  clear(): void {
    this.entries.clear();
    this.invalidated.clear();
    this.epoch++;
  }
}

/** Freezes a cached value all the way down: it is shared by every caller, so none may change it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
