import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Notifications } from '../src/storage/notifications.ts';
import { ReadCache } from '../src/storage/read-cache.ts';

/** What ReadCache needs of the LISTEN connection: whether it is live, and gap callbacks. */
function listener() {
  const gaps: (() => void)[] = [];
  const state = {
    live: true,
    onGap: (handler: () => void) => gaps.push(handler),
    gap: () => {
      for (const g of gaps) g();
    },
  };
  return state;
}

function cacheWith(state: ReturnType<typeof listener>, now = () => 0) {
  return new ReadCache<string>({ notifications: state as unknown as Notifications, ttlMs: 1_000, now });
}

describe('ReadCache', () => {
  test('serves a loaded value until it is invalidated', async () => {
    const cache = cacheWith(listener());
    let loads = 0;
    const load = async () => `v${++loads}`;
    assert.equal(await cache.get('k', load), 'v1');
    assert.equal(await cache.get('k', load), 'v1');
    cache.invalidate('k');
    assert.equal(await cache.get('k', load), 'v2');
  });

  test('a load that raced an invalidation is answered but not kept', async () => {
    const cache = cacheWith(listener());
    let release!: () => void;
    const slow = cache.get('k', () => new Promise<string>((resolve) => (release = () => resolve('old'))));
    cache.invalidate('k'); // the row changed while it was being read
    release();
    assert.equal(await slow, 'old');
    assert.equal(await cache.get('k', async () => 'new'), 'new');
  });

  test('nothing is cached while notices cannot be heard, and a gap forgets everything', async () => {
    const state = listener();
    const cache = cacheWith(state);
    assert.equal(await cache.get('k', async () => 'a'), 'a');
    state.live = false;
    assert.equal(await cache.get('k', async () => 'b'), 'b');
    assert.equal(await cache.get('k', async () => 'c'), 'c');
    state.gap();
    state.live = true;
    assert.equal(await cache.get('k', async () => 'd'), 'd');
    assert.equal(await cache.get('k', async () => 'e'), 'd');
  });

  test('entries expire after the TTL even without a notice', async () => {
    let now = 0;
    const cache = cacheWith(listener(), () => now);
    assert.equal(await cache.get('k', async () => 'a'), 'a');
    now = 999;
    assert.equal(await cache.get('k', async () => 'b'), 'a');
    now = 1_000;
    assert.equal(await cache.get('k', async () => 'c'), 'c');
  });

  test('invalidateWhere drops matching entries and any load in flight', async () => {
    const cache = cacheWith(listener());
    await cache.get('op1/a', async () => 'a');
    await cache.get('op2/b', async () => 'b');
    let release!: () => void;
    const slow = cache.get('op1/c', () => new Promise<string>((resolve) => (release = () => resolve('c-old'))));
    cache.invalidateWhere((key) => key.startsWith('op1/'));
    release();
    await slow;
    assert.equal(await cache.get('op1/a', async () => 'a2'), 'a2');
    assert.equal(await cache.get('op1/c', async () => 'c2'), 'c2');
    assert.equal(await cache.get('op2/b', async () => 'b2'), 'b');
  });
});
