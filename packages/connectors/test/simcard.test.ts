import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProviderNotice, ProviderOutcome, ProviderRequest } from '@rampart/core';
import { createTestDatabase } from '../../server/test/harness.ts';
import { DEFAULT_WEBHOOK_SECRETS, signatureHeader } from '../../simulator/src/index.ts';
import { CircuitBreaker } from '../src/circuit-breaker.ts';
import { SimCardConnector } from '../src/simcard/simcard.ts';
import { providerRequest, uniqueId } from './conformance.ts';
import { type Delivery, seedOperator, startSandbox, thrownBy } from './sandbox.ts';

const sandbox = await startSandbox();
const { db } = await createTestDatabase();
const people = await seedOperator(db);
const connector = new SimCardConnector(sandbox.options('cards', { breaker: new CircuitBreaker({ threshold: 1_000 }) }));
const DAY = 86_400;

/** A card request in USD of a new user, as payments make one, under a new payment id. */
function cardRequest(
  kind: ProviderRequest['kind'],
  amount: bigint,
  instrument: Record<string, unknown>,
): Promise<ProviderRequest> {
  return providerRequest(people, { kind, method: 'card', amount, instrument, returnUrl: null });
}

/** A card deposit through the connector, as payments make it. */
async function cardDeposit(number: string): Promise<ProviderOutcome> {
  const instrument = { card_number: number, exp_month: 12, exp_year: 2099, cvc: '123' };
  const outcome = await connector.payIn(await cardRequest('deposit', 2500n, instrument));
  assert.equal(outcome.status, 'completed');
  return outcome;
}

/** The webhooks the processor delivered about one payment, oldest first. */
async function deliveriesFor(providerRef: string): Promise<Delivery[]> {
  await sandbox.webhooksDelivered();
  return sandbox.deliveries('cards').filter((d) => JSON.parse(d.raw).data.object.id === providerRef);
}

/** What the connector maps each of them to. */
async function subjectsFor(providerRef: string): Promise<ProviderNotice['subject'][]> {
  return (await deliveriesFor(providerRef)).map((d) => connector.readWebhook(d.headers, d.raw).subject);
}

/** The dispute notices among them, without the id the processor gave the dispute. */
async function disputesFor(providerRef: string) {
  const subjects = await subjectsFor(providerRef);
  const disputes = subjects.filter((subject) => subject.type === 'dispute');
  assert.equal(new Set(disputes.map((dispute) => dispute.disputeId)).size, 1, 'one dispute throughout');
  assert.match(disputes[0]!.disputeId, /^dp_/);
  return {
    types: subjects.map((subject) => subject.type),
    disputes: disputes.map(({ disputeId: _, ...rest }) => rest),
  };
}

/** A card event as the tests alter it: every dispute field may go missing. */
interface CardEvent {
  type: string;
  data: {
    object: { object: string; dispute?: { id?: string; reason?: string; status: string } | null };
  };
}

describe('simcard webhooks: card disputes', () => {
  test('a dispute card’s chargeback maps to dispute notices, open then lost, never to a payment status', async () => {
    const outcome = await cardDeposit('4000000000000259');
    sandbox.sim.admin.advanceClock(8 * DAY);
    const { types, disputes } = await disputesFor(outcome.providerRef);
    assert.deepEqual(types, ['payment', 'dispute', 'dispute']);
    // The whole payment is disputed, and the payment itself succeeded: what a late notice of its success would say.
    const completed = { providerRef: outcome.providerRef, status: 'completed', nextAction: null };
    const dispute = { type: 'dispute', providerRef: outcome.providerRef, reason: 'fraudulent', amount: '2500' };
    assert.deepEqual(disputes, [
      { ...dispute, status: 'open', outcome: completed },
      { ...dispute, status: 'lost', outcome: completed },
    ]);
  });

  test('4000000000002685’s dispute maps to open, then won', async () => {
    const outcome = await cardDeposit('4000000000002685');
    sandbox.sim.admin.advanceClock(8 * DAY);
    const { disputes } = await disputesFor(outcome.providerRef);
    assert.deepEqual(
      disputes.map((dispute) => dispute.status),
      ['open', 'won'],
    );
  });

  test('a dispute opened and decided by hand carries its reason through', async () => {
    const outcome = await cardDeposit('4242424242424242');
    const admin = `${sandbox.sim.url}/admin/cards/payments/${outcome.providerRef}/dispute`;
    const post = (url: string, body: unknown) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post(admin, { reason: 'product_not_received' })).status, 200);
    assert.equal((await post(`${admin}/close`, { status: 'won' })).status, 200);
    const { disputes } = await disputesFor(outcome.providerRef);
    assert.deepEqual(
      disputes.map((dispute) => [dispute.status, dispute.reason]),
      [
        ['open', 'product_not_received'],
        ['won', 'product_not_received'],
      ],
    );
  });

  describe('a dispute event the connector cannot read is validation_error, never guessed', () => {
    /** The body of the processor's own `type` event about a disputed payment, for altering. */
    async function genuine(type: string): Promise<CardEvent> {
      const outcome = await cardDeposit('4000000000000259');
      sandbox.sim.admin.advanceClock(8 * DAY);
      const delivery = (await deliveriesFor(outcome.providerRef)).find((d) => JSON.parse(d.raw).type === type);
      return JSON.parse(delivery!.raw);
    }
    /** Reads a body signed now with the processor's secret, as if it had sent it. */
    const read = (body: unknown) => {
      const raw = JSON.stringify(body);
      const header = signatureHeader(DEFAULT_WEBHOOK_SECRETS.cards, Math.floor(Date.now() / 1000), raw);
      return connector.readWebhook({ 'x-sim-signature': header }, raw);
    };
    const alterations: [string, (payment: CardEvent['data']['object']) => void][] = [
      ['no dispute on the payment', (payment) => delete payment.dispute],
      ['a null dispute', (payment) => (payment.dispute = null)],
      ['an unknown dispute status', (payment) => (payment.dispute!.status = 'under_review')],
      ['a dispute without its id', (payment) => delete payment.dispute!.id],
      ['a dispute without its reason', (payment) => delete payment.dispute!.reason],
      ['a dispute on an ACH debit', (payment) => (payment.object = 'ach_debit')],
    ];

    for (const type of ['payment.dispute_created', 'payment.dispute_closed']) {
      test(`${type}: the genuine event is read; altered, it is refused`, async () => {
        const event = await genuine(type);
        assert.equal(read(event).subject.type, 'dispute');
        for (const [name, alter] of alterations) {
          const altered = structuredClone(event);
          alter(altered.data.object);
          const error = thrownBy(() => read(altered));
          assert.equal(error.code, 'validation_error', name);
          assert.deepEqual(
            (error.details['issues'] as { field: string }[]).map((issue) => issue.field),
            ['data.object.dispute'],
            name,
          );
        }
      });
    }

    test('a dispute status the event cannot carry (a decision on dispute_created, an open one on dispute_closed)', async () => {
      const created = await genuine('payment.dispute_created');
      created.data.object.dispute!.status = 'won';
      assert.equal(thrownBy(() => read(created)).code, 'validation_error');
      const closed = await genuine('payment.dispute_closed');
      closed.data.object.dispute!.status = 'needs_response';
      assert.equal(thrownBy(() => read(closed)).code, 'validation_error');
    });
  });
});

describe('simcard refunds', () => {
  /** A refund of `amount` of the payment the processor knows as `providerRef`, as payments ask for one. */
  async function refund(providerRef: string, amount: bigint) {
    const request = await cardRequest('refund', amount, { payment: providerRef });
    return { paymentId: request.paymentId, request, answer: connector.payOut(request) };
  }

  test('card refunds are offered; a refund is paid at once, and found again by its id and by Rampart’s', async () => {
    assert.equal(connector.refunds('card'), true);
    assert.equal(connector.refunds('ach'), false);
    const deposit = await cardDeposit('4242424242424242');
    const { paymentId, answer } = await refund(deposit.providerRef, 1000n);
    const outcome = await answer;
    assert.equal(outcome.status, 'completed');
    assert.match(outcome.providerRef, /^re_/);
    assert.deepEqual(await connector.fetch(outcome.providerRef, 'refund', 'card'), outcome);
    assert.deepEqual(await connector.lookup(paymentId, 'refund', 'card'), outcome);
    assert.equal(await connector.lookup(uniqueId('pay'), 'refund', 'card'), null);
  });

  test('a refund paid later is processing, and its webhooks name Rampart’s payment; one failing later maps to refund_failed', async () => {
    const later = await refund((await cardDeposit('4000000000005126')).providerRef, 2500n);
    const pending = await later.answer;
    assert.equal(pending.status, 'processing');
    sandbox.sim.admin.advanceClock(DAY);
    const subjects = await subjectsFor(pending.providerRef);
    assert.deepEqual(subjects.at(-1), {
      type: 'payment',
      providerRef: pending.providerRef,
      paymentId: later.paymentId,
      outcome: {
        providerRef: pending.providerRef,
        status: 'failed',
        nextAction: null,
        failure: { code: 'refund_failed', details: { provider_code: 'expired_or_canceled_card' } },
      },
    });
  });

  test('a refusal of a refund the processor already made (its key forgotten) answers that refund, paid', async () => {
    const deposit = await cardDeposit('4242424242424242');
    const first = await refund(deposit.providerRef, 2500n);
    const paid = await first.answer;
    assert.equal(paid.status, 'completed');
    // The same refund sent again under another key: the processor has nothing left to refund.
    const again = await connector.payOut({
      ...first.request,
      instrument: { payment: deposit.providerRef, reason: 'duplicate' },
      idempotencyKey: uniqueId('key'),
    });
    assert.deepEqual(again, paid);
  });

  test('a refund the processor refuses (disputed, more than is left) fails with refund_failed, nothing thrown', async () => {
    const deposit = await cardDeposit('4242424242424242');
    const tooMuch = await (await refund(deposit.providerRef, 2501n)).answer;
    assert.deepEqual(
      [tooMuch.status, tooMuch.failure],
      ['failed', { code: 'refund_failed', details: { provider_code: 'amount_too_large' } }],
    );
    const opened = await fetch(`${sandbox.sim.url}/admin/cards/payments/${deposit.providerRef}/dispute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'fraudulent' }),
    });
    assert.equal(opened.status, 200);
    const disputed = await (await refund(deposit.providerRef, 100n)).answer;
    assert.deepEqual(disputed.failure, { code: 'refund_failed', details: { provider_code: 'charge_disputed' } });
  });
});
