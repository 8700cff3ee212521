import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, startTestSimulator, submitPage } from './harness.ts';

const t = await startTestSimulator();
const HOUR = 3600;

let references = 0;
async function createPayment(amount: string, extra: Record<string, unknown> = {}) {
  const answer = await t.call('bank', 'POST', '/bank/v1/payments', {
    amount,
    currency: 'USD',
    merchant_reference: `dep_${++references}`,
    return_url: 'https://operator.example/return?from=bank',
    ...extra,
  });
  assert.equal(answer.status, 201, answer.text);
  return answer.body;
}

const getPayment = async (id: string) => (await t.call('bank', 'GET', `/bank/v1/payments/${id}`)).body;

async function approve(payment: { redirect_url: string }) {
  const { submitted } = await submitPage(payment.redirect_url, { name: 'decision', value: 'approve' });
  assert.equal(submitted.status, 303);
  return new URL(submitted.headers.get('location')!);
}

describe('pay-by-bank payments', () => {
  test('a payment is created pending authorisation with a redirect to the hosted bank page', async () => {
    const payment = await createPayment('25.00');
    assert.match(payment.payment_id, /^bpay_/);
    assert.equal(payment.status, 'PENDING_AUTHORIZATION');
    assert.equal(payment.amount, '25.00');
    assert.equal(payment.redirect_url, `${t.url}/bank/authorize/${payment.payment_id}`);
    const page = await fetch(payment.redirect_url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    const html = await page.text();
    assert.match(html, /<form method="post" action="\/bank\/authorize\/bpay_/);
    assert.match(html, /name="username"/);
    assert.match(html, /value="approve"/);
    assert.match(html, /value="decline"/);
  });

  test('approving on the bank page redirects to return_url, authorises, then settles after the settle delay', async () => {
    const payment = await createPayment('25.00');
    const location = await approve(payment);
    assert.equal(location.origin + location.pathname, 'https://operator.example/return');
    assert.equal(location.searchParams.get('from'), 'bank');
    assert.equal(location.searchParams.get('payment_id'), payment.payment_id);
    assert.equal(location.searchParams.get('status'), 'AUTHORIZED');
    const authorized = await getPayment(payment.payment_id);
    assert.equal(authorized.status, 'AUTHORIZED');
    assert.equal(authorized.bank_account.account_holder, 'sandbox-user');
    t.advance(HOUR);
    const settled = await getPayment(payment.payment_id);
    assert.equal(settled.status, 'SETTLED');
    assert.notEqual(settled.settled_at, null);
    const statuses = await eventually(() => {
      const seen = t.receiver
        .accepted('/bank')
        .filter((w) => (w.body['data'] as { payment_id: string }).payment_id === payment.payment_id)
        .map((w) => (w.body['data'] as { status: string }).status);
      return seen.length === 3 && seen;
    });
    assert.deepEqual(statuses, ['PENDING_AUTHORIZATION', 'AUTHORIZED', 'SETTLED']);
  });

  test('declining on the bank page declines the payment with USER_DECLINED', async () => {
    const payment = await createPayment('30.00');
    const { submitted } = await submitPage(payment.redirect_url, { name: 'decision', value: 'decline' });
    assert.equal(new URL(submitted.headers.get('location')!).searchParams.get('status'), 'DECLINED');
    const declined = await getPayment(payment.payment_id);
    assert.equal(declined.status, 'DECLINED');
    assert.equal(declined.status_reason, 'USER_DECLINED');
  });

  test('the bank page refuses to log in without credentials', async () => {
    const payment = await createPayment('30.00');
    const response = await fetch(payment.redirect_url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=&password=&decision=approve',
    });
    assert.equal(response.status, 400);
    assert.match(await response.text(), /Enter your user ID and password/);
    assert.equal((await getPayment(payment.payment_id)).status, 'PENDING_AUTHORIZATION');
  });

  test('amount …01: the bank declines with INSUFFICIENT_FUNDS after the user approves', async () => {
    const payment = await createPayment('4.01');
    assert.equal((await approve(payment)).searchParams.get('status'), 'DECLINED');
    const declined = await getPayment(payment.payment_id);
    assert.equal(declined.status, 'DECLINED');
    assert.equal(declined.status_reason, 'INSUFFICIENT_FUNDS');
  });

  test('amount …02: the create call answers 500 once, and the retry with the same key succeeds once', async () => {
    const body = {
      amount: '4.02',
      currency: 'USD',
      merchant_reference: 'once-1',
      return_url: 'https://operator.example/r',
    };
    const first = await t.call('bank', 'POST', '/bank/v1/payments', body, { idempotencyKey: 'bank-once-1' });
    assert.equal(first.status, 500);
    assert.equal(first.body.error_code, 'INTERNAL_ERROR');
    const second = await t.call('bank', 'POST', '/bank/v1/payments', body, { idempotencyKey: 'bank-once-1' });
    assert.equal(second.status, 201);
    const third = await t.call('bank', 'POST', '/bank/v1/payments', body, { idempotencyKey: 'bank-once-1' });
    assert.equal(third.body.payment_id, second.body.payment_id);
    const created = t.sim.admin.requests({ idempotency_key: 'bank-once-1' }).filter((r) => r.created_id);
    assert.equal(created.length, 1);
  });

  test('amount …03: the create call answers 500 every time', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const answer = await t.call('bank', 'POST', '/bank/v1/payments', {
        amount: '4.03',
        currency: 'USD',
        merchant_reference: 'always',
        return_url: 'https://operator.example/r',
      });
      assert.equal(answer.status, 500);
      assert.equal(answer.body.error_code, 'INTERNAL_ERROR');
    }
  });

  test('amount …04: the payment is authorised and never settles, not even 90 days later', async () => {
    const payment = await createPayment('4.04');
    await approve(payment);
    t.advance(90 * 24 * HOUR);
    assert.equal((await getPayment(payment.payment_id)).status, 'AUTHORIZED');
  });

  test('amount …05: the payment is authorised, then FAILED at settlement with SETTLEMENT_REJECTED', async () => {
    const payment = await createPayment('4.05');
    await approve(payment);
    assert.equal((await getPayment(payment.payment_id)).status, 'AUTHORIZED');
    t.advance(HOUR);
    const failed = await getPayment(payment.payment_id);
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.status_reason, 'SETTLEMENT_REJECTED');
  });

  test('amount …06: the bank page and the lightbox script fail to load with 500', async () => {
    const payment = await createPayment('4.06');
    const page = await fetch(payment.redirect_url);
    assert.equal(page.status, 500);
    const script = await fetch(`${t.url}/bank/lightbox.js?payment_id=${payment.payment_id}`);
    assert.equal(script.status, 500);
    const healthy = await createPayment('4.00');
    const healthyScript = await fetch(`${t.url}/bank/lightbox.js?payment_id=${healthy.payment_id}`);
    assert.equal(healthyScript.status, 200);
    assert.match(healthyScript.headers.get('content-type')!, /javascript/);
    assert.match(await healthyScript.text(), /SandboxBankLightbox/);
  });

  test('amount …07: the bank errors during the flow and the payment FAILS with BANK_ERROR', async () => {
    const payment = await createPayment('4.07');
    assert.equal((await approve(payment)).searchParams.get('status'), 'FAILED');
    const failed = await getPayment(payment.payment_id);
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.status_reason, 'BANK_ERROR');
  });

  test('a payment nobody authorises expires after 30 minutes', async () => {
    const payment = await createPayment('12.00');
    t.advance(29 * 60);
    assert.equal((await getPayment(payment.payment_id)).status, 'PENDING_AUTHORIZATION');
    t.advance(60);
    const expired = await getPayment(payment.payment_id);
    assert.equal(expired.status, 'EXPIRED');
    assert.equal(expired.status_reason, 'AUTHORIZATION_TIMEOUT');
  });

  test('a pending payment can be cancelled once; cancelling again answers INVALID_STATE', async () => {
    const payment = await createPayment('13.00');
    const cancelled = await t.call('bank', 'POST', `/bank/v1/payments/${payment.payment_id}/cancel`);
    assert.equal(cancelled.body.status, 'CANCELLED');
    const again = await t.call('bank', 'POST', `/bank/v1/payments/${payment.payment_id}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error_code, 'INVALID_STATE');
  });

  test('errors are in the bank format: missing key, bad amount, unknown payment, unknown route', async () => {
    const unauthorised = await t.call('bank', 'POST', '/bank/v1/payments', { amount: '1.00' }, { auth: false });
    assert.equal(unauthorised.status, 401);
    assert.equal(unauthorised.body.error_code, 'UNAUTHORIZED');
    assert.match(unauthorised.body.trace_id, /^trc_/);
    const invalid = await t.call('bank', 'POST', '/bank/v1/payments', {
      amount: 10,
      currency: 'USD',
      merchant_reference: 'x',
      return_url: 'https://operator.example/r',
    });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.error_code, 'INVALID_PARAMETER');
    assert.equal(invalid.body.parameter, 'amount');
    const missing = await t.call('bank', 'GET', '/bank/v1/payments/bpay_nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error_code, 'NOT_FOUND');
    const route = await t.call('bank', 'GET', '/bank/v1/nothing-here');
    assert.equal(route.body.error_code, 'ROUTE_NOT_FOUND');
    const malformed = await fetch(`${t.url}/bank/v1/payments`, {
      method: 'POST',
      headers: { 'x-bank-api-key': 'k', 'content-type': 'application/json' },
      body: '{"amount":',
    });
    assert.equal(malformed.status, 400);
    assert.equal(((await malformed.json()) as { error_code: string }).error_code, 'MALFORMED_REQUEST');
  });
});

describe('pay-by-bank payouts', () => {
  let n = 0;
  const payout = (amount: string, bankAccount: Record<string, string> = {}) =>
    t.call('bank', 'POST', '/bank/v1/payouts', {
      amount,
      currency: 'USD',
      merchant_reference: `wd_${++n}`,
      bank_account: {
        holder_name: 'Ada Lovelace',
        account_number: '000123456789',
        routing_number: '110000000',
        ...bankAccount,
      },
    });
  const getPayout = async (id: string) => (await t.call('bank', 'GET', `/bank/v1/payouts/${id}`)).body;

  test('a payout is PROCESSING, then PAID after the settle delay', async () => {
    const created = await payout('50.00');
    assert.equal(created.status, 201);
    assert.match(created.body.payout_id, /^bpo_/);
    assert.equal(created.body.status, 'PROCESSING');
    assert.equal(created.body.bank_account.account_last4, '6789');
    t.advance(HOUR);
    const paid = await getPayout(created.body.payout_id);
    assert.equal(paid.status, 'PAID');
    assert.notEqual(paid.paid_at, null);
  });

  test('a payout to an IBAN is accepted; a bad IBAN or routing number is INVALID_PARAMETER on that field', async () => {
    const iban = await t.call('bank', 'POST', '/bank/v1/payouts', {
      amount: '10.00',
      currency: 'EUR',
      merchant_reference: 'iban-1',
      bank_account: { holder_name: 'Ada', iban: 'DE89 3704 0044 0532 0130 00' },
    });
    assert.equal(iban.status, 201);
    const badIban = await t.call('bank', 'POST', '/bank/v1/payouts', {
      amount: '10.00',
      currency: 'EUR',
      merchant_reference: 'iban-2',
      bank_account: { holder_name: 'Ada', iban: 'DE89370400440532013001' },
    });
    assert.equal(badIban.body.parameter, 'bank_account.iban');
    const badRouting = await payout('10.00', { routing_number: '123456789' });
    assert.equal(badRouting.status, 400);
    assert.equal(badRouting.body.parameter, 'bank_account.routing_number');
  });

  test('amount …01: the payout is refused with 422 INSUFFICIENT_BALANCE', async () => {
    const refused = await payout('20.01');
    assert.equal(refused.status, 422);
    assert.equal(refused.body.error_code, 'INSUFFICIENT_BALANCE');
  });

  test('amount …04: the payout stays PROCESSING forever', async () => {
    const created = await payout('20.04');
    t.advance(30 * 24 * HOUR);
    assert.equal((await getPayout(created.body.payout_id)).status, 'PROCESSING');
  });

  test('amount …05: the payout FAILS after the settle delay with ACCOUNT_CLOSED', async () => {
    const created = await payout('20.05');
    t.advance(HOUR);
    const failed = await getPayout(created.body.payout_id);
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.status_reason, 'ACCOUNT_CLOSED');
  });

  test('payout webhooks carry PAYOUT_STATUS_CHANGED with the payout', async () => {
    const created = await payout('21.00');
    t.advance(HOUR);
    const statuses = await eventually(() => {
      const seen = t.receiver
        .accepted('/bank')
        .filter((w) => w.body['notification_type'] === 'PAYOUT_STATUS_CHANGED')
        .filter((w) => (w.body['data'] as { payout_id: string }).payout_id === created.body.payout_id)
        .map((w) => (w.body['data'] as { status: string }).status);
      return seen.length === 2 && seen;
    });
    assert.deepEqual(statuses, ['PROCESSING', 'PAID']);
  });
});
