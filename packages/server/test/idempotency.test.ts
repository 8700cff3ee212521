import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IdempotencyKeys, systemClock } from '@rampart/core';
import { errorOf, startTestApp } from './harness.ts';
import {
  CARD_OK,
  createPayment,
  madeAt,
  openForPayments,
  simulatorFault,
  travellingClock,
} from './payment-fixtures.ts';
import { eventually } from './webhooks-fixtures.ts';
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

describe('a payment a retry with its Idempotency-Key resumed', async () => {
  const clock = travellingClock();
  // A call to a provider gives up after 3 s: upstream_timeout, the outcome unknown, the payment kept open.
  const t = await startTestApp({ sandbox: { timeoutMs: 3_000 }, clock });
  await openForPayments(t);
  const bankPosts = async () => {
    const log = await fetch(`${t.simulator!.url}/admin/requests?provider=bank`);
    return ((await log.json()) as { requests: { method: string }[] }).requests.filter((r) => r.method === 'POST')
      .length;
  };
  const cancel = (id: string) => t.app.inject({ method: 'POST', url: `/v1/payments/${id}/cancel`, headers: t.auth });

  test('a cancel while the retry is calling the bank answers payment_in_progress, though the payment was made long before', async () => {
    // The bank holds the next two payment requests, unworked and unanswered.
    await simulatorFault(t, {
      provider: 'bank',
      kind: 'timeout',
      method: 'POST',
      path: '/bank/v1/payments',
      count: 2,
      hold_ms: 10_000,
    });
    const deposit = { user_id: 'resumed', method: 'bank', amount: '40.00', instrument: {} };
    const key = { 'idempotency-key': 'resumed-then-cancelled' };
    const first = createPayment(t, deposit, key);
    await eventually('the first request at the bank', bankPosts, (n) => n === 1);
    // Ten minutes on, by the app's clock: the first request's lease (renewed every 5 s of real
    // time, not yet) has long lapsed, as a dead server's would. The retry takes the key over.
    clock.advance(10 * 60);
    const retry = createPayment(t, deposit, key);
    await eventually('the retry sending it on to the bank', bankPosts, (n) => n === 2);
    const listed = await t.app.inject({ method: 'GET', url: '/v1/payments?user_id=resumed', headers: t.auth });
    const [payment] = listed.json().data as { id: string; status: string }[];
    assert.equal(payment?.status, 'created', 'no answer from the bank yet');
    const refused = await cancel(payment.id);
    assert.equal(refused.statusCode, 409, refused.body);
    assert.deepEqual([errorOf(refused).code, errorOf(refused).retryable], ['payment_in_progress', true]);

    // Both calls time out: the payment stays open, and was never created at the bank.
    for (const answer of [await first, await retry]) {
      assert.equal(answer.statusCode, 201, answer.body);
      assert.deepEqual([answer.json().id, answer.json().status], [payment.id, 'pending']);
    }
    const timeline = (await t.app.inject({ method: 'GET', url: `/v1/payments/${payment.id}`, headers: t.auth })).json()
      .timeline as { cause: string }[];
    assert.ok(
      timeline.some((step) => step.cause === 'resumed by a retry with its Idempotency-Key'),
      JSON.stringify(timeline),
    );
    assert.equal(await madeAt(t, 'bank', payment.id), 0);
    // Once the retry's call is surely over, the same cancel goes through: the bank never had it.
    clock.advance(6 * 60);
    const cancelled = await cancel(payment.id);
    assert.equal(cancelled.statusCode, 200, cancelled.body);
    assert.equal(cancelled.json().status, 'cancelled');
  });

  test('an answer that asks for the same request later (payment_in_progress) is not kept: the retry with the same key runs', async () => {
    // The bank holds the next payment request unanswered: the create gives up, the payment stays open.
    await simulatorFault(t, {
      provider: 'bank',
      kind: 'timeout',
      method: 'POST',
      path: '/bank/v1/payments',
      count: 1,
      hold_ms: 10_000,
    });
    const created = await createPayment(t, {
      user_id: 'retried-cancel',
      method: 'bank',
      amount: '40.00',
      instrument: {},
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as string;
    const keyed = () =>
      t.app.inject({
        method: 'POST',
        url: `/v1/payments/${id}/cancel`,
        headers: { ...t.auth, 'idempotency-key': `cancel-${id}` },
      });
    const early = await keyed();
    assert.equal(early.statusCode, 409, early.body);
    assert.deepEqual([errorOf(early).code, errorOf(early).retryable], ['payment_in_progress', true]);
    // As the error says: retry shortly, with the same key. The create's call is surely over now.
    clock.advance(6 * 60);
    const retry = await keyed();
    assert.equal(retry.statusCode, 200, retry.body);
    assert.equal(retry.headers['idempotent-replayed'], undefined);
    assert.equal(retry.json().status, 'cancelled');
    const replay = await keyed();
    assert.equal(replay.headers['idempotent-replayed'], 'true', 'the answer that did the work is kept');
    assert.equal(replay.body, retry.body);
  });

  test('a key used again once its answer was purged: the same request gets its payment, another one idempotency_conflict', async () => {
    const key = { 'idempotency-key': 'order-reused' };
    const first = await createPayment(t, { user_id: 'alice', amount: '12.00' }, key);
    assert.equal(first.statusCode, 201, first.body);
    const purgeKey = async () => {
      await t.db.query(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'order-reused'",
      );
      assert.ok((await new IdempotencyKeys(t.db, systemClock).purge(24 * 3600)) >= 1);
    };
    await purgeKey();
    for (const other of [
      { user_id: 'bob', amount: '12.00' },
      { user_id: 'alice', amount: '30.00' },
      { user_id: 'alice', amount: '12.00', reference: 'another-order' },
      { user_id: 'alice', amount: '12.00', kind: 'withdrawal' },
    ]) {
      const answer = await createPayment(t, other, key);
      assert.equal(answer.statusCode, 409, `${JSON.stringify(other)}: ${answer.body}`);
      assert.equal(errorOf(answer).code, 'idempotency_conflict');
      await purgeKey();
    }
    const same = await createPayment(t, { user_id: 'alice', amount: '12.00' }, key);
    assert.equal(same.statusCode, 201, same.body);
    assert.deepEqual([same.json().id, same.json().status], [first.json().id, first.json().status]);
    const listed = await t.app.inject({ method: 'GET', url: '/v1/payments?user_id=bob', headers: t.auth });
    assert.deepEqual(listed.json().data, [], 'nothing made for bob');
  });
});
