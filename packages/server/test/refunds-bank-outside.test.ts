/**
 * Refunds made at the bank behind Rampart's back (its dashboard): whatever reference they
 * carry, even a deposit's id, their notices are no payment's news, and are set aside for a
 * person (`payment_not_found`) rather than applied to the deposit.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import type { TestApp } from './harness.ts';
import {
  advanceSimulator,
  approveAtBank,
  atBank,
  BANK_SETTLE_SECONDS,
  balance,
  bankDeposit,
  createPayment,
  processorIdOf,
  startCryptoApp,
  waitForStatus,
} from './payment-fixtures.ts';
import { eventually } from './webhooks-fixtures.ts';

/** The provider events Rampart recorded for this bank refund id. */
async function noticesOf(t: TestApp, refundId: string) {
  const { rows } = await t.db.query<{ processed: boolean; last_error: string | null; status: string }>(
    `SELECT processed_at IS NOT NULL AS processed, last_error, notice -> 'subject' -> 'outcome' ->> 'status' AS status
       FROM provider_events WHERE notice -> 'subject' ->> 'providerRef' = $1 ORDER BY received_at`,
    [refundId],
  );
  return rows;
}

describe('bank refunds made outside Rampart', async () => {
  const t = await startCryptoApp({
    fees: { deposit: { USD: { fixed: '1.00' } } },
    providers: {
      deposit: ['simbank', 'simcard', 'simcrypto'].map((provider) => ({ provider, blocked_jurisdictions: [] })),
      withdrawal: [{ provider: 'simbank', blocked_jurisdictions: [] }],
    },
  });

  test('a dashboard refund whose merchant_reference is the deposit id is set aside like any other, not absorbed by the deposit', async () => {
    const other = await bankDeposit(t, 'outside-other', '20.00');
    const same = await bankDeposit(t, 'outside-same', '20.00');
    // Refunded at the bank behind Rampart's back: once under an unrelated reference, once
    // under the payment's own merchant_reference (the Rampart deposit id).
    const a = await atBank(t, 'POST', '/bank/v1/refunds', {
      payment_id: await processorIdOf(t, other, 'bank'),
      amount: '20.00',
      merchant_reference: 'dashboard-refund-x',
    });
    const b = await atBank(t, 'POST', '/bank/v1/refunds', {
      payment_id: await processorIdOf(t, same, 'bank'),
      amount: '20.00',
      merchant_reference: same,
    });
    assert.deepEqual([a.status, b.status], [201, 201]);
    await advanceSimulator(t, BANK_SETTLE_SECONDS);
    const refA = String(a.body['refund_id']);
    const refB = String(b.body['refund_id']);
    await eventually(
      'both notices tried',
      async () => [...(await noticesOf(t, refA)), ...(await noticesOf(t, refB))],
      (rows) => rows.length >= 4 && rows.every((r) => r.processed || r.last_error !== null),
    );
    const notA = await noticesOf(t, refA);
    const notB = await noticesOf(t, refB);
    // The money went back to the payer in both cases; the user keeps the credit in both.
    assert.deepEqual([await balance(t, 'outside-other'), await balance(t, 'outside-same')], [1900n, 1900n]);
    // The unrelated one is set aside for a person (payment_not_found)…
    assert.ok(
      notA.every((r) => r.last_error === 'payment_not_found'),
      JSON.stringify(notA),
    );
    // …and so should the one naming the deposit: it is not the deposit's news.
    assert.ok(
      notB.every((r) => r.last_error === 'payment_not_found'),
      `refund notices applied to deposit ${same} as its own: ${JSON.stringify(notB)}`,
    );
  });

  test('a failed dashboard refund notice naming a deposit whose settlement Rampart has not heard yet leaves it as it is', async () => {
    const response = await createPayment(t, {
      user_id: 'outside-fail',
      method: 'bank',
      amount: '30.00',
      instrument: {},
    });
    assert.equal(response.statusCode, 201, response.body);
    const id = response.json().id as string;
    assert.equal((await approveAtBank(response.json().next_action.url)).status, 303);
    await waitForStatus(t, id, ['processing']);
    // The settlement webhook is late (Rampart's endpoint unreachable a while): Rampart still says processing.
    const targets = await fetch(`${t.simulator!.url}/admin/webhook-targets/bank`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'http://127.0.0.1:9/nowhere' }),
    });
    assert.equal(targets.ok, true);
    await advanceSimulator(t, BANK_SETTLE_SECONDS);
    const bankId = await processorIdOf(t, id, 'bank');
    assert.equal((await atBank(t, 'GET', `/bank/v1/payments/${bankId}`)).body['status'], 'SETTLED');
    // A part refunded in the bank's dashboard under the payment's own merchant_reference, which fails.
    const made = await atBank(t, 'POST', '/bank/v1/refunds', {
      payment_id: bankId,
      amount: '5.00',
      merchant_reference: id,
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const failed = await fetch(`${t.simulator!.url}/admin/bank/refunds/${made.body['refund_id']}/fail`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status_reason: 'ACCOUNT_CLOSED' }),
    });
    assert.equal(failed.status, 200);
    const refundNow = (await atBank(t, 'GET', `/bank/v1/refunds/${made.body['refund_id']}`)).body;
    // The bank's REFUND_STATUS_CHANGED notice, as it sends it once Rampart is reachable again.
    const body = JSON.stringify({
      notification_id: 'bntf_outside_1',
      notification_type: 'REFUND_STATUS_CHANGED',
      created_at: new Date().toISOString(),
      data: refundNow,
    });
    const ts = Math.floor(Date.now() / 1000);
    const sig = `t=${ts},v1=${createHmac('sha256', 'whsec_sim_bank').update(`${ts}.${body}`).digest('hex')}`;
    const sent = await fetch(`${t.url}/v1/provider-webhooks/simbank`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sim-signature': sig },
      body,
    });
    assert.equal(sent.status, 200, await sent.text());
    await eventually(
      'notice tried',
      async () =>
        (
          await t.db.query<{ done: boolean; last_error: string | null }>(
            `SELECT processed_at IS NOT NULL AS done, last_error FROM provider_events WHERE event_id = 'bntf_outside_1'`,
          )
        ).rows[0],
      (row) => row !== undefined && (row.done || row.last_error !== null),
    );
    const deposit = (await t.app.inject({ method: 'GET', url: `/v1/payments/${id}`, headers: t.auth })).json();
    assert.equal(deposit.status, 'processing', `the bank settled deposit ${id}; a refund's failure is not its news`);
  });
});
