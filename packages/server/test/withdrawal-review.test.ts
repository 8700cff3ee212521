/**
 * Withdrawals held for the operator's review by hand: the approval endpoint answers 202
 * (or `{"review": true}`), or gives no answer with `on_no_answer: review`. The withdrawal
 * stays `created` with its hold in place, sent nowhere, until the operator approves or
 * declines it, cancels it, or its review expires.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorOf, startTestApp, type TestApp } from './harness.ts';
import {
  approvalEndpoint,
  BANK_ACCOUNT,
  balance,
  createPayment,
  fund,
  held,
  madeAt,
  openForPayments,
  simulatorFault,
  travellingClock,
  waitForStatus,
  waitingForLocks,
} from './payment-fixtures.ts';
import { eventually } from './webhooks-fixtures.ts';
import { widgetCall, widgetSession } from './widget-fixtures.ts';

const REVIEW = { status: 202, body: { received: true } };

function withdraw(t: TestApp, userId: string, amount: string, headers: Record<string, string> = {}) {
  return createPayment(
    t,
    { user_id: userId, kind: 'withdrawal', method: 'bank', amount, instrument: BANK_ACCOUNT },
    headers,
  );
}

function post(t: TestApp, url: string, payload?: Record<string, unknown>, auth = t.auth) {
  return t.app.inject({ method: 'POST', url, headers: auth, ...(payload ? { payload } : {}) });
}

async function eventsOf(t: TestApp, paymentId: string, type: string) {
  const response = await t.app.inject({
    method: 'GET',
    url: `/v1/events?subject_id=${paymentId}&type=${type}`,
    headers: t.auth,
  });
  assert.equal(response.statusCode, 200, response.body);
  return response.json().data as { data: Record<string, unknown> }[];
}

async function inReview(t: TestApp): Promise<string[]> {
  const response = await t.app.inject({ method: 'GET', url: '/v1/payments?in_review=true', headers: t.auth });
  assert.equal(response.statusCode, 200, response.body);
  return response.json().data.map((p: { id: string }) => p.id);
}

/** Funds `user` with 100.00 and withdraws `amount`, which the approver puts to review. */
async function reviewed(t: TestApp, user: string, amount = '30.00') {
  await fund(t, user, '100.00');
  const response = await withdraw(t, user, amount);
  assert.equal(response.statusCode, 201, response.body);
  const payment = response.json();
  assert.equal(payment.status, 'created', 'held for review');
  return payment;
}

describe('withdrawals held for review', async () => {
  const clock = travellingClock();
  const t = await startTestApp({ sandbox: true, clock });
  const approver = await approvalEndpoint();
  await openForPayments(t, {
    approval: { url: approver.url, timeout_ms: 1_000, retries: 0, on_no_answer: 'decline', review_hours: 24 },
  });
  approver.answer = REVIEW;

  for (const [name, answer] of [
    ['202 Accepted', REVIEW],
    ['{"review": true}', { status: 200, body: { review: true } }],
  ] as const) {
    test(`an approver answering ${name} holds the withdrawal: created, held, sent nowhere, listed for review`, async () => {
      approver.answer = answer;
      try {
        const user = `held-${answer.status}`;
        const payment = await reviewed(t, user);
        assert.equal(payment.approval.approved, null);
        assert.equal(payment.approval.source, 'operator');
        const expires = Date.parse(payment.approval.review_expires_at) - clock.now().getTime();
        assert.ok(Math.abs(expires - 24 * 3_600_000) < 60_000, `expires in review_hours (${expires} ms)`);
        assert.equal(await held(t, user), 3000n, 'the amount is held while the operator decides');
        assert.equal(await madeAt(t, 'bank', payment.id), 0, 'nothing sent to the bank');
        assert.ok((await inReview(t)).includes(payment.id));
        const [requested] = await eventsOf(t, payment.id, 'withdrawal.review_requested');
        assert.equal(requested?.data['source'], 'operator');
        assert.equal(requested?.data['expires_at'], payment.approval.review_expires_at);
      } finally {
        approver.answer = REVIEW;
      }
    });
  }

  test('approving sends it to its bank, to the destination given; paid, it is debited once', async () => {
    const payment = await reviewed(t, 'approved-user');
    const { rows: sealed } = await t.db.query('SELECT sealed FROM payment_reviews WHERE payment_id = $1', [payment.id]);
    assert.ok(
      !Buffer.from(sealed[0]!.sealed).toString('latin1').includes(BANK_ACCOUNT.account_number),
      'the destination is kept sealed, not in clear',
    );
    const response = await post(t, `/v1/payments/${payment.id}/approve`);
    assert.equal(response.statusCode, 200, response.body);
    const approved = response.json();
    assert.equal(approved.status, 'processing', 'with the bank');
    assert.deepEqual([approved.approval.approved, approved.approval.source], [true, 'review']);
    assert.equal(await madeAt(t, 'bank', payment.id), 1);
    await waitForStatus(t, payment.id, ['completed']);
    assert.equal(await balance(t, 'approved-user'), 7000n);
    assert.equal(await held(t, 'approved-user'), 0n);
    const [event] = await eventsOf(t, payment.id, 'withdrawal.approved');
    assert.equal(event?.data['source'], 'review');
    assert.ok(!(await inReview(t)).includes(payment.id));
    const { rows } = await t.db.query('SELECT 1 FROM payment_reviews WHERE payment_id = $1', [payment.id]);
    assert.equal(rows.length, 0, 'the sealed destination is gone once the review ended');
  });

  test('declining with reason 5 fails it as withdrawal_daily_limit_exceeded and frees the hold', async () => {
    const payment = await reviewed(t, 'declined-user');
    const response = await post(t, `/v1/payments/${payment.id}/decline`, { reason_code: 5, message: 'Too much today' });
    assert.equal(response.statusCode, 200, response.body);
    const declined = response.json();
    assert.equal(declined.status, 'failed');
    assert.equal(declined.failure?.code, 'withdrawal_daily_limit_exceeded');
    assert.equal(declined.failure?.message, 'Too much today');
    assert.deepEqual([declined.approval.approved, declined.approval.reason_code], [false, 5]);
    assert.equal(await held(t, 'declined-user'), 0n);
    assert.equal(await balance(t, 'declined-user'), 10000n);
    const [event] = await eventsOf(t, payment.id, 'withdrawal.declined');
    assert.deepEqual([event?.data['code'], event?.data['source']], ['withdrawal_daily_limit_exceeded', 'review']);
    assert.equal(await madeAt(t, 'bank', payment.id), 0);
  });

  test('a decline without a reason is the generic withdrawal_declined; a reason outside 1-9 is refused', async () => {
    const payment = await reviewed(t, 'generic-decline');
    const bad = await post(t, `/v1/payments/${payment.id}/decline`, { reason_code: 10 });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal(errorOf(bad).code, 'validation_error');
    const response = await post(t, `/v1/payments/${payment.id}/decline`);
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().failure?.code, 'withdrawal_declined');
  });

  test('deciding twice, or a withdrawal that is not under review, answers withdrawal_not_in_review', async () => {
    const payment = await reviewed(t, 'twice');
    assert.equal((await post(t, `/v1/payments/${payment.id}/decline`)).statusCode, 200);
    for (const action of ['approve', 'decline']) {
      const response = await post(t, `/v1/payments/${payment.id}/${action}`);
      assert.equal(response.statusCode, 409, response.body);
      const error = errorOf(response);
      assert.equal(error.code, 'withdrawal_not_in_review');
      assert.equal(error.retryable, false);
      assert.deepEqual([error.details['payment_id'], error.details['status']], [payment.id, 'failed']);
    }
    const deposit = (await createPayment(t, { user_id: 'twice', amount: '5.00' })).json();
    const response = await post(t, `/v1/payments/${deposit.id}/approve`);
    assert.equal(errorOf(response).code, 'withdrawal_not_in_review');
    assert.equal(errorOf(response).details['status'], 'completed');
  });

  test('another operator cannot see or decide a withdrawal under review: payment_not_found', async () => {
    const payment = await reviewed(t, 'not-yours');
    const other = await t.operators.create({ name: 'Other' });
    const auth = { authorization: `Bearer ${other.key.secret}` };
    for (const action of ['approve', 'decline']) {
      const response = await post(t, `/v1/payments/${payment.id}/${action}`, undefined, auth);
      assert.equal(response.statusCode, 404, response.body);
      assert.equal(errorOf(response).code, 'payment_not_found');
    }
    assert.ok((await inReview(t)).includes(payment.id), 'still under review');
  });

  test('cancelling during review cancels at once and frees the hold', async () => {
    const payment = await reviewed(t, 'cancelled-user');
    const response = await post(t, `/v1/payments/${payment.id}/cancel`);
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().status, 'cancelled');
    assert.equal(await held(t, 'cancelled-user'), 0n);
    assert.equal(errorOf(await post(t, `/v1/payments/${payment.id}/approve`)).code, 'withdrawal_not_in_review');
  });

  test('the user cancels their own withdrawal waiting for review from the widget; not another session’s', async () => {
    await fund(t, 'widget-user', '100.00');
    const { widget } = await widgetSession(t, { user_id: 'widget-user', operation: 'withdrawal' });
    const made = await widgetCall(t, widget, '/widget/v1/payments', {
      method: 'bank',
      amount: '30.00',
      currency: 'USD',
      instrument: BANK_ACCOUNT,
    });
    assert.equal(made.statusCode, 201, made.body);
    assert.equal(made.json().status, 'created');
    assert.equal(await held(t, 'widget-user'), 3000n);
    const other = await widgetSession(t, { user_id: 'widget-user', operation: 'withdrawal' });
    const theirs = await widgetCall(t, other.widget, `/widget/v1/payments/${made.json().id}/cancel`);
    assert.deepEqual([theirs.statusCode, errorOf(theirs).code], [404, 'payment_not_found']);
    const cancelled = await widgetCall(t, widget, `/widget/v1/payments/${made.json().id}/cancel`);
    assert.equal(cancelled.statusCode, 200, cancelled.body);
    assert.equal(cancelled.json().status, 'cancelled');
    assert.equal(await held(t, 'widget-user'), 0n);
    const again = await widgetCall(t, widget, `/widget/v1/payments/${made.json().id}/cancel`);
    assert.deepEqual([again.statusCode, errorOf(again).code], [412, 'illegal_state_transition']);
  });

  test('one withdrawal in progress per user: a second during review answers withdrawal_in_progress', async () => {
    await reviewed(t, 'patient');
    const second = await withdraw(t, 'patient', '5.00');
    assert.equal(second.statusCode, 409, second.body);
    assert.equal(errorOf(second).code, 'withdrawal_in_progress');
  });

  test('a retry with the same Idempotency-Key answers the withdrawal under review; the operator is asked once', async () => {
    await fund(t, 'retrier', '100.00');
    const asked = approver.seen.length;
    const headers = { 'idempotency-key': 'review-retry-1' };
    const first = await withdraw(t, 'retrier', '10.00', headers);
    const again = await withdraw(t, 'retrier', '10.00', headers);
    assert.equal(first.statusCode, 201, first.body);
    assert.equal(again.json().id, first.json().id);
    assert.equal(again.json().status, 'created');
    assert.equal(approver.seen.length, asked + 1);
  });

  test('approve and decline at once: exactly one decides, and the money moves once', async () => {
    const payment = await reviewed(t, 'raced');
    const [approve, decline] = await Promise.all([
      post(t, `/v1/payments/${payment.id}/approve`),
      post(t, `/v1/payments/${payment.id}/decline`, { reason_code: 9 }),
    ]);
    const statuses = [approve.statusCode, decline.statusCode].sort();
    assert.deepEqual(statuses, [200, 409], `${approve.body} ${decline.body}`);
    const loser = approve.statusCode === 409 ? approve : decline;
    assert.equal(errorOf(loser).code, 'withdrawal_not_in_review');
    if (approve.statusCode === 200) {
      await waitForStatus(t, payment.id, ['completed']);
      assert.equal(await balance(t, 'raced'), 7000n);
    } else {
      assert.equal(decline.json().failure?.code, 'withdrawal_suspended');
      assert.equal(await balance(t, 'raced'), 10000n);
      assert.equal(await madeAt(t, 'bank', payment.id), 0);
    }
    assert.equal(await held(t, 'raced'), 0n);
  });

  test('a cancel while the approved withdrawal is on its way to the bank waits (payment_in_progress): it is paid once, debited once', async () => {
    const payment = await reviewed(t, 'approved-then-cancelled');
    clock.advance(10 * 60); // reviewed long after it was made
    await simulatorFault(t, { provider: 'bank', kind: 'latency', ms: 1_500, method: 'POST', count: 1 });
    const approving = post(t, `/v1/payments/${payment.id}/approve`);
    await eventually(
      'the approval sent on to the bank',
      async () => (await t.app.inject({ method: 'GET', url: `/v1/payments/${payment.id}`, headers: t.auth })).json(),
      (p: { status: string }) => p.status === 'pending',
    );
    const cancel = await post(t, `/v1/payments/${payment.id}/cancel`);
    assert.equal(cancel.statusCode, 409, cancel.body);
    assert.equal(errorOf(cancel).code, 'payment_in_progress');
    assert.equal((await approving).statusCode, 200);
    await waitForStatus(t, payment.id, ['completed']);
    assert.equal(await madeAt(t, 'bank', payment.id), 1);
    assert.equal(await balance(t, 'approved-then-cancelled'), 7000n);
    assert.equal(await held(t, 'approved-then-cancelled'), 0n);
  });

  test('a user blocked during review is not paid: approve answers customer_blocked and frees the hold', async () => {
    const payment = await reviewed(t, 'blocked-later');
    const blocked = await post(t, '/v1/users/blocked-later/block', { reason: 'chargeback fraud' });
    assert.equal(blocked.statusCode, 200, blocked.body);
    const response = await post(t, `/v1/payments/${payment.id}/approve`);
    assert.equal(response.statusCode, 403, response.body);
    assert.equal(errorOf(response).code, 'customer_blocked');
    assert.equal(errorOf(response).details['payment_id'], payment.id);
    const after = await waitForStatus(t, payment.id, ['failed']);
    assert.equal(after.failure?.code, 'customer_blocked');
    assert.equal(await held(t, 'blocked-later'), 0n);
    assert.equal(await madeAt(t, 'bank', payment.id), 0);
  });

  test('a user blocked after the approval read the gates, before it took the payment, is not paid', async () => {
    const payment = await reviewed(t, 'race-block');
    let approving: ReturnType<typeof post> | undefined;
    // The approval has read the user (not blocked) and waits for the payment's lock, held
    // here as any concurrent writer of the payment holds it; meanwhile the block commits.
    await t.db.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM payments WHERE id = $1 FOR UPDATE', [payment.id]);
      approving = post(t, `/v1/payments/${payment.id}/approve`);
      await eventually(
        'the approval waiting for the payment',
        () => waitingForLocks(t),
        (n) => n === 1,
      );
      const blocked = await post(t, '/v1/users/race-block/block', { reason: 'fraud' });
      assert.equal(blocked.statusCode, 200, blocked.body);
    });
    const response = await approving!;
    assert.equal(response.statusCode, 403, `approved and sent for a blocked user: ${response.body}`);
    assert.equal(errorOf(response).code, 'customer_blocked');
    assert.equal(await madeAt(t, 'bank', payment.id), 0, 'nothing sent to the bank');
    assert.equal(await held(t, 'race-block'), 0n);
  });

  test('reconciliation leaves a withdrawal under review alone; unreviewed past review_hours, it is declined as unavailable', async () => {
    const payment = await reviewed(t, 'forgotten');
    clock.advance(30 * 60); // long past when reconciliation asks providers about a `created` payment
    await t.app.jobs.find((job) => job.name === 'reconcile-payments')!.run();
    await t.app.jobs.find((job) => job.name === 'expire-reviews')!.run();
    assert.ok((await inReview(t)).includes(payment.id), 'still under review');
    clock.advance(24 * 3_600);
    await t.app.jobs.find((job) => job.name === 'expire-holds')!.run();
    assert.equal(await held(t, 'forgotten'), 3000n, 'its hold outlives the review');
    await t.app.jobs.find((job) => job.name === 'expire-reviews')!.run();
    const after = await waitForStatus(t, payment.id, ['failed']);
    assert.equal(after.failure?.code, 'withdrawal_unavailable');
    assert.deepEqual([after.approval.source, after.approval.reason_code], ['review_expired', 3]);
    assert.equal(await held(t, 'forgotten'), 0n);
    const [event] = await eventsOf(t, payment.id, 'withdrawal.declined');
    assert.equal(event?.data['source'], 'review_expired');
  });
});

describe('no answer from the approver, with on_no_answer: review', async () => {
  const t = await startTestApp({ sandbox: true });
  const approver = await approvalEndpoint();
  approver.answer = { status: 503, body: { error: 'down' } };

  test('settings take review and review_hours, and refuse what is not one of them', async () => {
    for (const [approval, field] of [
      [{ on_no_answer: 'maybe' }, 'approval.on_no_answer'],
      [{ review_hours: 0 }, 'approval.review_hours'],
      [{ review_hours: 721 }, 'approval.review_hours'],
    ] as const) {
      const response = await t.app.inject({
        method: 'PATCH',
        url: '/v1/operator/settings',
        headers: t.auth,
        payload: { approval },
      });
      assert.equal(response.statusCode, 422, response.body);
      assert.deepEqual([errorOf(response).code, errorOf(response).details['field']], ['invalid_value', field]);
    }
    await openForPayments(t, { approval: { url: approver.url, timeout_ms: 500, retries: 1, on_no_answer: 'review' } });
  });

  test('the withdrawal waits for review instead of being declined', async () => {
    await fund(t, 'unanswered', '50.00');
    const response = await withdraw(t, 'unanswered', '20.00');
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    assert.equal(payment.status, 'created');
    assert.deepEqual([payment.approval.approved, payment.approval.source], [null, 'default']);
    assert.equal(approver.seen.length, 2, 'asked, then once more');
    assert.equal(await held(t, 'unanswered'), 2000n);
    const approved = await post(t, `/v1/payments/${payment.id}/approve`);
    assert.equal(approved.statusCode, 200, approved.body);
    await waitForStatus(t, payment.id, ['completed']);
    assert.equal(await balance(t, 'unanswered'), 3000n);
  });
});
