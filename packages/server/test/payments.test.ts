import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorOf, startTestApp } from './harness.ts';
import {
  approveAtBank,
  balance,
  CARD_3DS,
  CARD_OK,
  createPayment,
  madeAt,
  openForPayments,
  passChallenge,
  simulatorFault,
  waitForStatus,
} from './payment-fixtures.ts';

describe('deposits through the card processor', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);

  test('an approved card deposit completes, credits the user in the ledger and records its timeline and events', async () => {
    const response = await createPayment(t, { amount: '25.00', reference: 'order-1' });
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    assert.match(payment.id, /^pay_/);
    assert.equal(payment.status, 'completed');
    assert.equal(payment.amount, '25.00');
    assert.equal(payment.amount_minor, '2500');
    assert.equal(payment.provider, 'simcard');
    assert.equal(payment.destination.card_number_last4, '4242');
    assert.doesNotMatch(response.body, /4242424242424242/, 'the card number is never stored or echoed');
    assert.equal(await balance(t, 'payer'), 2500n);
    const fetched = (
      await t.app.inject({ method: 'GET', url: '/v1/payments/by_reference/order-1', headers: t.auth })
    ).json();
    assert.deepEqual(
      fetched.timeline.map((s: { to: string }) => s.to),
      ['created', 'completed'],
    );
    const { rows } = await t.db.query('SELECT type, sequence FROM events WHERE subject_id = $1 ORDER BY sequence', [
      payment.id,
    ]);
    assert.deepEqual(
      rows.map((r) => r.type),
      ['payment.created', 'payment.completed'],
    );
  });

  test('3-D Secure leaves the deposit pending with a redirect, and the challenge result completes it by webhook', async () => {
    const response = await createPayment(t, {
      amount: '30.00',
      instrument: CARD_3DS,
      return_url: 'https://operator.example/back',
    });
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    assert.equal(payment.status, 'pending');
    assert.equal(payment.next_action.type, 'redirect');
    const challenge = await passChallenge(payment);
    assert.equal(challenge.status, 303);
    const done = await waitForStatus(t, payment.id, ['completed']);
    assert.equal(done.status, 'completed');
    assert.equal(await balance(t, 'payer'), 5500n);
  });

  test('a declined card answers deposit_failed with the provider’s reason, and the payment is failed', async () => {
    const response = await createPayment(t, {
      amount: '10.00',
      instrument: { ...CARD_OK, card_number: '4000000000000002' },
    });
    assert.equal(response.statusCode, 402);
    const error = errorOf(response);
    assert.equal(error.code, 'deposit_failed');
    assert.equal(error.retryable, true);
    assert.equal(error.details['reason'], 'payment_declined');
    assert.equal(error.details['decline_code'], 'generic_decline');
    const failed = (
      await t.app.inject({ method: 'GET', url: `/v1/payments/${error.details['payment_id']}`, headers: t.auth })
    ).json();
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure.code, 'payment_declined');
  });

  test('a fraud block from the provider answers customer_blocked', async () => {
    const response = await createPayment(t, {
      user_id: 'fraudster',
      amount: '10.00',
      instrument: { ...CARD_OK, card_number: '4100000000000019' },
    });
    assert.equal(response.statusCode, 403);
    assert.equal(errorOf(response).code, 'customer_blocked');
  });

  test('a processing error of the provider answers deposit_failed with reason provider_error', async () => {
    const response = await createPayment(t, {
      amount: '10.00',
      instrument: { ...CARD_OK, card_number: '4000000000000119' },
    });
    assert.equal(errorOf(response).code, 'deposit_failed');
    assert.equal(errorOf(response).details['reason'], 'provider_error');
  });

  test('invalid amounts answer invalid_amount with field, provided and expected', async () => {
    for (const amount of ['0', '0.00', '-5.00', '1.234', 'ten', '1e3', '']) {
      const response = await createPayment(t, { amount });
      assert.equal(response.statusCode, 422, amount);
      const error = errorOf(response);
      assert.equal(error.code, 'invalid_amount', amount);
      assert.equal(error.details['field'], 'amount');
      assert.equal(error.details['provided'], amount);
      assert.match(String(error.details['expected']), /USD/);
    }
  });

  test('a currency the operator has not enabled, or an unsupported network, is refused', async () => {
    const jpy = await createPayment(t, { amount: '1000', currency: 'JPY' });
    assert.equal(jpy.statusCode, 400);
    assert.equal(errorOf(jpy).code, 'currency_not_enabled');
    assert.equal(errorOf(jpy).details['currency'], 'JPY');
    const bep20 = await createPayment(t, { amount: '10', currency: 'USDT', network: 'BEP20', method: 'crypto' });
    assert.equal(bep20.statusCode, 400);
    assert.equal(errorOf(bep20).code, 'wallet_not_supported');
    assert.equal(errorOf(bep20).details['network'], 'BEP20');
  });

  test('sell without the off-ramp enabled answers offramp_not_enabled', async () => {
    const response = await createPayment(t, {
      kind: 'sell',
      method: 'crypto',
      currency: 'USDT',
      network: 'TRC20',
      amount: '10',
    });
    assert.equal(response.statusCode, 403);
    assert.equal(errorOf(response).code, 'offramp_not_enabled');
  });

  test('amounts outside the operator’s limits answer below minimum / above maximum with details', async () => {
    const low = await createPayment(t, { amount: '0.50' });
    assert.equal(low.statusCode, 422);
    assert.equal(errorOf(low).code, 'amount_below_minimum');
    assert.deepEqual(
      { ...errorOf(low).details },
      { field: 'amount', provided: '0.50', expected: '>= 1.00', currency: 'USD' },
    );
    const high = await createPayment(t, { amount: '10000.01' });
    assert.equal(errorOf(high).code, 'amount_above_maximum');
    assert.equal(errorOf(high).details['expected'], '<= 10000.00');
  });

  test('another operator’s payment, or an unknown id, answers payment_not_found', async () => {
    const mine = (await createPayment(t, { amount: '5.00' })).json();
    const other = await t.operators.create({ name: 'Other' });
    for (const headers of [{ authorization: `Bearer ${other.key.secret}` }, t.auth]) {
      const id = headers === t.auth ? 'pay_nope' : mine.id;
      const response = await t.app.inject({ method: 'GET', url: `/v1/payments/${id}`, headers });
      assert.equal(response.statusCode, 404);
      assert.equal(errorOf(response).code, 'payment_not_found');
    }
  });

  test('cancelling a completed payment answers illegal_state_transition', async () => {
    const done = (await createPayment(t, { amount: '5.00' })).json();
    const response = await t.app.inject({ method: 'POST', url: `/v1/payments/${done.id}/cancel`, headers: t.auth });
    assert.equal(response.statusCode, 412);
    const error = errorOf(response);
    assert.equal(error.code, 'illegal_state_transition');
    assert.deepEqual([error.details['from'], error.details['to']], ['completed', 'cancelled']);
  });

  test('cancelling a bank deposit awaiting the user cancels it at the bank: authorising it later moves nothing', async () => {
    const pending = (
      await createPayment(t, { user_id: 'changed-mind', method: 'bank', amount: '30.00', instrument: {} })
    ).json();
    assert.equal(pending.status, 'pending');
    const cancelled = await t.app.inject({ method: 'POST', url: `/v1/payments/${pending.id}/cancel`, headers: t.auth });
    assert.equal(cancelled.statusCode, 200, cancelled.body);
    assert.equal(cancelled.json().status, 'cancelled');
    // The user comes back to the bank's page and approves anyway: the bank refuses.
    const late = await approveAtBank(pending.next_action.url);
    assert.notEqual(late.status, 303, 'the bank no longer takes the approval');
    await new Promise((r) => setTimeout(r, 300)); // room for any webhook of the bank's
    const after = (await t.app.inject({ method: 'GET', url: `/v1/payments/${pending.id}`, headers: t.auth })).json();
    assert.equal(after.status, 'cancelled');
    assert.equal(await balance(t, 'changed-mind'), 0n);
  });

  test('a cancel of a payment whose provider this node no longer serves answers upstream_unavailable and changes nothing', async () => {
    const pending = (
      await createPayment(t, { user_id: 'provider-retired', method: 'bank', amount: '30.00', instrument: {} })
    ).json();
    assert.equal(pending.status, 'pending');
    // As after its provider was taken out of this node's configuration: the bank may still
    // have it (the user could authorise it there), so nothing may be undone here alone.
    await t.db.query("UPDATE payments SET provider = 'simbank-retired' WHERE id = $1", [pending.id]);
    try {
      const refused = await t.app.inject({ method: 'POST', url: `/v1/payments/${pending.id}/cancel`, headers: t.auth });
      assert.equal(refused.statusCode, 502, refused.body);
      assert.deepEqual(
        [errorOf(refused).code, errorOf(refused).details['provider']],
        ['upstream_unavailable', 'simbank-retired'],
      );
      const after = (await t.app.inject({ method: 'GET', url: `/v1/payments/${pending.id}`, headers: t.auth })).json();
      assert.equal(after.status, 'pending');
    } finally {
      await t.db.query("UPDATE payments SET provider = 'simbank' WHERE id = $1", [pending.id]);
    }
  });

  test('a cancel while the create is still calling the processor answers payment_in_progress; the charge then stands', async () => {
    await simulatorFault(t, { provider: 'cards', kind: 'latency', ms: 2_000, count: 1 });
    const creating = createPayment(t, { user_id: 'hasty', amount: '9.00' });
    const { rows } = await t.db.query<{ id: string }>(
      "SELECT id FROM payments WHERE user_id = 'hasty' AND status = 'created'",
    );
    for (let waited = 0; rows.length === 0 && waited < 2_000; waited += 20) {
      await new Promise((r) => setTimeout(r, 20));
      rows.push(...(await t.db.query<{ id: string }>("SELECT id FROM payments WHERE user_id = 'hasty'")).rows);
    }
    const id = rows[0]!.id;
    const early = await t.app.inject({ method: 'POST', url: `/v1/payments/${id}/cancel`, headers: t.auth });
    assert.equal(early.statusCode, 409, early.body);
    assert.deepEqual([errorOf(early).code, errorOf(early).retryable], ['payment_in_progress', true]);
    assert.equal((await creating).json().status, 'completed', 'the charge the processor made stands');
    const late = await t.app.inject({ method: 'POST', url: `/v1/payments/${id}/cancel`, headers: t.auth });
    assert.equal(errorOf(late).code, 'illegal_state_transition');
    assert.equal(await balance(t, 'hasty'), 900n);
  });

  test('a bank deposit the user already authorised cannot be cancelled: it goes on, and is credited', async () => {
    const pending = (
      await createPayment(t, { user_id: 'too-late', method: 'bank', amount: '40.00', instrument: {} })
    ).json();
    assert.equal((await approveAtBank(pending.next_action.url)).status, 303);
    const refused = await t.app.inject({ method: 'POST', url: `/v1/payments/${pending.id}/cancel`, headers: t.auth });
    assert.equal(refused.statusCode, 412, refused.body);
    assert.equal(errorOf(refused).code, 'illegal_state_transition');
    assert.notEqual(errorOf(refused).details['from'], 'pending', 'the bank’s view was applied');
    await waitForStatus(t, pending.id, ['completed']);
    assert.equal(await balance(t, 'too-late'), 4000n);
  });

  test('payments list newest first with a cursor', async () => {
    const first = (
      await t.app.inject({ method: 'GET', url: '/v1/payments?limit=2&status=completed', headers: t.auth })
    ).json();
    assert.equal(first.data.length, 2);
    assert.equal(first.has_more, true);
    const second = (
      await t.app.inject({
        method: 'GET',
        url: `/v1/payments?limit=2&status=completed&starting_after=${first.next_cursor}`,
        headers: t.auth,
      })
    ).json();
    assert.ok(second.data.every((p: { id: string }) => p.id < first.data[1].id));
  });

  test('payments filter by currency, provider and when they were made', async () => {
    const list = async (query: string) => {
      const response = await t.app.inject({
        method: 'GET',
        url: `/v1/payments?user_id=filtered&${query}`,
        headers: t.auth,
      });
      assert.equal(response.statusCode, 200, response.body);
      return response.json().data.map((p: { id: string }) => p.id);
    };
    const card = (await createPayment(t, { user_id: 'filtered', amount: '5.00' })).json();
    const between = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const bank = (await createPayment(t, { user_id: 'filtered', method: 'bank', amount: '6.00' })).json();
    assert.equal(bank.provider, 'simbank');
    assert.deepEqual(await list('provider=simcard'), [card.id]);
    assert.deepEqual(await list('currency=usd'), [bank.id, card.id]);
    assert.deepEqual(await list('currency=EUR'), []);
    assert.deepEqual(await list(`created_from=${between}`), [bank.id]);
    assert.deepEqual(await list(`created_to=${between}`), [card.id]);
    const bad = await t.app.inject({ method: 'GET', url: '/v1/payments?created_from=yesterday', headers: t.auth });
    assert.deepEqual([bad.statusCode, errorOf(bad).code], [400, 'validation_error']);
    // A date-time the schema takes that is no time here (a leap second): the catalog's answer, not a 5xx.
    for (const field of ['created_from', 'created_to']) {
      const leap = await t.app.inject({
        method: 'GET',
        url: `/v1/payments?${field}=2016-12-31T23:59:60Z`,
        headers: t.auth,
      });
      assert.deepEqual(
        [leap.statusCode, errorOf(leap).code, errorOf(leap).details['field']],
        [422, 'invalid_value', field],
      );
    }
  });

  test('a page of the most, 100, still says there is more and where it goes on', async () => {
    for (let i = 0; i < 101; i += 25)
      await Promise.all(
        Array.from({ length: Math.min(25, 101 - i) }, () => createPayment(t, { user_id: 'pager', amount: '1.00' })),
      );
    const page = (url: string) => t.app.inject({ method: 'GET', url, headers: t.auth }).then((r) => r.json());
    const first = await page('/v1/payments?user_id=pager&limit=100');
    assert.deepEqual([first.data.length, first.has_more], [100, true]);
    const rest = await page(`/v1/payments?user_id=pager&limit=100&starting_after=${first.next_cursor}`);
    assert.deepEqual([rest.data.length, rest.has_more, rest.next_cursor], [1, false, null]);
  });
});

describe('amounts beyond what a provider takes', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t, { limits: { deposit: { USD: { min: '1.00', max: '1000000000000000.00' } } } });

  test('an amount the card processor would receive rounded (above 2^53 minor units) is refused before it is sent', async () => {
    const response = await createPayment(t, { user_id: 'whale', amount: '90071992547409.93', provider: 'simcard' });
    assert.equal(response.statusCode, 422, response.body);
    const error = errorOf(response);
    assert.deepEqual([error.code, error.details['provided']], ['invalid_amount', '9007199254740993']);
    assert.match(String(error.details['expected']), /9007199254740991 minor units/);
    assert.equal(await madeAt(t, 'cards', error.details['payment_id'] as string), 0, 'nothing sent');
  });
});

describe('daily limits and idempotent creation', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t, { limits: { deposit: { USD: { min: '1.00', max: '500.00', daily: '100.00' } } } });

  test('the rolling 24-hour limit per user answers daily_limit_exceeded', async () => {
    assert.equal((await createPayment(t, { user_id: 'daily', amount: '60.00' })).statusCode, 201);
    const response = await createPayment(t, { user_id: 'daily', amount: '50.00' });
    assert.equal(response.statusCode, 422);
    const error = errorOf(response);
    assert.equal(error.code, 'daily_limit_exceeded');
    assert.deepEqual({ ...error.details }, { limit: '100.00', used: '60.00', requested: '50.00', currency: 'USD' });
    assert.equal((await createPayment(t, { user_id: 'daily-other', amount: '50.00' })).statusCode, 201, 'per user');
  });

  test('50 concurrent identical requests with one Idempotency-Key create one payment', async () => {
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        createPayment(t, { user_id: 'burst', amount: '7.00' }, { 'idempotency-key': 'same-key' }),
      ),
    );
    const ids = new Set(responses.filter((r) => r.statusCode === 201).map((r) => r.json().id));
    for (const r of responses) assert.ok(r.statusCode === 201 || errorOf(r).code === 'idempotency_in_progress', r.body);
    assert.equal(ids.size, 1);
    const { rows } = await t.db.query("SELECT count(*)::int AS n FROM payments WHERE user_id = 'burst'");
    assert.equal(rows[0]!.n, 1);
    const replay = await createPayment(t, { user_id: 'burst', amount: '7.00' }, { 'idempotency-key': 'same-key' });
    assert.equal(replay.json().id, [...ids][0]);
    const conflict = await createPayment(t, { user_id: 'burst', amount: '8.00' }, { 'idempotency-key': 'same-key' });
    assert.equal(errorOf(conflict).code, 'idempotency_conflict');
  });

  test('a completed card deposit’s answer is stored by the time it is received, and replayed byte for byte', async () => {
    const first = await createPayment(t, { user_id: 'answered', amount: '9.00' }, { 'idempotency-key': 'answer-1' });
    assert.equal(first.statusCode, 201, first.body);
    assert.equal(first.json().status, 'completed');
    const { rows } = await t.db.query("SELECT state, response_status FROM idempotency_keys WHERE key = 'answer-1'");
    assert.deepEqual(rows, [{ state: 'done', response_status: 201 }]);
    const replay = await createPayment(t, { user_id: 'answered', amount: '9.00' }, { 'idempotency-key': 'answer-1' });
    assert.equal(replay.statusCode, 201);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.headers['content-type'], first.headers['content-type']);
    assert.equal(replay.body, first.body);
  });

  test('a declined card’s error answer is stored and replayed as sent', async () => {
    const declined = {
      user_id: 'answered',
      amount: '9.00',
      instrument: { ...CARD_OK, card_number: '4000000000000002' },
    };
    const first = await createPayment(t, declined, { 'idempotency-key': 'answer-2' });
    assert.equal(first.statusCode, 402, first.body);
    const replay = await createPayment(t, declined, { 'idempotency-key': 'answer-2' });
    assert.equal(replay.statusCode, 402);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.body, first.body);
  });
});
