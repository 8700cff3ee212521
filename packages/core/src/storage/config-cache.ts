import type { Notifications } from './notifications.ts';
import { ReadCache } from './read-cache.ts';

/** Sent on commit by the triggers of migration 0010, with the operator id as payload. */
export const CONFIG_CHANNEL = 'rampart_config';

/** Staleness bound should a notice be lost with its sender; notices do the real work. */
const CONFIG_TTL_MS = 30_000;

/**
 * The process's caches of per-operator configuration: API keys, settings, current
 * terms. An operator's entries are dropped when any node changes that operator's
 * configuration (database triggers send the notice) and at once when this node does
 * (`changed`, called by the writer after its commit).
 */
export class ConfigCache {
  private readonly notifications: Notifications | undefined;
  private readonly caches: { cache: ReadCache<unknown>; operatorOf: (key: string, value: unknown) => string }[] = [];
  private readonly now: (() => number) | undefined;

  /** `now`: the clock entries expire by (the app's, so tests can stop time). */
  constructor(notifications?: Notifications, now?: () => number) {
    this.notifications = notifications;
    this.now = now;
    void notifications?.on(CONFIG_CHANNEL, (operatorId) => this.changed(operatorId));
  }

  /** A cache whose entries belong to the operator `operatorOf` names. */
  cache<V>(operatorOf: (key: string, value: V) => string): ReadCache<V> {
    const cache = new ReadCache<V>({
      ttlMs: CONFIG_TTL_MS,
      ...(this.notifications ? { notifications: this.notifications } : {}),
      ...(this.now ? { now: this.now } : {}),
    });
    this.caches.push({
      cache: cache as ReadCache<unknown>,
      operatorOf: operatorOf as (k: string, v: unknown) => string,
    });
    return cache;
  }

  changed(operatorId: string): void {
    for (const { cache, operatorOf } of this.caches) {
      cache.invalidateWhere((key, value) => operatorOf(key, value) === operatorId);
    }
  }
}
