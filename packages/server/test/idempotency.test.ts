import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IdempotencyKeys, systemClock } from '@rampart/core';
import { errorOf, startTestApp } from './harness.ts';
import { CARD_OK, createPayment, openForPayments, simulatorFault } from './payment-fixtures.ts';
import { widgetSession } from './widget-fixtures.ts';

describe('Idempotency-Key on POST', async () => {
  const t = await startTestApp();
  const createKey = (idempotencyKey: string, payload: Record<string, unknown>) =>
    t.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { ...t.auth, 'idempotency-key': idempotencyKey },
      payload,
    });
  const keyCount = async () =>
    Number((await t.db.query('SELECT count(*) AS n FROM api_keys WHERE operator_id = $1', [t.operatorId])).rows[0]!.n);

  test('a replay returns the first response and does the work once', async () => {
    const before = await keyCount();
    const first = await createKey('replay-1', { description: 'ci' });
    const second = await createKey('replay-1', { description: 'ci' });
    assert.equal(first.statusCode, 201);
    assert.equal(second.statusCode, 201);
    assert.equal(second.body, first.body);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.equal(await keyCount(), before + 1);
  });

  test('stored answers are encrypted at rest: a secret shown once is not readable in the database', async () => {
    const first = await createKey('sealed-1', { description: 'secret inside' });
    const secret = first.json().secret as string;
    const { rows } = await t.db.query("SELECT response_body FROM idempotency_keys WHERE key = 'sealed-1'");
    assert.doesNotMatch(rows[0]!.response_body, new RegExp(secret));
    assert.doesNotMatch(rows[0]!.response_body, /secret inside/);
    assert.equal((await createKey('sealed-1', { description: 'secret inside' })).json().secret, secret);
  });

  test('the same key with a different body answers idempotency_conflict', async () => {
    await createKey('conflict-1', { description: 'one' });
    const response = await createKey('conflict-1', { description: 'two' });
    assert.equal(response.statusCode, 409);
    const error = errorOf(response);
    assert.equal(error.code, 'idempotency_conflict');
    assert.equal(error.retryable, false);
  });

  test('the same key while the first request runs answers idempotency_in_progress', async () => {
    // A claim held by a request that has not finished (as on another node).
    const keys = new IdempotencyKeys(t.db, systemClock);
    const { requestFingerprint } = await import('@rampart/core');
    await keys.claim(
      `${t.operatorId}:test`,
      'running-1',
      requestFingerprint('POST', '/v1/keys {}', { description: 'x' }),
    );
    const response = await createKey('running-1', { description: 'x' });
    assert.equal(response.statusCode, 409);
    const error = errorOf(response);
    assert.equal(error.code, 'idempotency_in_progress');
    assert.equal(error.retryable, true);
  });

  test('50 concurrent identical requests do the work exactly once', async () => {
    const before = await keyCount();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => createKey('burst-1', { description: 'burst' })),
    );
    const created = responses.filter((r) => r.statusCode === 201);
    const inProgress = responses.filter((r) => r.statusCode === 409);
    assert.equal(created.length + inProgress.length, 50);
    for (const r of inProgress) assert.equal(errorOf(r).code, 'idempotency_in_progress');
    assert.equal(new Set(created.map((r) => r.json().key.id)).size, 1);
    assert.equal(await keyCount(), before + 1);
  });

  test('keys are scoped to the operator: another operator’s identical key runs on its own', async () => {
    const other = await t.operators.create({ name: 'Other' });
    const mine = await createKey('shared-key', {});
    const theirs = await t.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { authorization: `Bearer ${other.key.secret}`, 'idempotency-key': 'shared-key' },
      payload: {},
    });
    assert.equal(theirs.statusCode, 201);
    assert.notEqual(theirs.json().key.id, mine.json().key.id);
  });

  test('a malformed key answers invalid_value', async () => {
    const response = await createKey('x'.repeat(300), {});
    assert.equal(response.statusCode, 422);
    assert.equal(errorOf(response).details['field'], 'Idempotency-Key');
  });

  test('the claim of a request that ended unanswered long ago is purged too', async () => {
    const keys = new IdempotencyKeys(t.db, systemClock);
    const { requestFingerprint } = await import('@rampart/core');
    await keys.claim(`${t.operatorId}:test`, 'died-1', requestFingerprint('POST', '/v1/keys {}', {}));
    await keys.claim(`${t.operatorId}:test`, 'running-2', requestFingerprint('POST', '/v1/keys {}', {}));
    await keys.release(`${t.operatorId}:test`, 'died-1');
    await t.db.query(
      "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key IN ('died-1', 'running-2')",
    );
    await keys.purge(24 * 3600);
    const { rows } = await t.db.query("SELECT key FROM idempotency_keys WHERE key IN ('died-1', 'running-2')");
    assert.deepEqual(
      rows.map((r) => r.key),
      ['running-2'],
      'a claim still leased is kept, however old',
    );
  });

  test('old completed keys are purged by the background job', async () => {
    await createKey('purge-me', {});
    await t.db.query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'purge-me'");
    const purged = await new IdempotencyKeys(t.db, systemClock).purge(24 * 3600);
    assert.ok(purged >= 1);
    const again = await createKey('purge-me', {});
    assert.equal(again.headers['idempotent-replayed'], undefined);
  });
});

describe('the claim on an Idempotency-Key is a lease its running request renews', async () => {
  const t = await startTestApp({ sandbox: true, env: { RAMPART_IDEMPOTENCY_LEASE_SECONDS: '3' } });
  await openForPayments(t);

  test('a deposit running longer than the lease keeps its key: a retry meanwhile is told it is in progress', async () => {
    // The card processor takes 4.5 s to answer: half again the lease.
    await simulatorFault(t, { provider: 'cards', kind: 'latency', ms: 4_500, count: 1 });
    const first = createPayment(t, { amount: '12.00' }, { 'idempotency-key': 'slow-1' });
    await new Promise((r) => setTimeout(r, 3_800));
    const retry = await createPayment(t, { amount: '12.00' }, { 'idempotency-key': 'slow-1' });
    assert.equal(retry.statusCode, 409, retry.body);
    assert.equal(errorOf(retry).code, 'idempotency_in_progress');
    const done = await first;
    assert.equal(done.statusCode, 201, done.body);
    assert.equal(done.json().status, 'completed');
    const again = await createPayment(t, { amount: '12.00' }, { 'idempotency-key': 'slow-1' });
    assert.equal(again.body, done.body);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    const requests = await fetch(`${t.simulator!.url}/admin/requests?provider=cards&idempotency_key=${done.json().id}`);
    assert.equal(((await requests.json()) as { requests: unknown[] }).requests.length, 1, 'one call to the processor');
  });
});

describe('an Idempotency-Key belongs to whoever sent it', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);
  const deposit = (headers: Record<string, string>, url: string, extra: Record<string, unknown> = {}) =>
    t.app.inject({
      method: 'POST',
      url,
      headers: { ...headers, 'idempotency-key': 'same-key' },
      payload: { method: 'card', amount: '20.00', currency: 'USD', instrument: CARD_OK, ...extra },
    });

  test('two widget sessions, or a widget and the operator, using one key each get their own payment', async () => {
    const ada = (await widgetSession(t, { user_id: 'ada', operation: 'deposit' })).widget;
    const ben = (await widgetSession(t, { user_id: 'ben', operation: 'deposit' })).widget;
    const first = await deposit(ada, '/widget/v1/payments');
    const second = await deposit(ben, '/widget/v1/payments');
    const partner = await deposit(t.auth, '/v1/payments', { user_id: 'cy', kind: 'deposit' });
    for (const response of [first, second, partner]) assert.equal(response.statusCode, 201, response.body);
    assert.deepEqual(
      [first, second, partner].map((response) => response.json().user_id),
      ['ada', 'ben', 'cy'],
      'nobody is answered with another user’s payment',
    );
    assert.equal(new Set([first, second, partner].map((response) => response.json().id)).size, 3);
    const again = await deposit(ben, '/widget/v1/payments');
    assert.equal(again.body, second.body, 'each still replays its own');
  });
});
