import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, startTestSimulator } from './harness.ts';

const t = await startTestSimulator();
const HOUR = 3600;
const DAY = 24 * HOUR;
/** Refunds on these stay pending for the settle delay (an hour in tests), then succeed / fail. */
const LATE_SUCCESS = '4000000000007726';
const LATE_FAILURE = '4000000000005126';

const paymentBody = (number = '4242424242424242', amount = 2500, extra: Record<string, unknown> = {}) => ({
  amount,
  currency: 'usd',
  payment_method: { type: 'card', card: { number, exp_month: 12, exp_year: 2099, cvc: '123' } },
  ...extra,
});
const pay = (number?: string, amount?: number, extra?: Record<string, unknown>) =>
  t.call('cards', 'POST', '/cards/v1/payments', paymentBody(number, amount, extra));
/** A succeeded payment's id. */
async function paid(number?: string, amount?: number, extra?: Record<string, unknown>): Promise<string> {
  const answer = await pay(number, amount, extra);
  assert.equal(answer.body.status, 'succeeded');
  return answer.body.id;
}
const refund = (body: unknown, idempotencyKey?: string) =>
  t.call('cards', 'POST', '/cards/v1/refunds', body, idempotencyKey ? { idempotencyKey } : {});
const getRefund = (id: string) => t.call('cards', 'GET', `/cards/v1/refunds/${id}`);
const byKey = (key: string) => t.call('cards', 'GET', `/cards/v1/refunds/by_idempotency_key/${key}`);
const amountRefunded = async (paymentId: string): Promise<number> =>
  (await t.call('cards', 'GET', `/cards/v1/payments/${paymentId}`)).body.amount_refunded;
const adminDecide = (id: string, to: 'fail' | 'succeed', body?: unknown) =>
  t.admin('POST', `/admin/cards/refunds/${id}/${to}`, body);

// biome-ignore lint/suspicious/noExplicitAny: webhook bodies are inspected field by field
const eventsFor = (id: string): any[] =>
  t.receiver
    .accepted('/cards')
    .map((w) => w.body)
    .filter((body) => (body['data'] as { object: { id: string } }).object.id === id);
/** The refund's webhooks once `count` arrived. */
const refundEvents = (id: string, count: number) =>
  eventually(() => {
    const events = eventsFor(id);
    return events.length === count && events;
  });

describe('card refunds: create', () => {
  test('without an amount, the whole payment is refunded, succeeded at once, with refund.succeeded', async () => {
    const paymentId = await paid();
    const created = await refund({ payment: paymentId, metadata: { rampart_payment_id: 'rp_1' } });
    assert.equal(created.status, 201);
    assert.match(created.body.id, /^re_[0-9a-z]+$/);
    const { created: createdAt, updated, ...rest } = created.body;
    assert.deepEqual(rest, {
      id: created.body.id,
      object: 'refund',
      payment: paymentId,
      amount: 2500,
      currency: 'usd',
      status: 'succeeded',
      reason: null,
      failure_reason: null,
      metadata: { rampart_payment_id: 'rp_1' },
    });
    assert.equal(typeof createdAt, 'number');
    assert.equal(updated, createdAt);
    const [event] = await refundEvents(created.body.id, 1);
    assert.equal(event.type, 'refund.succeeded');
    assert.match(event.id, /^evt_/);
    assert.deepEqual(event.data.object, created.body);
    assert.deepEqual((await getRefund(created.body.id)).body, created.body);
    assert.equal(await amountRefunded(paymentId), 2500);
  });

  test('partial refunds add up to the captured amount; past what is left is 400 amount_too_large', async () => {
    const paymentId = await paid();
    assert.equal(await amountRefunded(paymentId), 0);
    const first = await refund({ payment: paymentId, amount: 1000, reason: 'requested_by_customer' });
    assert.equal(first.status, 201);
    assert.equal(first.body.reason, 'requested_by_customer');
    const second = await refund({ payment: paymentId, amount: 1000, reason: 'duplicate' });
    assert.equal(second.status, 201);
    assert.notEqual(second.body.id, first.body.id);
    assert.equal(await amountRefunded(paymentId), 2000);

    const tooMuch = await refund({ payment: paymentId, amount: 501 });
    assert.equal(tooMuch.status, 400);
    assert.equal(tooMuch.body.error.type, 'invalid_request_error');
    assert.equal(tooMuch.body.error.code, 'amount_too_large');
    assert.equal(await amountRefunded(paymentId), 2000);

    const rest = await refund({ payment: paymentId, reason: 'fraudulent' });
    assert.equal(rest.status, 201);
    assert.equal(rest.body.amount, 500, 'the default is what is left');
    assert.equal(await amountRefunded(paymentId), 2500);
    const nothingLeft = await refund({ payment: paymentId });
    assert.equal(nothingLeft.status, 400);
    assert.equal(nothingLeft.body.error.code, 'amount_too_large');
    assert.equal((await refund({ payment: paymentId, amount: 1 })).body.error.code, 'amount_too_large');
  });

  test('the refund is in the payment’s currency', async () => {
    const paymentId = await paid('4242424242424242', 3000, { currency: 'eur' });
    const created = await refund({ payment: paymentId, amount: 1200 });
    assert.equal(created.body.currency, 'eur');
    assert.equal(created.body.amount, 1200);
  });

  test('a payment that did not succeed is 412 invalid_state: declined, or authorised but not captured', async () => {
    const declined = await pay('4000000000000002');
    assert.equal(declined.status, 402);
    const onDeclined = await refund({ payment: declined.body.error.payment.id });
    assert.equal(onDeclined.status, 412);
    assert.equal(onDeclined.body.error.code, 'invalid_state');
    assert.equal(onDeclined.body.error.type, 'invalid_request_error');

    const held = await pay('4242424242424242', 2500, { capture_method: 'manual' });
    assert.equal(held.body.status, 'requires_capture');
    const onHeld = await refund({ payment: held.body.id });
    assert.equal(onHeld.status, 412);
    assert.equal(onHeld.body.error.code, 'invalid_state');
    assert.equal(await amountRefunded(held.body.id), 0);
  });

  test('a disputed payment is 400 charge_disputed, while the dispute is open and once it is decided', async () => {
    const paymentId = await paid();
    assert.equal((await t.admin('POST', `/admin/cards/payments/${paymentId}/dispute`)).status, 200);
    const open = await refund({ payment: paymentId, amount: 100 });
    assert.equal(open.status, 400);
    assert.equal(open.body.error.code, 'charge_disputed');
    await t.admin('POST', `/admin/cards/payments/${paymentId}/dispute/close`, { status: 'won' });
    const decided = await refund({ payment: paymentId });
    assert.equal(decided.status, 400);
    assert.equal(decided.body.error.code, 'charge_disputed');
    assert.equal(await amountRefunded(paymentId), 0);
  });

  test('an unknown payment is 404 resource_missing (param payment); so is an unknown refund', async () => {
    const missing = await refund({ payment: 'pay_nope', amount: 100 });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'resource_missing');
    assert.equal(missing.body.error.param, 'payment');
    const unknown = await getRefund('re_nope');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'resource_missing');
  });

  test('invalid fields are 400 parameter_invalid naming the field, and refund nothing', async () => {
    const paymentId = await paid();
    const cases: [Record<string, unknown>, string][] = [
      [{ amount: 0 }, 'amount'],
      [{ amount: -1 }, 'amount'],
      [{ amount: 1.5 }, 'amount'],
      [{ amount: '10' }, 'amount'],
      [{ amount: 2 ** 53 }, 'amount'],
      [{ reason: 'changed_my_mind' }, 'reason'],
      [{ metadata: { order: 42 } }, 'metadata'],
      [{ metadata: 'x' }, 'metadata'],
      [{ payment: 42 }, 'payment'],
      [{ payment: undefined }, 'payment'],
    ];
    for (const [fields, param] of cases) {
      const answer = await refund({ payment: paymentId, ...fields });
      assert.equal(answer.status, 400, JSON.stringify(fields));
      assert.equal(answer.body.error.code, 'parameter_invalid', JSON.stringify(fields));
      assert.equal(answer.body.error.param, param, JSON.stringify(fields));
    }
    assert.equal(await amountRefunded(paymentId), 0);
  });
});

describe('card refunds: idempotency', () => {
  test('the same key and body replays the same refund and refunds once; by_idempotency_key finds it', async () => {
    const paymentId = await paid();
    const body = { payment: paymentId, amount: 700, metadata: { rampart_payment_id: 'rp_2' } };
    const first = await refund(body, 'refund-key-1');
    const again = await refund(body, 'refund-key-1');
    assert.equal(first.status, 201);
    assert.equal(again.status, 201);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body.id, first.body.id);
    assert.equal(await amountRefunded(paymentId), 700);
    assert.equal((await refundEvents(first.body.id, 1))[0].type, 'refund.succeeded');

    const found = await byKey('refund-key-1');
    assert.equal(found.status, 200);
    assert.deepEqual(found.body, first.body);

    const reused = await refund({ ...body, amount: 800 }, 'refund-key-1');
    assert.equal(reused.status, 409);
    assert.equal(reused.body.error.code, 'idempotency_key_reused');
  });

  test('by_idempotency_key is 404 for a key never used, or whose call created nothing', async () => {
    const never = await byKey('refund-key-never');
    assert.equal(never.status, 404);
    assert.equal(never.body.error.code, 'resource_missing');
    const refused = await refund({ payment: 'pay_nope' }, 'refund-key-refused');
    assert.equal(refused.status, 404);
    assert.equal((await byKey('refund-key-refused')).status, 404);
    const payment = await t.call('cards', 'POST', '/cards/v1/payments', paymentBody(), {
      idempotencyKey: 'payment-key-1',
    });
    assert.equal(payment.status, 201);
    assert.equal((await byKey('payment-key-1')).status, 404, 'a key finds only in the collection it created in');
  });
});

describe('card refunds: refund cards and the simulated clock', () => {
  test(`${LATE_SUCCESS}: the refund is pending, then succeeded an hour (the settle delay) later`, async () => {
    const paymentId = await paid(LATE_SUCCESS);
    const created = await refund({ payment: paymentId, amount: 2000 });
    assert.equal(created.status, 201);
    assert.equal(created.body.status, 'pending');
    assert.equal(await amountRefunded(paymentId), 2000, 'a pending refund counts');
    t.advance(HOUR - 1);
    assert.equal((await getRefund(created.body.id)).body.status, 'pending');
    t.advance(1);
    const done = (await getRefund(created.body.id)).body;
    assert.equal(done.status, 'succeeded');
    assert.equal(done.updated - done.created, HOUR);
    const events = await refundEvents(created.body.id, 2);
    assert.deepEqual(
      events.map((event) => [event.type, event.data.object.status]),
      [
        ['refund.pending', 'pending'],
        ['refund.succeeded', 'succeeded'],
      ],
    );
    assert.deepEqual(events[0].data.object, created.body);
    assert.deepEqual(events[1].data.object, done);
    assert.equal(await amountRefunded(paymentId), 2000);
  });

  test(`${LATE_FAILURE}: the refund is pending, then failed (expired_or_canceled_card); its amount is refundable again`, async () => {
    const paymentId = await paid(LATE_FAILURE);
    const created = await refund({ payment: paymentId });
    assert.equal(created.body.status, 'pending');
    assert.equal(created.body.amount, 2500);
    assert.equal((await refund({ payment: paymentId, amount: 1 })).body.error.code, 'amount_too_large');
    t.advance(HOUR);
    const failed = (await getRefund(created.body.id)).body;
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure_reason, 'expired_or_canceled_card');
    const events = await refundEvents(created.body.id, 2);
    assert.equal(events[1].type, 'refund.failed');
    assert.equal(events[1].data.object.failure_reason, 'expired_or_canceled_card');
    assert.equal(await amountRefunded(paymentId), 0);
    const retried = await refund({ payment: paymentId });
    assert.equal(retried.status, 201);
    assert.equal(retried.body.amount, 2500);
  });
});

describe('card refunds: admin', () => {
  test('admin succeeds a pending refund now; the clock later changes nothing; not pending is 409', async () => {
    const paymentId = await paid(LATE_FAILURE);
    const created = await refund({ payment: paymentId, amount: 900 });
    const succeeded = await adminDecide(created.body.id, 'succeed');
    assert.equal(succeeded.status, 200);
    assert.equal(succeeded.body.status, 'succeeded');
    assert.equal(succeeded.body.failure_reason, null);
    t.advance(HOUR);
    assert.equal((await getRefund(created.body.id)).body.status, 'succeeded');
    const events = await refundEvents(created.body.id, 2);
    assert.deepEqual(
      events.map((event) => event.type),
      ['refund.pending', 'refund.succeeded'],
    );
    assert.deepEqual(events[1].data.object, succeeded.body);
    for (const to of ['succeed', 'fail'] as const) {
      const again = await adminDecide(created.body.id, to);
      assert.equal(again.status, 409);
      assert.match(again.body.error.message, /refund is succeeded/);
    }
    assert.equal(await amountRefunded(paymentId), 900);
  });

  test('admin fails a pending refund with a failure_reason (default unknown), giving its amount back', async () => {
    const paymentId = await paid(LATE_SUCCESS);
    const first = await refund({ payment: paymentId, amount: 1000 });
    const second = await refund({ payment: paymentId, amount: 1000 });
    const failed = await adminDecide(first.body.id, 'fail', { failure_reason: 'lost_or_stolen_card' });
    assert.equal(failed.status, 200);
    assert.equal(failed.body.status, 'failed');
    assert.equal(failed.body.failure_reason, 'lost_or_stolen_card');
    assert.equal((await adminDecide(second.body.id, 'fail')).body.failure_reason, 'unknown');
    assert.equal(await amountRefunded(paymentId), 0);
    const events = await refundEvents(first.body.id, 2);
    assert.equal(events[1].type, 'refund.failed');
    assert.equal(events[1].data.object.failure_reason, 'lost_or_stolen_card');
    t.advance(HOUR);
    assert.equal((await getRefund(first.body.id)).body.status, 'failed', 'the card’s own outcome does not follow');
    assert.equal((await adminDecide(first.body.id, 'succeed')).status, 409);
  });

  test('admin answers 404 for an unknown refund and 400 for a bad failure_reason', async () => {
    assert.equal((await adminDecide('re_nope', 'succeed')).status, 404);
    assert.equal((await adminDecide('re_nope', 'fail')).status, 404);
    const created = await refund({ payment: await paid(LATE_SUCCESS) });
    const bad = await adminDecide(created.body.id, 'fail', { failure_reason: 7 });
    assert.equal(bad.status, 400);
    assert.equal((await getRefund(created.body.id)).body.status, 'pending');
  });
});

describe('card refunds and disputes', () => {
  test('a fully refunded payment cannot be disputed; a partly refunded one can', async () => {
    const full = await paid();
    await refund({ payment: full });
    const refused = await t.admin('POST', `/admin/cards/payments/${full}/dispute`);
    assert.equal(refused.status, 409);
    assert.match(refused.body.error.message, /fully refunded/);

    const partly = await paid();
    await refund({ payment: partly, amount: 2499 });
    const opened = await t.admin('POST', `/admin/cards/payments/${partly}/dispute`);
    assert.equal(opened.status, 200);
    assert.equal(opened.body.amount_refunded, 2499);
    assert.equal(opened.body.dispute.status, 'needs_response');
  });

  test('a dispute card refunded in full before its chargeback day is never disputed', async () => {
    const paymentId = await paid('4000000000000259');
    await refund({ payment: paymentId });
    t.advance(8 * DAY);
    const payment = (await t.call('cards', 'GET', `/cards/v1/payments/${paymentId}`)).body;
    assert.equal(payment.dispute, null);
    assert.equal(payment.amount_refunded, 2500);
  });
});

describe('card refunds: reset', () => {
  test('admin reset forgets refunds and their idempotency keys', async () => {
    const created = await refund({ payment: await paid() }, 'refund-key-reset');
    assert.equal((await getRefund(created.body.id)).status, 200);
    assert.equal((await t.admin('POST', '/admin/reset')).status, 200);
    assert.equal((await getRefund(created.body.id)).status, 404);
    assert.equal((await byKey('refund-key-reset')).status, 404);
  });
});
