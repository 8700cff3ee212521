import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorOf, startTestApp } from './harness.ts';
import { BANK_ACCOUNT, balance, CARD_OK, createPayment, openForPayments, waitForStatus } from './payment-fixtures.ts';

describe('the sandbox providers’ magic values through payments', async () => {
  const t = await startTestApp({ sandbox: { settleDelayMs: 50 } });
  await openForPayments(t);

  const declines: [string, string][] = [
    ['4000000000009995', 'insufficient_funds'],
    ['4000000000000036', 'do_not_honor'],
    ['4000000000000069', 'expired_card'],
    ['4000000000009979', 'stolen_card'],
    ['4000000000009987', 'lost_card'],
    ['4000000000004954', 'fraudulent'],
    ['4000000000000127', 'incorrect_cvc'],
  ];
  for (const [card, decline] of declines) {
    test(`card ${card} is declined (${decline}): deposit_failed, payment failed, nothing credited`, async () => {
      const user = `decline-${decline}`;
      const response = await createPayment(t, {
        user_id: user,
        amount: '10.00',
        instrument: { ...CARD_OK, card_number: card },
      });
      assert.equal(response.statusCode, 402, response.body);
      const error = errorOf(response);
      assert.equal(error.code, 'deposit_failed');
      assert.equal(error.details['reason'], 'payment_declined');
      assert.equal(error.details['decline_code'], decline);
      assert.equal(await balance(t, user), 0n);
    });
  }

  /** A pay-by-bank deposit the user approves at the bank; the amount's cents pick what the bank does next. */
  async function bankDeposit(user: string, amount: string) {
    const payment = (await createPayment(t, { user_id: user, method: 'bank', amount })).json();
    assert.equal(payment.status, 'pending');
    const page = await fetch(payment.next_action.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=u&password=p&decision=approve',
      redirect: 'manual',
    });
    assert.equal(page.status, 303);
    return payment;
  }

  test('bank …01: declined for insufficient funds after the user approves → failed with deposit_failed', async () => {
    const payment = await bankDeposit('bank-01', '20.01');
    const failed = await waitForStatus(t, payment.id, ['failed']);
    assert.equal(failed.failure.code, 'deposit_failed');
    assert.equal(await balance(t, 'bank-01'), 0n);
  });

  test('bank …05: accepted, then rejected at settlement → failed', async () => {
    const payment = await bankDeposit('bank-05', '20.05');
    const failed = await waitForStatus(t, payment.id, ['failed']);
    assert.equal(failed.failure.code, 'deposit_failed');
  });

  test('bank …07: the bank fails during the flow → failed with provider_error', async () => {
    const payment = await bankDeposit('bank-07', '20.07');
    const failed = await waitForStatus(t, payment.id, ['failed']);
    assert.equal(failed.failure.code, 'provider_error');
  });

  test('bank …04: authorised but never settled → stays processing and credits nothing (finalize: payment-status.test.ts)', async () => {
    const payment = await bankDeposit('bank-04', '20.04');
    await waitForStatus(t, payment.id, ['processing']);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await waitForStatus(t, payment.id, ['processing'])).status, 'processing');
    assert.equal(await balance(t, 'bank-04'), 0n);
  });

  test('bank …02: the first create answers 500; Rampart’s one retry with the same key succeeds, one payment at the bank', async () => {
    const response = await createPayment(t, { user_id: 'bank-02', method: 'bank', amount: '20.02' });
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    assert.equal(payment.status, 'pending');
    const log = await (
      await fetch(`${t.simulator!.url}/admin/requests?provider=bank&idempotency_key=${payment.id}`)
    ).json();
    assert.equal(log.requests.filter((r: { created_id: string | null }) => r.created_id).length, 1);
  });

  test('bank …03: every create answers 500 → upstream_error, retryable', async () => {
    const response = await createPayment(t, { user_id: 'bank-03', method: 'bank', amount: '20.03' });
    assert.equal(response.statusCode, 502);
    assert.equal(errorOf(response).retryable, true);
  });

  test('bank payout …05 (account closed) fails the withdrawal and frees the hold', async () => {
    await createPayment(t, { user_id: 'payout-05', amount: '50.00' });
    const response = await createPayment(t, {
      user_id: 'payout-05',
      kind: 'withdrawal',
      method: 'bank',
      amount: '10.05',
      instrument: BANK_ACCOUNT,
    });
    const failed = await waitForStatus(t, response.json().id, ['failed']);
    assert.equal(failed.failure.code, 'withdrawal_failed');
    assert.equal(await balance(t, 'payout-05'), 5000n);
  });

  const verdicts: [string, string, string][] = [
    ['card-reverify@example.com', 'reverification_required', 'verification_url'],
    ['card-kyc@example.com', 'kyc_required', 'kyc_url'],
    ['card-blocked@example.com', 'customer_blocked', 'reason'],
  ];
  for (const [email, code, detail] of verdicts) {
    test(`the card processor's verdict for ${email} answers ${code}`, async () => {
      const user = email.split('@')[0]!;
      await t.app.inject({ method: 'PUT', url: `/v1/users/${user}`, headers: t.auth, payload: { email } });
      const response = await createPayment(t, { user_id: user, amount: '10.00' });
      assert.equal(response.statusCode, 403, response.body);
      const error = errorOf(response);
      assert.equal(error.code, code);
      if (detail !== 'reason') assert.match(String(error.details[detail]), /^http/);
      assert.equal(await balance(t, user), 0n);
    });
  }
});
