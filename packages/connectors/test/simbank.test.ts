import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProviderNotice, ProviderOutcome, ProviderRequest } from '@rampart/core';
import { createTestDatabase } from '../../server/test/harness.ts';
import { CircuitBreaker } from '../src/circuit-breaker.ts';
import { SimBankConnector } from '../src/simbank/simbank.ts';
import { providerRequest, uniqueId } from './conformance.ts';
import { seedOperator, startSandbox } from './sandbox.ts';

const sandbox = await startSandbox();
const { db } = await createTestDatabase();
const people = await seedOperator(db);
const connector = new SimBankConnector(sandbox.options('bank', { breaker: new CircuitBreaker({ threshold: 1_000 }) }));
const HOUR = 3_600;

/** A bank request in USD of a new user, as payments make one, under a new payment id. */
function bankRequest(
  kind: ProviderRequest['kind'],
  amount: bigint,
  instrument: Record<string, unknown> = {},
): Promise<ProviderRequest> {
  return providerRequest(people, {
    kind,
    method: 'bank',
    amount,
    instrument,
    returnUrl: 'https://operator.example/return',
  });
}

/** A bank deposit through the connector, approved by its user at the bank and settled an hour later. */
async function settledDeposit(amount = 2500n): Promise<ProviderOutcome> {
  const pending = await connector.payIn(await bankRequest('deposit', amount));
  assert.equal(pending.nextAction?.type, 'redirect');
  const approved = await fetch((pending.nextAction as { url: string }).url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=u&password=p&decision=approve',
    redirect: 'manual',
  });
  assert.equal(approved.status, 303);
  sandbox.sim.admin.advanceClock(HOUR);
  const settled = await connector.fetch(pending.providerRef, 'deposit');
  assert.equal(settled.status, 'completed');
  return settled;
}

/** A refund of `amount` of the payment the bank knows as `providerRef`, as payments ask for one. */
async function refund(providerRef: string, amount: bigint, reason?: string) {
  const request = await bankRequest('refund', amount, { payment: providerRef, ...(reason ? { reason } : {}) });
  return { paymentId: request.paymentId, request, answer: connector.payOut(request) };
}

/** What the connector maps the bank's webhooks about one refund to, oldest first. */
async function subjectsFor(refundId: string): Promise<ProviderNotice['subject'][]> {
  await sandbox.webhooksDelivered();
  return sandbox
    .deliveries('bank')
    .filter((d) => JSON.parse(d.raw).data.refund_id === refundId)
    .map((d) => connector.readWebhook(d.headers, d.raw).subject);
}

/** The bank's record of a refund, as its API answers it. */
async function atBank(refundId: string) {
  const response = await fetch(`${sandbox.sim.url}/bank/v1/refunds/${refundId}`, {
    headers: { 'x-bank-api-key': 'sk_test_bank' },
  });
  return (await response.json()) as Record<string, unknown>;
}

describe('simbank refunds', () => {
  test('bank refunds are offered, for bank payments alone', () => {
    assert.equal(connector.refunds('bank'), true);
    for (const method of ['card', 'ach', 'crypto'] as const) assert.equal(connector.refunds(method), false, method);
  });

  test('a refund is processing until the bank sends it, then found completed by its id and by Rampart’s', async () => {
    const deposit = await settledDeposit();
    const { paymentId, answer } = await refund(deposit.providerRef, 1000n, 'requested_by_customer');
    const pending = await answer;
    assert.deepEqual(pending, { providerRef: pending.providerRef, status: 'processing', nextAction: null });
    assert.match(pending.providerRef, /^bref_/);
    const sent = await atBank(pending.providerRef);
    assert.deepEqual(
      [sent['payment_id'], sent['amount'], sent['reason'], sent['merchant_reference'], sent['metadata']],
      [deposit.providerRef, '10.00', 'REQUESTED_BY_CUSTOMER', paymentId, { rampart_payment_id: paymentId }],
    );
    assert.deepEqual(await connector.lookup(paymentId, 'refund'), pending);

    sandbox.sim.admin.advanceClock(HOUR);
    const paid = { providerRef: pending.providerRef, status: 'completed' as const, nextAction: null };
    assert.deepEqual(await connector.fetch(pending.providerRef, 'refund'), paid);
    assert.deepEqual(await connector.lookup(paymentId, 'refund'), paid);
    assert.equal(await connector.lookup(uniqueId('pay'), 'refund'), null);
    assert.equal(await connector.lookup(paymentId, 'deposit'), null, 'a refund is no payment');
  });

  test('its webhooks name Rampart’s payment and map to processing, then completed', async () => {
    const { paymentId, answer } = await refund((await settledDeposit()).providerRef, 2500n);
    const { providerRef } = await answer;
    sandbox.sim.admin.advanceClock(HOUR);
    const subjects = await subjectsFor(providerRef);
    assert.deepEqual(
      subjects,
      (['processing', 'completed'] as const).map((status) => ({
        type: 'payment',
        providerRef,
        paymentId,
        outcome: { providerRef, status, nextAction: null },
      })),
    );
  });

  test('one the bank fails later (…05, or by hand) maps to refund_failed with the bank’s reason', async () => {
    const deposit = await settledDeposit();
    const magic = await refund(deposit.providerRef, 1005n);
    const closed = await magic.answer;
    const byHand = await (await refund(deposit.providerRef, 500n)).answer;
    const failed = await fetch(`${sandbox.sim.url}/admin/bank/refunds/${byHand.providerRef}/fail`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status_reason: 'BENEFICIARY_ACCOUNT_BLOCKED' }),
    });
    assert.equal(failed.status, 200);
    sandbox.sim.admin.advanceClock(HOUR);
    assert.deepEqual((await subjectsFor(closed.providerRef)).at(-1), {
      type: 'payment',
      providerRef: closed.providerRef,
      paymentId: magic.paymentId,
      outcome: {
        providerRef: closed.providerRef,
        status: 'failed',
        nextAction: null,
        failure: { code: 'refund_failed', details: { provider_code: 'ACCOUNT_CLOSED' } },
      },
    });
    assert.deepEqual((await connector.fetch(byHand.providerRef, 'refund')).failure, {
      code: 'refund_failed',
      details: { provider_code: 'BENEFICIARY_ACCOUNT_BLOCKED' },
    });
  });

  test('a refusal of a refund the bank already made (its key forgotten) answers that refund', async () => {
    const deposit = await settledDeposit();
    const first = await refund(deposit.providerRef, 2500n);
    const made = await first.answer;
    // The same refund sent again under another key: the bank has nothing left to refund.
    const again = await connector.payOut({ ...first.request, idempotencyKey: uniqueId('key') });
    assert.deepEqual(again, made);
  });

  test('a refund the bank refuses (more than is left, not settled, unknown) fails with refund_failed, nothing thrown', async () => {
    const deposit = await settledDeposit();
    const tooMuch = await (await refund(deposit.providerRef, 2501n)).answer;
    assert.deepEqual(
      [tooMuch.status, tooMuch.failure],
      ['failed', { code: 'refund_failed', details: { provider_code: 'AMOUNT_EXCEEDS_REFUNDABLE' } }],
    );
    const unsettled = await connector.payIn(await bankRequest('deposit', 2500n));
    const early = await (await refund(unsettled.providerRef, 100n)).answer;
    assert.deepEqual(early.failure, { code: 'refund_failed', details: { provider_code: 'INVALID_STATE' } });
    const unknown = await (await refund('bpay_unknown', 100n)).answer;
    assert.deepEqual(unknown.failure, { code: 'refund_failed', details: { provider_code: 'NOT_FOUND' } });
  });

  test('a refund without the payment refunded is refused before anything is sent', async () => {
    const request = await bankRequest('refund', 100n, {});
    await assert.rejects(connector.payOut(request), { code: 'missing_parameter' });
    assert.equal(
      sandbox.sim.admin.requests({ provider: 'bank', idempotency_key: request.paymentId }).length,
      0,
      'nothing reached the bank',
    );
  });
});
