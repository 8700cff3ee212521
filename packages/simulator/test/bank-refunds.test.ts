import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_WEBHOOK_SECRETS, verifySignature } from '../src/index.ts';
import { eventually, startTestSimulator, submitPage } from './harness.ts';

const t = await startTestSimulator();
const HOUR = 3600;

let references = 0;
/** A payment the user approved at the bank, SETTLED an hour (the settle delay) later. */
async function settled(amount = '25.00', currency = 'USD'): Promise<string> {
  const created = await t.call('bank', 'POST', '/bank/v1/payments', {
    amount,
    currency,
    merchant_reference: `dep_${++references}`,
    return_url: 'https://operator.example/return',
  });
  assert.equal(created.status, 201, created.text);
  const { submitted } = await submitPage(created.body.redirect_url, { name: 'decision', value: 'approve' });
  assert.equal(submitted.status, 303);
  t.advance(HOUR);
  const payment = await getPayment(created.body.payment_id);
  assert.equal(payment.status, 'SETTLED');
  return payment.payment_id;
}
const getPayment = async (id: string) => (await t.call('bank', 'GET', `/bank/v1/payments/${id}`)).body;
const amountRefunded = async (id: string): Promise<string> => (await getPayment(id)).amount_refunded;
const refund = (body: Record<string, unknown>, idempotencyKey?: string) =>
  t.call(
    'bank',
    'POST',
    '/bank/v1/refunds',
    { merchant_reference: `ref_${++references}`, ...body },
    idempotencyKey ? { idempotencyKey } : {},
  );
const getRefund = (id: string) => t.call('bank', 'GET', `/bank/v1/refunds/${id}`);
const byReference = (reference: string) => t.call('bank', 'GET', `/bank/v1/refunds/by_reference/${reference}`);
const adminDecide = (id: string, to: 'fail' | 'succeed', body?: unknown) =>
  t.admin('POST', `/admin/bank/refunds/${id}/${to}`, body);

/** The refund's webhooks once `count` arrived. */
const refundWebhooks = (id: string, count: number) =>
  eventually(() => {
    const found = t.receiver
      .accepted('/bank')
      .filter((w) => (w.body['data'] as { refund_id?: string }).refund_id === id);
    return found.length === count && found;
  });

describe('bank refunds: create', () => {
  test('a refund of a SETTLED payment is PENDING, then SUCCEEDED after the settle delay, with a signed webhook for each', async () => {
    const paymentId = await settled();
    const created = await refund({
      payment_id: paymentId,
      amount: '25.00',
      merchant_reference: 'rp_whole',
      metadata: { rampart_payment_id: 'rp_whole' },
    });
    assert.equal(created.status, 201, created.text);
    assert.match(created.body.refund_id, /^bref_[0-9a-z]+$/);
    const { created_at: createdAt, updated_at: updatedAt, ...rest } = created.body;
    assert.deepEqual(rest, {
      refund_id: created.body.refund_id,
      payment_id: paymentId,
      status: 'PENDING',
      status_reason: null,
      amount: '25.00',
      currency: 'USD',
      reason: null,
      merchant_reference: 'rp_whole',
      metadata: { rampart_payment_id: 'rp_whole' },
      succeeded_at: null,
    });
    assert.equal(updatedAt, createdAt);
    assert.equal(await amountRefunded(paymentId), '25.00', 'a pending refund counts');

    t.advance(HOUR - 1);
    assert.equal((await getRefund(created.body.refund_id)).body.status, 'PENDING');
    t.advance(1);
    const done = (await getRefund(created.body.refund_id)).body;
    assert.equal(done.status, 'SUCCEEDED');
    assert.equal(Date.parse(done.succeeded_at) - Date.parse(createdAt), HOUR * 1000);
    assert.equal(done.updated_at, done.succeeded_at);

    const webhooks = await refundWebhooks(created.body.refund_id, 2);
    assert.deepEqual(
      webhooks.map((w) => [w.body['notification_type'], (w.body['data'] as { status: string }).status]),
      [
        ['REFUND_STATUS_CHANGED', 'PENDING'],
        ['REFUND_STATUS_CHANGED', 'SUCCEEDED'],
      ],
    );
    assert.match(webhooks[0]!.body['notification_id'] as string, /^bntf_/);
    assert.deepEqual(webhooks[0]!.body['data'], created.body);
    assert.deepEqual(webhooks[1]!.body['data'], done);
    const nowSeconds = Math.floor(Date.now() / 1000);
    for (const webhook of webhooks) {
      const header = webhook.headers['x-sim-signature'] as string;
      assert.equal(verifySignature(header, webhook.raw, DEFAULT_WEBHOOK_SECRETS.bank, { nowSeconds }), true);
    }
    assert.equal(await amountRefunded(paymentId), '25.00');
    assert.equal((await getPayment(paymentId)).status, 'SETTLED', 'the payment itself does not move');
  });

  test('partial refunds add up to the payment; past what is left is 422 AMOUNT_EXCEEDS_REFUNDABLE', async () => {
    const paymentId = await settled('100.00');
    const first = await refund({ payment_id: paymentId, amount: '30.00', reason: 'REQUESTED_BY_CUSTOMER' });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.body.reason, 'REQUESTED_BY_CUSTOMER');
    const second = await refund({ payment_id: paymentId, amount: '69.99', reason: 'DUPLICATE' });
    assert.equal(second.status, 201, second.text);
    assert.notEqual(second.body.refund_id, first.body.refund_id);
    assert.equal(await amountRefunded(paymentId), '99.99');

    const tooMuch = await refund({ payment_id: paymentId, amount: '0.02' });
    assert.equal(tooMuch.status, 422);
    assert.equal(tooMuch.body.error_code, 'AMOUNT_EXCEEDS_REFUNDABLE');
    assert.equal(tooMuch.body.parameter, 'amount');
    assert.match(tooMuch.body.error_message, /0\.01 USD/);
    assert.match(tooMuch.body.trace_id, /^trc_/);

    const last = await refund({ payment_id: paymentId, amount: '0.01', reason: 'FRAUDULENT' });
    assert.equal(last.status, 201, last.text);
    assert.equal(await amountRefunded(paymentId), '100.00');
    assert.equal(
      (await refund({ payment_id: paymentId, amount: '0.01' })).body.error_code,
      'AMOUNT_EXCEEDS_REFUNDABLE',
    );
  });

  test('the refund is in the payment’s currency', async () => {
    const paymentId = await settled('30.00', 'EUR');
    const created = await refund({ payment_id: paymentId, amount: '12.00' });
    assert.deepEqual([created.body.currency, created.body.amount], ['EUR', '12.00']);
  });

  test('a payment not SETTLED is 409 INVALID_STATE: waiting for the user, authorised, declined', async () => {
    const pending = await t.call('bank', 'POST', '/bank/v1/payments', {
      amount: '20.00',
      currency: 'USD',
      merchant_reference: `dep_${++references}`,
      return_url: 'https://operator.example/return',
    });
    const onPending = await refund({ payment_id: pending.body.payment_id, amount: '1.00' });
    assert.equal(onPending.status, 409);
    assert.equal(onPending.body.error_code, 'INVALID_STATE');
    assert.match(onPending.body.error_message, /PENDING_AUTHORIZATION/);

    await submitPage(pending.body.redirect_url, { name: 'decision', value: 'approve' });
    const onAuthorized = await refund({ payment_id: pending.body.payment_id, amount: '1.00' });
    assert.equal(onAuthorized.status, 409);
    assert.match(onAuthorized.body.error_message, /AUTHORIZED/);
    assert.equal(await amountRefunded(pending.body.payment_id), '0.00');

    const declined = await t.call('bank', 'POST', '/bank/v1/payments', {
      amount: '20.00',
      currency: 'USD',
      merchant_reference: `dep_${++references}`,
      return_url: 'https://operator.example/return',
    });
    await submitPage(declined.body.redirect_url, { name: 'decision', value: 'decline' });
    assert.equal(
      (await refund({ payment_id: declined.body.payment_id, amount: '1.00' })).body.error_code,
      'INVALID_STATE',
    );
  });

  test('an unknown payment is 404 NOT_FOUND (parameter payment_id); so is an unknown refund', async () => {
    const missing = await refund({ payment_id: 'bpay_nope', amount: '1.00' });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error_code, 'NOT_FOUND');
    assert.equal(missing.body.parameter, 'payment_id');
    const unknown = await getRefund('bref_nope');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error_code, 'NOT_FOUND');
  });

  test('invalid fields are 400 INVALID_PARAMETER naming the field, and refund nothing', async () => {
    const paymentId = await settled();
    const cases: [Record<string, unknown>, string][] = [
      [{ amount: '0' }, 'amount'],
      [{ amount: '-1.00' }, 'amount'],
      [{ amount: '1.005' }, 'amount'],
      [{ amount: 10 }, 'amount'],
      [{ amount: undefined }, 'amount'],
      [{ reason: 'requested_by_customer' }, 'reason'],
      [{ metadata: { order: 42 } }, 'metadata'],
      [{ merchant_reference: undefined }, 'merchant_reference'],
      [{ merchant_reference: 'x'.repeat(101) }, 'merchant_reference'],
      [{ payment_id: 42 }, 'payment_id'],
    ];
    for (const [fields, parameter] of cases) {
      const answer = await refund({ payment_id: paymentId, amount: '1.00', ...fields });
      assert.equal(answer.status, 400, JSON.stringify(fields));
      assert.equal(answer.body.error_code, 'INVALID_PARAMETER', JSON.stringify(fields));
      assert.equal(answer.body.parameter, parameter, JSON.stringify(fields));
    }
    assert.equal(await amountRefunded(paymentId), '0.00');
  });
});

describe('bank refunds: idempotency and lookup by merchant_reference', () => {
  test('the same X-Idempotency-Key and body replays the same refund and refunds once', async () => {
    const paymentId = await settled();
    const body = { payment_id: paymentId, amount: '7.00', merchant_reference: 'rp_idem' };
    const first = await refund(body, 'bank-refund-key-1');
    const again = await refund(body, 'bank-refund-key-1');
    assert.equal(first.status, 201);
    assert.equal(again.status, 201);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body.refund_id, first.body.refund_id);
    assert.equal(await amountRefunded(paymentId), '7.00');
    const reused = await refund({ ...body, amount: '8.00' }, 'bank-refund-key-1');
    assert.equal(reused.status, 409);
    assert.equal(reused.body.error_code, 'IDEMPOTENCY_CONFLICT');
  });

  test('by_reference answers the latest refund with the merchant_reference as it is now; 404 for one never used', async () => {
    const paymentId = await settled();
    const created = await refund({ payment_id: paymentId, amount: '5.00', merchant_reference: 'rp_lookup' });
    const found = await byReference('rp_lookup');
    assert.equal(found.status, 200);
    assert.deepEqual(found.body, created.body);
    t.advance(HOUR);
    assert.equal((await byReference('rp_lookup')).body.status, 'SUCCEEDED');

    const never = await byReference('rp_never');
    assert.equal(never.status, 404);
    assert.equal(never.body.error_code, 'NOT_FOUND');
    const refused = await refund({ payment_id: 'bpay_nope', amount: '1.00', merchant_reference: 'rp_refused' });
    assert.equal(refused.status, 404);
    assert.equal((await byReference('rp_refused')).status, 404, 'a refused call created nothing');
    assert.equal(
      (await t.call('bank', 'GET', `/bank/v1/refunds/by_reference/${encodeURIComponent('dep_1')}`)).status,
      404,
      'a payment’s reference finds no refund',
    );
  });
});

describe('bank refunds: magic amounts and the admin routes', () => {
  test('amount …05: PENDING, then FAILED / ACCOUNT_CLOSED after the settle delay; its amount is refundable again', async () => {
    const paymentId = await settled('20.00');
    const created = await refund({ payment_id: paymentId, amount: '10.05' });
    assert.equal(created.body.status, 'PENDING');
    assert.equal(await amountRefunded(paymentId), '10.05');
    t.advance(HOUR);
    const failed = (await getRefund(created.body.refund_id)).body;
    assert.deepEqual([failed.status, failed.status_reason, failed.succeeded_at], ['FAILED', 'ACCOUNT_CLOSED', null]);
    const webhooks = await refundWebhooks(created.body.refund_id, 2);
    assert.deepEqual(webhooks[1]!.body['data'], failed);
    assert.equal(await amountRefunded(paymentId), '0.00');
    assert.equal((await refund({ payment_id: paymentId, amount: '20.00' })).status, 201);
  });

  test('admin succeeds a pending refund now; the clock later changes nothing; not pending is 409', async () => {
    const paymentId = await settled();
    const created = await refund({ payment_id: paymentId, amount: '9.05' });
    const succeeded = await adminDecide(created.body.refund_id, 'succeed');
    assert.equal(succeeded.status, 200);
    assert.deepEqual([succeeded.body.status, succeeded.body.status_reason], ['SUCCEEDED', null]);
    t.advance(HOUR);
    assert.equal((await getRefund(created.body.refund_id)).body.status, 'SUCCEEDED', 'magic …05 does not follow');
    const webhooks = await refundWebhooks(created.body.refund_id, 2);
    assert.deepEqual(webhooks[1]!.body['data'], succeeded.body);
    for (const to of ['succeed', 'fail'] as const) {
      const again = await adminDecide(created.body.refund_id, to);
      assert.equal(again.status, 409);
      assert.match(again.body.error.message, /refund is SUCCEEDED/);
    }
    assert.equal(await amountRefunded(paymentId), '9.05');
  });

  test('admin fails a pending refund with a status_reason (default UNKNOWN), giving its amount back', async () => {
    const paymentId = await settled();
    const first = await refund({ payment_id: paymentId, amount: '10.00' });
    const second = await refund({ payment_id: paymentId, amount: '10.00' });
    const failed = await adminDecide(first.body.refund_id, 'fail', { status_reason: 'BENEFICIARY_ACCOUNT_BLOCKED' });
    assert.equal(failed.status, 200);
    assert.deepEqual([failed.body.status, failed.body.status_reason], ['FAILED', 'BENEFICIARY_ACCOUNT_BLOCKED']);
    assert.equal((await adminDecide(second.body.refund_id, 'fail')).body.status_reason, 'UNKNOWN');
    assert.equal(await amountRefunded(paymentId), '0.00');
    t.advance(HOUR);
    assert.equal(
      (await getRefund(first.body.refund_id)).body.status,
      'FAILED',
      'the bank’s own outcome does not follow',
    );
  });

  test('admin answers 404 for an unknown refund and 400 for a bad status_reason', async () => {
    assert.equal((await adminDecide('bref_nope', 'succeed')).status, 404);
    assert.equal((await adminDecide('bref_nope', 'fail')).status, 404);
    const created = await refund({ payment_id: await settled(), amount: '1.00' });
    assert.equal((await adminDecide(created.body.refund_id, 'fail', { status_reason: 7 })).status, 400);
    assert.equal((await getRefund(created.body.refund_id)).body.status, 'PENDING');
  });

  test('admin reset forgets refunds and their references', async () => {
    const created = await refund({ payment_id: await settled(), amount: '1.00', merchant_reference: 'rp_reset' });
    assert.equal((await getRefund(created.body.refund_id)).status, 200);
    assert.equal((await t.admin('POST', '/admin/reset')).status, 200);
    assert.equal((await getRefund(created.body.refund_id)).status, 404);
    assert.equal((await byReference('rp_reset')).status, 404);
  });
});
