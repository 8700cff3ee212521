import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProviderNotice, ProviderOutcome } from '@rampart/core';
import { createTestDatabase } from '../../server/test/harness.ts';
import { DEFAULT_WEBHOOK_SECRETS, signatureHeader } from '../../simulator/src/index.ts';
import { CircuitBreaker } from '../src/circuit-breaker.ts';
import { SimCardConnector } from '../src/simcard/simcard.ts';
import { uniqueId } from './conformance.ts';
import { type Delivery, seedOperator, startSandbox, thrownBy } from './sandbox.ts';

const sandbox = await startSandbox();
const { db } = await createTestDatabase();
const people = await seedOperator(db);
const connector = new SimCardConnector(sandbox.options('cards', { breaker: new CircuitBreaker({ threshold: 1_000 }) }));
const DAY = 86_400;

/** A card deposit through the connector, as payments make it. */
async function cardDeposit(number: string): Promise<ProviderOutcome> {
  const paymentId = uniqueId('pay');
  const outcome = await connector.payIn({
    paymentId,
    operatorId: people.operatorId,
    kind: 'deposit',
    method: 'card',
    amount: 2500n,
    currency: 'USD',
    network: null,
    user: await people.user(uniqueId('user')),
    returnUrl: null,
    instrument: { card_number: number, exp_month: 12, exp_year: 2099, cvc: '123' },
    idempotencyKey: paymentId,
  });
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
