/**
 * Refunds of pay-by-bank deposits, end to end: `POST /v1/payments/{id}/refunds` of a
 * bank deposit makes a refund payment, sent back through the sandbox bank over HTTP; it
 * waits, held, until the bank's signed webhook says the bank sent it (or failed it).
 * Deposits whose provider refunds nothing of their method (ACH debits, crypto) are not
 * refundable, and say why.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TestApp } from './harness.ts';
import {
  advanceSimulator,
  atBank,
  BANK_ACCOUNT,
  BANK_SETTLE_SECONDS,
  balance,
  bankDeposit,
  createPayment,
  feesEarned,
  held,
  processorIdOf,
  startCryptoApp,
  waitForStatus,
} from './payment-fixtures.ts';

/** The sandbox bank sends refunds a minute (simulated) after they are made, as it settles payments. */
const SETTLE_SECONDS = BANK_SETTLE_SECONDS;
const FEES = { deposit: { USD: { fixed: '1.00' } } };

function refund(t: TestApp, paymentId: string, payload: Record<string, unknown> = {}) {
  return t.app.inject({ method: 'POST', url: `/v1/payments/${paymentId}/refunds`, headers: t.auth, payload });
}

async function getPayment(t: TestApp, id: string) {
  return (await t.app.inject({ method: 'GET', url: `/v1/payments/${id}`, headers: t.auth })).json();
}

async function eventTypes(t: TestApp, paymentId: string): Promise<string[]> {
  const { rows } = await t.db.query<{ type: string }>(
    'SELECT type FROM events WHERE subject_id = $1 ORDER BY sequence',
    [paymentId],
  );
  return rows.map((row) => row.type);
}

/** Every transfer of the ledger balances to zero per currency. */
async function ledgerBalances(t: TestApp) {
  const { rowCount } = await t.db.query(
    `SELECT t.id FROM ledger_transfers t JOIN ledger_entries e ON e.transfer_id = t.id
      GROUP BY t.id, e.currency HAVING sum(e.amount) <> 0`,
  );
  assert.equal(rowCount, 0, 'every posting balances to zero');
}

async function notRefundableBecause(t: TestApp, paymentId: string): Promise<string> {
  const response = await refund(t, paymentId);
  assert.equal(response.statusCode, 409, response.body);
  assert.equal(response.json().error.code, 'payment_not_refundable');
  return response.json().error.details.reason;
}

describe('refunds of pay-by-bank deposits', async () => {
  // The crypto sandbox app: the bank settles a minute after approval, and crypto deposits can be made too.
  const t = await startCryptoApp({
    fees: FEES,
    providers: {
      deposit: ['simbank', 'simcard', 'simcrypto'].map((provider) => ({ provider, blocked_jurisdictions: [] })),
      withdrawal: [{ provider: 'simbank', blocked_jurisdictions: [] }],
    },
  });

  test('a whole refund is held until the bank sends it, then completes: the credit and the fee go back, payment.refunded', async () => {
    const id = await bankDeposit(t, 'bank-refund-whole', '50.00');
    assert.equal(await balance(t, 'bank-refund-whole'), 4900n);
    const feesBefore = await feesEarned(t);
    const response = await refund(t, id, { reason: 'requested_by_customer' });
    assert.equal(response.statusCode, 201, response.body);
    const made = response.json();
    assert.deepEqual(
      [made.kind, made.status, made.refund_of, made.amount, made.fee, made.method, made.provider],
      ['refund', 'processing', id, '50.00', '1.00', 'bank', 'simbank'],
    );
    assert.equal(await held(t, 'bank-refund-whole'), 4900n, 'held, less the fee it gives back');
    assert.equal((await getPayment(t, id)).amount_refunded, '0.00', 'counted once the bank sends it');

    const atTheBank = await atBank(t, 'GET', `/bank/v1/refunds/by_reference/${made.id}`);
    assert.equal(atTheBank.status, 200);
    assert.deepEqual(
      [atTheBank.body['payment_id'], atTheBank.body['amount'], atTheBank.body['reason'], atTheBank.body['status']],
      [await processorIdOf(t, id, 'bank'), '50.00', 'REQUESTED_BY_CUSTOMER', 'PENDING'],
    );

    await advanceSimulator(t, SETTLE_SECONDS);
    const done = await waitForStatus(t, made.id, ['completed']);
    assert.equal(done.kind, 'refund');
    assert.deepEqual([await balance(t, 'bank-refund-whole'), await held(t, 'bank-refund-whole')], [0n, 0n]);
    assert.equal(feesBefore - (await feesEarned(t)), 100n, 'the fee is given back');
    const deposit = await getPayment(t, id);
    assert.deepEqual([deposit.status, deposit.amount_refunded], ['completed', '50.00']);
    assert.ok(deposit.timeline.some((step: { cause: string }) => step.cause === `refunded 50.00 USD by ${made.id}`));
    assert.deepEqual(
      (await eventTypes(t, id)).filter((type) => type === 'payment.refunded'),
      ['payment.refunded'],
    );
    assert.deepEqual(await eventTypes(t, made.id), ['payment.created', 'payment.processing', 'payment.completed']);
    assert.equal(
      (await atBank(t, 'GET', `/bank/v1/payments/${await processorIdOf(t, id, 'bank')}`)).body['amount_refunded'],
      '50.00',
    );

    const again = await refund(t, id);
    assert.equal(again.statusCode, 409, again.body);
    assert.deepEqual(again.json().error.details, { payment_id: id, reason: 'fully_refunded', status: 'completed' });
    await ledgerBalances(t);
  });

  test('refunds in part add up to the deposit and never past it; the fee goes back in proportion', async () => {
    const id = await bankDeposit(t, 'bank-refund-parts', '100.00');
    const first = await refund(t, id, { amount: '30.00' });
    assert.equal(first.statusCode, 201, first.body);
    assert.deepEqual([first.json().amount, first.json().fee], ['30.00', '0.30']);

    const tooMuch = await refund(t, id, { amount: '70.01' });
    assert.equal(tooMuch.statusCode, 422, tooMuch.body);
    assert.equal(tooMuch.json().error.code, 'refund_exceeds_refundable');
    assert.equal(tooMuch.json().error.details.refundable, '70.00', 'a refund the bank has not sent yet counts');

    const rest = await refund(t, id);
    assert.equal(rest.statusCode, 201, rest.body);
    assert.deepEqual([rest.json().amount, rest.json().fee], ['70.00', '0.70']);
    assert.equal(await held(t, 'bank-refund-parts'), 9900n);
    await advanceSimulator(t, SETTLE_SECONDS);
    await waitForStatus(t, first.json().id, ['completed']);
    await waitForStatus(t, rest.json().id, ['completed']);
    assert.deepEqual([await balance(t, 'bank-refund-parts'), await held(t, 'bank-refund-parts')], [0n, 0n]);
    assert.equal((await getPayment(t, id)).amount_refunded, '100.00');
    assert.equal(await notRefundableBecause(t, id), 'fully_refunded');
    await ledgerBalances(t);
  });

  test('a refund the bank refuses (refunded already in its dashboard) answers 402 refund_failed, its hold freed', async () => {
    const id = await bankDeposit(t, 'bank-refund-refused', '18.00');
    // Refunded at the bank behind Rampart's back: the bank has nothing left to send.
    const elsewhere = await atBank(t, 'POST', '/bank/v1/refunds', {
      payment_id: await processorIdOf(t, id, 'bank'),
      amount: '18.00',
      merchant_reference: 'dashboard-refund-1',
    });
    assert.equal(elsewhere.status, 201);
    const response = await refund(t, id);
    assert.equal(response.statusCode, 402, response.body);
    const error = response.json().error;
    assert.deepEqual([error.code, error.retryable, error.type], ['refund_failed', false, 'declined']);
    assert.deepEqual([error.details.reason, error.details.provider], ['AMOUNT_EXCEEDS_REFUNDABLE', 'simbank']);
    const made = await getPayment(t, error.details.payment_id);
    assert.deepEqual(
      [made.kind, made.refund_of, made.status, made.failure.code],
      ['refund', id, 'failed', 'refund_failed'],
    );
    assert.deepEqual([await balance(t, 'bank-refund-refused'), await held(t, 'bank-refund-refused')], [1700n, 0n]);
    assert.equal((await getPayment(t, id)).amount_refunded, '0.00');
  });

  test('a refund the bank fails later (…05) frees its hold: refund_failed, and the deposit can be refunded again', async () => {
    const id = await bankDeposit(t, 'bank-refund-fails', '30.00');
    const made = (await refund(t, id, { amount: '10.05' })).json();
    assert.equal(made.status, 'processing');
    assert.equal(await held(t, 'bank-refund-fails'), 1005n - 33n);
    await advanceSimulator(t, SETTLE_SECONDS);
    const failed = await waitForStatus(t, made.id, ['failed']);
    assert.equal(failed.failure.code, 'refund_failed');
    assert.deepEqual([await balance(t, 'bank-refund-fails'), await held(t, 'bank-refund-fails')], [2900n, 0n]);
    assert.deepEqual(await eventTypes(t, made.id), ['payment.created', 'payment.processing', 'payment.failed']);
    const retry = await refund(t, id, { amount: '30.00' });
    assert.equal(retry.statusCode, 201, retry.body);
    assert.equal(retry.json().status, 'processing');
  });

  test('an ACH debit or a crypto deposit, completed, is not refundable: method_not_refundable', async () => {
    const ach = (
      await createPayment(t, {
        user_id: 'bank-refund-methods',
        method: 'ach',
        amount: '20.00',
        instrument: BANK_ACCOUNT,
      })
    ).json();
    assert.equal(ach.provider, 'simcard');
    const crypto = (
      await createPayment(t, {
        user_id: 'bank-refund-methods',
        method: 'crypto',
        currency: 'USDT',
        network: 'TRC20',
        amount: '50',
      })
    ).json();
    assert.equal(crypto.provider, 'simcrypto');
    // The ACH debit settles after the settle delay; the sandbox chain pays the watched address and confirms it.
    await advanceSimulator(t, 600);
    await waitForStatus(t, ach.id, ['completed']);
    await waitForStatus(t, crypto.id, ['completed'], 30_000);
    assert.equal(await notRefundableBecause(t, ach.id), 'method_not_refundable');
    assert.equal(await notRefundableBecause(t, crypto.id), 'method_not_refundable');
    const { rows } = await t.db.query('SELECT id FROM payments WHERE refund_of = ANY($1)', [[ach.id, crypto.id]]);
    assert.equal(rows.length, 0, 'no refund was made');
  });

  test('a withdrawal, or a refund, is not a deposit: not_a_deposit', async () => {
    await bankDeposit(t, 'bank-refund-kinds', '40.00');
    const withdrawal = (
      await createPayment(t, {
        user_id: 'bank-refund-kinds',
        kind: 'withdrawal',
        method: 'bank',
        amount: '10.00',
        instrument: BANK_ACCOUNT,
      })
    ).json();
    await advanceSimulator(t, SETTLE_SECONDS);
    await waitForStatus(t, withdrawal.id, ['completed']);
    assert.equal(await notRefundableBecause(t, withdrawal.id), 'not_a_deposit');

    const deposit = await bankDeposit(t, 'bank-refund-kinds', '5.00');
    const made = (await refund(t, deposit)).json();
    assert.equal(await notRefundableBecause(t, made.id), 'not_a_deposit');
  });
});
