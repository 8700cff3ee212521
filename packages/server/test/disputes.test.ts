/**
 * Card disputes (chargebacks), end to end: the sandbox card processor opens and closes a
 * dispute on a completed card deposit, its signed webhook reaches Rampart over HTTP, and
 * Rampart records it on the payment; a lost one reverses the deposit.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startTestApp, type TestApp } from './harness.ts';
import {
  advanceSimulator,
  balance,
  CARD_3DS,
  CARD_OK,
  cardNetwork,
  createPayment,
  disputeOf,
  feesEarned,
  openForPayments,
  paidOut,
  processorIdOf,
  signedCardEvent,
  waitForStatus,
} from './payment-fixtures.ts';
import { eventually } from './webhooks-fixtures.ts';

const FEES = { deposit: { USD: { fixed: '1.00' } } };

function getPayment(t: TestApp, id: string) {
  return t.app.inject({ method: 'GET', url: `/v1/payments/${id}`, headers: t.auth });
}

/** Waits until the provider webhook `eventId` was tried and set aside for a person (`invalid_value`). */
function setAside(t: TestApp, eventId: string) {
  return eventually(
    `${eventId} set aside`,
    async () => (await t.db.query('SELECT last_error FROM provider_events WHERE event_id = $1', [eventId])).rows[0],
    (row) => row?.last_error === 'invalid_value',
  );
}

async function eventsOf(t: TestApp, paymentId: string) {
  const { rows } = await t.db.query<{ type: string; data: Record<string, unknown> }>(
    'SELECT type, data FROM events WHERE subject_id = $1 ORDER BY sequence',
    [paymentId],
  );
  return rows;
}

async function deposit(t: TestApp, userId: string, amount: string, card?: Record<string, unknown>) {
  const response = await createPayment(t, { user_id: userId, amount, ...(card ? { instrument: card } : {}) });
  assert.equal(response.json().status, 'completed', response.body);
  return response.json().id as string;
}

describe('card disputes (chargebacks)', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t, { fees: FEES });

  test('an open dispute is recorded on the payment and announced, and moves no money', async () => {
    const id = await deposit(t, 'disputed-open', '50.00');
    await cardNetwork(t, id, 'open', 'product_not_received');
    const payment = await disputeOf(t, id, 'open');
    assert.equal(payment.status, 'completed');
    assert.deepEqual([payment.dispute.reason, payment.dispute.closed_at], ['product_not_received', null]);
    assert.match(payment.dispute.id, /^dp_/);
    const timeline = (await t.app.inject({ method: 'GET', url: `/v1/payments/${id}`, headers: t.auth })).json()
      .timeline as { cause: string }[];
    assert.ok(timeline.some((step) => step.cause === 'disputed by the cardholder: product_not_received'));
    const disputed = (await eventsOf(t, id)).filter((e) => e.type === 'payment.disputed');
    assert.equal(disputed.length, 1);
    // The API shows the disputed amount in decimals beside minor units; events in minor units, as all their amounts.
    const { amount_minor, ...shown } = payment.dispute;
    assert.deepEqual([shown.amount, amount_minor], ['50.00', '5000']);
    assert.deepEqual(disputed[0]!.data['dispute'], { ...shown, amount: amount_minor });
    assert.equal(await balance(t, 'disputed-open'), 4900n, 'still credited, less the fee');
  });

  test('a dispute won leaves the payment and the balance as they were', async () => {
    const id = await deposit(t, 'disputed-won', '30.00');
    await cardNetwork(t, id, 'open');
    await disputeOf(t, id, 'open');
    await cardNetwork(t, id, 'won');
    const payment = await disputeOf(t, id, 'won');
    assert.equal(payment.status, 'completed');
    assert.ok(payment.dispute.closed_at);
    assert.deepEqual(
      (await eventsOf(t, id)).filter((e) => e.type.startsWith('payment.dispute')).map((e) => e.type),
      ['payment.disputed', 'payment.dispute_closed'],
    );
    assert.equal(await balance(t, 'disputed-won'), 2900n);
  });

  test('a dispute lost reverses the deposit: credit and fee go back, into debt if the user spent it; payment_charged_back', async () => {
    const id = await deposit(t, 'charged-back', '80.00');
    // The user withdraws most of it before the network decides.
    await paidOut(t, 'charged-back', '60.00');
    const feesBefore = await feesEarned(t);
    await cardNetwork(t, id, 'open');
    await disputeOf(t, id, 'open');
    await cardNetwork(t, id, 'lost');
    const payment = await waitForStatus(t, id, ['reversed']);
    assert.deepEqual([payment.dispute.status, payment.failure.code], ['lost', 'payment_charged_back']);
    assert.equal(payment.failure.message, 'chargeback: fraudulent');
    assert.equal(await balance(t, 'charged-back'), 1900n - 7900n, 'what was credited is taken back, into debt');
    assert.equal(feesBefore - (await feesEarned(t)), 100n, 'the fee went back with it');
    const types = (await eventsOf(t, id)).map((e) => e.type);
    assert.deepEqual(types.slice(-3), ['payment.disputed', 'payment.reversed', 'payment.dispute_closed']);
    const { rows } = await t.db.query(
      'SELECT sum(posted)::text AS total FROM ledger_accounts WHERE operator_id = $1 AND currency = $2',
      [t.operatorId, 'USD'],
    );
    assert.equal(rows[0]!.total, '0', 'the ledger still sums to zero');
  });

  test('news the payment has, or older than what it has, changes nothing', async () => {
    const id = await deposit(t, 'replayed-dispute', '20.00');
    await cardNetwork(t, id, 'open');
    await disputeOf(t, id, 'open');
    await cardNetwork(t, id, 'lost');
    await waitForStatus(t, id, ['reversed']);
    // The processor sends both webhooks again, the opening last; then, under new event ids
    // (as a processor that lost track of what it sent would), the closing and the opening.
    const ref = await processorIdOf(t, id);
    const { webhooks } = (await (await fetch(`${t.simulator!.url}/admin/webhooks?provider=cards`)).json()) as {
      webhooks: { type: string; subject: string; body: string }[];
    };
    const sent = webhooks.filter((w) => w.subject === ref && w.type.startsWith('payment.dispute_'));
    assert.deepEqual(
      sent.map((w) => w.type),
      ['payment.dispute_created', 'payment.dispute_closed'],
    );
    for (const webhook of sent.toReversed()) await signedCardEvent(t, webhook.body).deliver();
    for (const webhook of sent.toReversed()) {
      const event = JSON.parse(webhook.body) as { id: string };
      await signedCardEvent(t, JSON.stringify({ ...event, id: `${event.id}_again` })).deliver();
    }
    await eventually(
      'every copy applied',
      async () => {
        const { rows: applied } = await t.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM provider_events WHERE provider = 'simcard' AND processed_at IS NOT NULL
              AND notice->'subject'->>'providerRef' = $1 AND notice->'subject'->>'type' = 'dispute'`,
          [ref],
        );
        return applied[0]!.n;
      },
      (n) => n === 4,
    );
    const payment = (await getPayment(t, id)).json();
    assert.deepEqual([payment.status, payment.dispute.status], ['reversed', 'lost']);
    assert.equal(await balance(t, 'replayed-dispute'), 0n, 'reversed once');
    assert.equal((await eventsOf(t, id)).filter((e) => e.type.startsWith('payment.dispute')).length, 2);
  });

  test('a lost dispute Rampart hears of before the payment’s success completes it first, then reverses it', async () => {
    const created = await createPayment(t, { user_id: 'early-dispute', amount: '25.00', instrument: CARD_3DS });
    assert.equal(created.json().status, 'pending', created.body);
    const id = created.json().id as string;
    // The processor's word that a dispute of it was lost, before any word that it succeeded.
    await disputeWebhook(t, id, 'evt_early_lost', { id: 'dp_early', status: 'lost', amount: 2500 });
    const payment = await waitForStatus(t, id, ['reversed']);
    assert.deepEqual([payment.dispute.status, payment.failure.code], ['lost', 'payment_charged_back']);
    assert.equal(await balance(t, 'early-dispute'), 0n, 'credited, then taken back');
    const types = (await eventsOf(t, id)).map((e) => e.type);
    assert.deepEqual(types.slice(-3), ['payment.completed', 'payment.reversed', 'payment.dispute_closed']);
  });

  test('a new dispute after one won is applied; a dispute of a pay-out, or of more than the payment, is set aside', async () => {
    const id = await deposit(t, 'second-dispute', '30.00');
    await disputeWebhook(t, id, 'evt_first_won', { id: 'dp_first', status: 'won', amount: 3000 });
    await disputeOf(t, id, 'won');
    await disputeWebhook(t, id, 'evt_second_lost', { id: 'dp_second', status: 'lost', amount: 3000 });
    const payment = await waitForStatus(t, id, ['reversed']);
    assert.equal(payment.dispute.id, 'dp_second');

    const partial = await deposit(t, 'partial-dispute', '30.00');
    await disputeWebhook(t, partial, 'evt_more', { id: 'dp_more', status: 'lost', amount: 3001 });
    await setAside(t, 'evt_more');
    const untouched = (await getPayment(t, partial)).json();
    assert.deepEqual([untouched.status, untouched.dispute], ['completed', null]);
    assert.equal(await balance(t, 'partial-dispute'), 2900n);

    const payout = await createPayment(t, {
      user_id: 'partial-dispute',
      kind: 'withdrawal',
      method: 'card',
      amount: '10.00',
      instrument: CARD_OK,
    });
    assert.equal(payout.statusCode, 201, payout.body);
    await waitForStatus(t, payout.json().id, ['completed']);
    await disputeWebhook(t, payout.json().id, 'evt_payout', { id: 'dp_payout', status: 'lost', amount: 1000 });
    await setAside(t, 'evt_payout');
    assert.equal((await getPayment(t, payout.json().id)).json().status, 'completed');
    assert.equal(await balance(t, 'partial-dispute'), 1900n, 'paid out once, credited nothing back');
  });

  test('a dispute lost for part of a payment takes that part back, and its share of the fee: the payment stays completed', async () => {
    const id = await deposit(t, 'part-charged-back', '30.00');
    const feesBefore = await feesEarned(t);
    await disputeWebhook(t, id, 'evt_part_open', { id: 'dp_part', status: 'needs_response', amount: 1000 });
    await disputeOf(t, id, 'open');
    assert.equal(await balance(t, 'part-charged-back'), 2900n, 'nothing moves while it is open');
    await disputeWebhook(t, id, 'evt_part_lost', { id: 'dp_part', status: 'lost', amount: 1000 });
    const payment = await disputeOf(t, id, 'lost');
    assert.deepEqual(
      [payment.status, payment.failure, payment.dispute.amount, payment.dispute.amount_minor],
      ['completed', null, '10.00', '1000'],
    );
    // 10.00 of 30.00 goes back: its third of the 1.00 fee (0.33, rounded down) from the fees, the rest from the user.
    assert.equal(await balance(t, 'part-charged-back'), 2900n - 967n);
    assert.equal(feesBefore - (await feesEarned(t)), 33n);
    assert.ok(payment.timeline.some((step: { cause: string }) => step.cause === 'chargeback of 10.00 USD: fraudulent'));
    const types = (await eventsOf(t, id)).map((e) => e.type);
    assert.deepEqual(types.slice(-2), ['payment.disputed', 'payment.dispute_closed']);
    // Redelivered, nothing moves twice.
    await disputeWebhook(t, id, 'evt_part_lost_again', { id: 'dp_part', status: 'lost', amount: 1000 });
    await eventually(
      'applied',
      async () =>
        (await t.db.query('SELECT processed_at FROM provider_events WHERE event_id = $1', ['evt_part_lost_again']))
          .rows[0],
      (row) => row?.processed_at !== null && row !== undefined,
    );
    assert.equal(await balance(t, 'part-charged-back'), 2900n - 967n);
    const { rows } = await t.db.query(
      `SELECT t.id FROM ledger_transfers t JOIN ledger_entries e ON e.transfer_id = t.id
        GROUP BY t.id HAVING sum(e.amount) <> 0`,
    );
    assert.equal(rows.length, 0, 'every posting balances');
    // On the user's statement, the part taken back reads as a reversal of the deposit.
    const statement = await t.app.inject({
      method: 'GET',
      url: '/v1/users/part-charged-back/balance_transactions',
      headers: t.auth,
    });
    const latest = statement.json().data[0];
    assert.deepEqual([latest.type, latest.payment_id, latest.amount], ['reversal', id, '-9.67']);
    // Another dispute after part was charged back is for a person: what is left to take is not Rampart's to guess.
    await disputeWebhook(t, id, 'evt_part_second', { id: 'dp_second_part', status: 'lost', amount: 500 });
    await setAside(t, 'evt_part_second');
    assert.equal(await balance(t, 'part-charged-back'), 2900n - 967n);
  });

  test('a part charged back after the user spent the deposit is taken back into debt', async () => {
    const id = await deposit(t, 'part-spent', '30.00');
    await paidOut(t, 'part-spent', '25.00');
    await cardNetwork(t, id, 'open', 'product_not_received', 2000);
    await disputeOf(t, id, 'open');
    await cardNetwork(t, id, 'lost');
    const payment = await disputeOf(t, id, 'lost');
    assert.deepEqual([payment.status, payment.dispute.amount], ['completed', '20.00']);
    // 20.00 of 30.00: 0.66 of the 1.00 fee from the fees, 19.34 from the user's 4.00.
    assert.equal(await balance(t, 'part-spent'), 400n - 1934n);
    const refund = await t.app.inject({ method: 'POST', url: `/v1/payments/${id}/refunds`, headers: t.auth });
    assert.equal(refund.json().error.details.reason, 'disputed', 'nothing more goes back by refund');
  });

  test('the magic dispute card: opened a day after, lost a week later, on the processor’s clock', async () => {
    const id = await deposit(t, 'magic-dispute', '40.00', {
      card_number: '4000000000000259',
      exp_month: 12,
      exp_year: 2030,
      cvc: '123',
    });
    const advance = (seconds: number) => advanceSimulator(t, seconds);
    await advance(86_400);
    await disputeOf(t, id, 'open');
    await advance(7 * 86_400);
    const payment = await waitForStatus(t, id, ['reversed']);
    assert.equal(payment.failure.code, 'payment_charged_back');
  });
});

/**
 * The card processor's webhook that `paymentId`'s dispute is `dispute.status` (`lost`,
 * `won`; `needs_response` for an opening), as it would send it, signed.
 */
async function disputeWebhook(
  t: TestApp,
  paymentId: string,
  eventId: string,
  dispute: { id: string; status: string; amount: number },
) {
  const body = JSON.stringify({
    id: eventId,
    object: 'event',
    type: dispute.status === 'needs_response' ? 'payment.dispute_created' : 'payment.dispute_closed',
    data: {
      object: {
        id: await processorIdOf(t, paymentId),
        object: 'payment',
        amount: dispute.amount,
        status: 'succeeded',
        metadata: { rampart_payment_id: paymentId },
        next_action: null,
        failure_code: null,
        decline_code: null,
        failure_message: null,
        dispute: { ...dispute, reason: 'fraudulent', created: 1, closed_at: 2 },
      },
    },
  });
  assert.equal((await signedCardEvent(t, body).deliver()).received, true);
}
