/**
 * Two API nodes on one database, each with its own per-process caches (API keys,
 * operator settings, polled payments). The clock is stopped, so no cache entry ever
 * expires here: whatever a node sees of another node's change it learnt from the
 * PostgreSQL notice, or from a cache that refused to keep a stale row.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LISTENER_NAME } from '@rampart/core';
import { errorOf, startTestApp, type TestApp } from './harness.ts';
import { CARD_3DS, createPayment, openForPayments } from './payment-fixtures.ts';
import { manualClock } from './widget-fixtures.ts';

/** Retries `check` until it passes: notices cross nodes asynchronously (milliseconds, more on a loaded machine). */
async function eventually(check: () => Promise<void>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe('per-node caches across two nodes', async () => {
  const clock = manualClock();
  const a = await startTestApp({ sandbox: true, clock });
  const b = await startTestApp({ database: a.db, clock });
  await openForPayments(a);

  const get = (node: TestApp, url: string, auth = a.auth) => node.app.inject({ method: 'GET', url, headers: auth });

  test('a payment polled on node B shows the change node A made', async () => {
    const created = await createPayment(a, {
      amount: '12.00',
      instrument: CARD_3DS,
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as string;
    // B reads it twice: the second answer comes from B's cache.
    for (let i = 0; i < 2; i++) assert.equal((await get(b, `/v1/payments/${id}`)).json().status, 'pending');

    const cancelled = await a.app.inject({ method: 'POST', url: `/v1/payments/${id}/cancel`, headers: a.auth });
    assert.equal(cancelled.statusCode, 200, cancelled.body);
    // A answers from its own write at once; B once the notice arrives, with the new timeline.
    assert.equal((await get(a, `/v1/payments/${id}`)).json().status, 'cancelled');
    await eventually(async () => {
      const seen = (await get(b, `/v1/payments/${id}`)).json();
      assert.equal(seen.status, 'cancelled');
      assert.equal(seen.timeline.at(-1).to, 'cancelled');
    });
  });

  test('a key revoked through node A is refused by node B, which had it cached', async () => {
    const issued = await a.app.inject({ method: 'POST', url: '/v1/keys', headers: a.auth, payload: {} });
    assert.equal(issued.statusCode, 201, issued.body);
    const { key, secret } = issued.json() as { key: { id: string }; secret: string };
    const auth = { authorization: `Bearer ${secret}` };
    for (let i = 0; i < 2; i++) assert.equal((await get(b, '/v1/operator', auth)).statusCode, 200);

    const revoked = await a.app.inject({ method: 'POST', url: `/v1/keys/${key.id}/revoke`, headers: a.auth });
    assert.equal(revoked.statusCode, 200, revoked.body);
    assert.equal(errorOf(await get(a, '/v1/operator', auth)).code, 'token_revoked');
    await eventually(async () => assert.equal(errorOf(await get(b, '/v1/operator', auth)).code, 'token_revoked'));
  });

  test('a key revoked by hand in the database (no Rampart involved) is refused by both nodes', async () => {
    const issued = await a.app.inject({ method: 'POST', url: '/v1/keys', headers: a.auth, payload: {} });
    const { key, secret } = issued.json() as { key: { id: string }; secret: string };
    const auth = { authorization: `Bearer ${secret}` };
    assert.equal((await get(a, '/v1/operator', auth)).statusCode, 200);
    assert.equal((await get(b, '/v1/operator', auth)).statusCode, 200);

    await a.db.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [key.id]);
    await eventually(async () => {
      assert.equal(errorOf(await get(a, '/v1/operator', auth)).code, 'token_revoked');
      assert.equal(errorOf(await get(b, '/v1/operator', auth)).code, 'token_revoked');
    });
  });

  test('settings changed on node A govern the next payment on node B', async () => {
    // B creates payments too: give it A's providers by sharing only settings is not enough,
    // so the limit check (which runs before any provider) is what B is asked about.
    const payload = { user_id: 'limits', kind: 'deposit', method: 'card', currency: 'USD', amount: '50.00' };
    const before = await b.app.inject({ method: 'POST', url: '/v1/payments', headers: a.auth, payload });
    assert.notEqual(errorOf(before).code, 'amount_above_maximum');

    const patched = await a.app.inject({
      method: 'PATCH',
      url: '/v1/operator/settings',
      headers: a.auth,
      payload: { limits: { deposit: { USD: { min: '1.00', max: '20.00' } } } },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    await eventually(async () => {
      const after = await b.app.inject({ method: 'POST', url: '/v1/payments', headers: a.auth, payload });
      const error = errorOf(after);
      assert.equal(error.code, 'amount_above_maximum');
      assert.equal(error.details['expected'], '<= 20.00');
    });
  });

  test('while a node cannot hear notices it serves nothing from its cache, and forgets it all', async () => {
    const created = await createPayment(a, {
      amount: '13.00',
      instrument: CARD_3DS,
    });
    const id = created.json().id as string;
    for (let i = 0; i < 2; i++) assert.equal((await get(b, `/v1/payments/${id}`)).json().status, 'pending');

    // Cut every node's LISTEN connection, then change the payment behind Rampart's back
    // (no notice is sent for a direct UPDATE of payments).
    await a.db.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()',
      [LISTENER_NAME],
    );
    await a.db.query("UPDATE payments SET reference = 'changed-by-hand' WHERE id = $1", [id]);
    await eventually(async () =>
      assert.equal((await get(b, `/v1/payments/${id}`)).json().reference, 'changed-by-hand'),
    );

    // Listening again (the listener reconnects by itself), B caches and hears notices as before.
    await eventually(async () => {
      const { rows } = await a.db.query(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()',
        [LISTENER_NAME],
      );
      assert.equal(rows[0]?.n, 2);
    });
    const cancelled = await a.app.inject({ method: 'POST', url: `/v1/payments/${id}/cancel`, headers: a.auth });
    assert.equal(cancelled.statusCode, 200, cancelled.body);
    await eventually(async () => assert.equal((await get(b, `/v1/payments/${id}`)).json().status, 'cancelled'));
  });
});
