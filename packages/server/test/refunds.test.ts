/**
 * Refunds of card deposits, end to end: `POST /v1/payments/{id}/refunds` makes a refund
 * payment, paid back through the sandbox card processor over HTTP; its answer or signed
 * webhook completes or fails it, and the ledger, the deposit and the events follow.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PROVIDER_EVENT_MAX_ATTEMPTS } from '@rampart/core';
import pg from 'pg';
import { databaseUrl, startTestApp, type TestApp } from './harness.ts';
import {
  advanceSimulator,
  balance,
  CARD_OK,
  cardNetwork,
  createPayment,
  disputeOf,
  feesEarned,
  held,
  openForPayments,
  paidOut,
  processorIdOf,
  signedCardEvent,
  waitForStatus,
} from './payment-fixtures.ts';
import { eventually } from './webhooks-fixtures.ts';

const FEES = { deposit: { USD: { fixed: '1.00' } } };
const REFUND_SUCCEEDS_LATER = { ...CARD_OK, card_number: '4000000000007726' };
const REFUND_FAILS_LATER = { ...CARD_OK, card_number: '4000000000005126' };

function refund(t: TestApp, paymentId: string, payload: Record<string, unknown> = {}, headers = {}) {
  return t.app.inject({
    method: 'POST',
    url: `/v1/payments/${paymentId}/refunds`,
    headers: { ...t.auth, ...headers },
    payload,
  });
}

function getPayment(t: TestApp, id: string) {
  return t.app.inject({ method: 'GET', url: `/v1/payments/${id}`, headers: t.auth });
}

async function deposit(t: TestApp, userId: string, amount: string, card: Record<string, unknown> = CARD_OK) {
  const response = await createPayment(t, { user_id: userId, amount, instrument: card });
  assert.equal(response.json().status, 'completed', response.body);
  return response.json().id as string;
}

async function eventsOf(t: TestApp, paymentId: string) {
  const { rows } = await t.db.query<{ type: string; data: Record<string, Record<string, unknown>> }>(
    'SELECT type, data FROM events WHERE subject_id = $1 ORDER BY sequence',
    [paymentId],
  );
  return rows;
}

/** Waits until `count` dispute webhooks of the payment were tried and set aside (`invalid_value`). */
async function disputesSetAside(t: TestApp, paymentId: string, count: number) {
  const ref = await processorIdOf(t, paymentId);
  await eventually(
    `${count} set aside`,
    async () =>
      (
        await t.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM provider_events
            WHERE notice -> 'subject' ->> 'providerRef' = $1 AND notice -> 'subject' ->> 'type' = 'dispute'
              AND last_error = 'invalid_value'`,
          [ref],
        )
      ).rows[0],
    (row) => row?.n === count,
  );
}

/** Every transfer of the ledger balances to zero per currency. */
async function ledgerBalances(t: TestApp) {
  const { rowCount } = await t.db.query(
    `SELECT t.id FROM ledger_transfers t JOIN ledger_entries e ON e.transfer_id = t.id
      GROUP BY t.id, e.currency HAVING sum(e.amount) <> 0`,
  );
  assert.equal(rowCount, 0, 'every posting balances to zero');
}

/** Waits until the provider event was tried (applied, or failed at least once). */
function tried(t: TestApp, eventId: string) {
  return eventually(
    `${eventId} tried`,
    async () =>
      (
        await t.db.query<{ processed: boolean; last_error: string | null }>(
          'SELECT processed_at IS NOT NULL AS processed, last_error FROM provider_events WHERE event_id = $1',
          [eventId],
        )
      ).rows[0],
    (row) => row !== undefined && (row.processed || row.last_error !== null),
  );
}

/** The processor's signed ACH return notice (R01) naming the payment, delivered and tried. */
async function achReturnOf(t: TestApp, paymentId: string, eventId: string) {
  const body = JSON.stringify({
    id: eventId,
    object: 'event',
    type: 'ach_debit.returned',
    data: {
      object: {
        id: await processorIdOf(t, paymentId),
        object: 'ach_debit',
        status: 'returned',
        return_code: 'R01',
        return_description: 'insufficient funds',
      },
    },
  });
  assert.equal((await signedCardEvent(t, body).deliver()).received, true);
  await tried(t, eventId);
}

/**
 * A 100.00 deposit by `card`, refunded 50.00 (under way at the processor), then disputed
 * and lost while the refund is: the loss set aside, not applied.
 */
async function chargebackLostWhileRefunding(t: TestApp, user: string, card: Record<string, unknown>) {
  const id = await deposit(t, user, '100.00', card);
  const made = (await refund(t, id, { amount: '50.00' })).json();
  assert.equal(made.status, 'processing');
  await cardNetwork(t, id, 'open');
  await disputeOf(t, id, 'open');
  await cardNetwork(t, id, 'lost');
  await disputesSetAside(t, id, 1);
  return { id, made };
}

describe('refunds of card deposits', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t, { fees: FEES });

  test('a whole refund pays the deposit back to its card: the credit and the fee go back, payment.refunded', async () => {
    const id = await deposit(t, 'refund-whole', '50.00');
    assert.equal(await balance(t, 'refund-whole'), 4900n);
    const feesBefore = await feesEarned(t);
    const response = await refund(t, id, { reason: 'requested_by_customer', metadata: { ticket: 'T-1' } });
    assert.equal(response.statusCode, 201, response.body);
    const made = response.json();
    assert.match(made.id, /^pay_/);
    assert.deepEqual(
      [made.kind, made.status, made.refund_of, made.amount, made.fee, made.method, made.provider],
      ['refund', 'completed', id, '50.00', '1.00', 'card', 'simcard'],
    );
    assert.deepEqual(made.metadata, { ticket: 'T-1' });
    assert.equal(made.destination.card_number_last4, '4242');
    assert.equal(made.destination.cvc, undefined, 'the card code is never copied');
    assert.equal(await balance(t, 'refund-whole'), 0n, 'what the deposit credited is debited');
    assert.equal(feesBefore - (await feesEarned(t)), 100n, 'the fee is given back');
    assert.equal(await held(t, 'refund-whole'), 0n);

    const after = (await getPayment(t, id)).json();
    assert.deepEqual([after.status, after.amount_refunded], ['completed', '50.00']);
    assert.ok(after.timeline.some((step: { cause: string }) => step.cause === `refunded 50.00 USD by ${made.id}`));
    const refunded = (await eventsOf(t, id)).filter((e) => e.type === 'payment.refunded');
    assert.equal(refunded.length, 1);
    const { timeline } = (await getPayment(t, made.id)).json();
    assert.equal(timeline[0].cause, `refund of ${id} (requested_by_customer)`);
    assert.equal(refunded[0]!.data['refund']!['id'], made.id);
    assert.equal(refunded[0]!.data['payment']!['amount_refunded'], '5000');
    assert.deepEqual(
      (await eventsOf(t, made.id)).map((e) => e.type),
      ['payment.created', 'payment.completed'],
    );

    const again = await refund(t, id);
    assert.equal(again.statusCode, 409, again.body);
    assert.equal(again.json().error.code, 'payment_not_refundable');
    assert.deepEqual(again.json().error.details, { payment_id: id, reason: 'fully_refunded', status: 'completed' });
    assert.equal(again.json().error.retryable, false);
    await ledgerBalances(t);
  });

  test('refunds in part add up to the deposit and never past it; the fee goes back in proportion', async () => {
    const id = await deposit(t, 'refund-parts', '100.00');
    const first = await refund(t, id, { amount: '30.00' });
    assert.equal(first.statusCode, 201, first.body);
    assert.deepEqual([first.json().amount, first.json().fee], ['30.00', '0.30']);
    assert.equal(await balance(t, 'refund-parts'), 9900n - 2970n);

    const tooMuch = await refund(t, id, { amount: '70.01' });
    assert.equal(tooMuch.statusCode, 422, tooMuch.body);
    assert.deepEqual([tooMuch.json().error.code, tooMuch.json().error.retryable], ['refund_exceeds_refundable', false]);
    assert.deepEqual(tooMuch.json().error.details, {
      payment_id: id,
      amount: '70.01',
      refundable: '70.00',
      currency: 'USD',
    });

    const rest = await refund(t, id);
    assert.equal(rest.statusCode, 201, rest.body);
    assert.deepEqual([rest.json().amount, rest.json().fee], ['70.00', '0.70']);
    assert.equal(await balance(t, 'refund-parts'), 0n);
    assert.equal((await getPayment(t, id)).json().amount_refunded, '100.00');

    const listed = await t.app.inject({ method: 'GET', url: `/v1/payments?refund_of=${id}`, headers: t.auth });
    assert.deepEqual(
      listed.json().data.map((p: { id: string }) => p.id),
      [rest.json().id, first.json().id],
    );
    const kinds = await t.app.inject({ method: 'GET', url: '/v1/payments?kind=refund&limit=100', headers: t.auth });
    assert.ok(kinds.json().data.every((p: { kind: string }) => p.kind === 'refund'));
    assert.ok(kinds.json().data.some((p: { id: string }) => p.id === first.json().id));
    await ledgerBalances(t);
  });

  test('refunds in thirds give the whole fee back between them, and debit the user exactly what was credited', async () => {
    const id = await deposit(t, 'refund-thirds', '100.00');
    const feesBefore = await feesEarned(t);
    const fees: string[] = [];
    for (const amount of ['33.33', '33.33', '33.34']) {
      const response = await refund(t, id, { amount });
      assert.equal(response.statusCode, 201, response.body);
      fees.push(response.json().fee);
    }
    assert.deepEqual(fees, ['0.33', '0.33', '0.34']);
    assert.equal(await balance(t, 'refund-thirds'), 0n);
    assert.equal(feesBefore - (await feesEarned(t)), 100n);
    await ledgerBalances(t);
  });

  test('a deposit whose fee took all it credited is refunded with nothing held: the fee alone goes back', async () => {
    const id = await deposit(t, 'refund-all-fee', '5.00');
    // As a pay-in whose fee was capped at what arrived leaves it (a card processor reporting a settled amount).
    await t.db.query('UPDATE payments SET fee = amount WHERE id = $1', [id]);
    const response = await refund(t, id);
    assert.equal(response.statusCode, 201, response.body);
    assert.deepEqual([response.json().status, response.json().fee], ['completed', '5.00']);
    const { rows } = await t.db.query('SELECT hold_id FROM payments WHERE id = $1', [response.json().id]);
    assert.equal(rows[0]!.hold_id, null);
    assert.equal(await balance(t, 'refund-all-fee'), 400n, 'the user is debited nothing');
  });

  test('no refund while a node of an earlier release is connected: service_unavailable (retryable)', async () => {
    const id = await deposit(t, 'refund-rolling', '10.00');
    // A node of the release before refunds, as its LISTEN connection shows it.
    const { rows } = await t.db.query<{ name: string }>('SELECT current_database() AS name');
    for (const name of ['rampart-listen', 'rampart']) {
      const earlier = new pg.Client({ connectionString: databaseUrl(rows[0]!.name), application_name: name });
      await earlier.connect();
      try {
        const response = await refund(t, id);
        assert.equal(response.statusCode, 503, `${name}: ${response.body}`);
        assert.deepEqual([response.json().error.code, response.json().error.retryable], ['service_unavailable', true]);
        assert.match(response.json().error.details.reason, /earlier release/);
      } finally {
        await earlier.end();
      }
    }
    const later = await refund(t, id);
    assert.equal(later.statusCode, 201, later.body);
  });

  test('a chargeback while a refund is under way is recorded open, its loss set aside: the card is not paid back twice', async () => {
    const { id, made } = await chargebackLostWhileRefunding(t, 'refund-then-chargeback', REFUND_SUCCEEDS_LATER);
    await advanceSimulator(t, 5);
    await waitForStatus(t, made.id, ['completed']);
    const after = (await getPayment(t, id)).json();
    assert.deepEqual([after.status, after.dispute.status, after.amount_refunded], ['completed', 'open', '50.00']);
    assert.equal(await balance(t, 'refund-then-chargeback'), 9900n - 4950n, 'debited for the refund alone');
    await ledgerBalances(t);
  });

  test('a refund completing after its deposit was reversed gives no fee back: the reversal gave all of it', async () => {
    const id = await deposit(t, 'refund-after-reversal', '20.00', REFUND_SUCCEEDS_LATER);
    const made = (await refund(t, id)).json();
    assert.deepEqual([made.status, made.fee], ['processing', '1.00']);
    // As a reversal that reached the deposit meanwhile would leave it (its ledger side is not the point here).
    await t.db.query("UPDATE payments SET status = 'reversed' WHERE id = $1", [id]);
    const feesBefore = await feesEarned(t);
    await advanceSimulator(t, 5);
    await waitForStatus(t, made.id, ['completed']);
    assert.equal(await feesEarned(t), feesBefore, 'no fee given back twice');
    assert.deepEqual([await balance(t, 'refund-after-reversal'), await held(t, 'refund-after-reversal')], [0n, 0n]);
    await ledgerBalances(t);
  });

  test('refunds at once never refund more than the deposit took', async () => {
    const id = await deposit(t, 'refund-race', '50.00');
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => refund(t, id, { amount: '10.00' }, { 'idempotency-key': `race-${i}` })),
    );
    const made = answers.filter((a) => a.statusCode === 201);
    assert.equal(made.length, 5, answers.map((a) => a.body).join('\n'));
    for (const refused of answers.filter((a) => a.statusCode !== 201)) {
      assert.ok(
        ['refund_exceeds_refundable', 'payment_not_refundable'].includes(refused.json().error.code),
        refused.body,
      );
    }
    assert.equal((await getPayment(t, id)).json().amount_refunded, '50.00');
    assert.equal(await balance(t, 'refund-race'), 0n);
    await ledgerBalances(t);
  });

  test('the same Idempotency-Key answers the same refund, made once', async () => {
    const id = await deposit(t, 'refund-idem', '20.00');
    const headers = { 'idempotency-key': 'refund-idem-1' };
    const first = await refund(t, id, { amount: '5.00' }, headers);
    const second = await refund(t, id, { amount: '5.00' }, headers);
    assert.equal(first.statusCode, 201, first.body);
    assert.equal(second.json().id, first.json().id);
    const { rows } = await t.db.query('SELECT id FROM payments WHERE refund_of = $1', [id]);
    assert.equal(rows.length, 1);
    const changed = await refund(t, id, { amount: '6.00' }, headers);
    assert.equal(changed.statusCode, 409);
    assert.equal(changed.json().error.code, 'idempotency_conflict');
  });

  test('a refund the user’s balance cannot cover is refused whole: insufficient_balance, nothing made or held', async () => {
    const id = await deposit(t, 'refund-spent', '40.00');
    await paidOut(t, 'refund-spent', '30.00');
    const response = await refund(t, id);
    assert.equal(response.statusCode, 402, response.body);
    assert.equal(response.json().error.code, 'insufficient_balance');
    const { rows } = await t.db.query('SELECT id FROM payments WHERE refund_of = $1', [id]);
    assert.equal(rows.length, 0, 'no refund was made');
    assert.equal(await held(t, 'refund-spent'), 0n);
    // What the balance still covers can be refunded.
    const part = await refund(t, id, { amount: '9.00' });
    assert.equal(part.statusCode, 201, part.body);
    assert.equal(await balance(t, 'refund-spent'), 900n - 878n);
  });

  test('a refund the processor pays later is held meanwhile, then completes on its webhook', async () => {
    const id = await deposit(t, 'refund-later', '25.00', REFUND_SUCCEEDS_LATER);
    const response = await refund(t, id);
    assert.equal(response.statusCode, 201, response.body);
    const made = response.json();
    assert.equal(made.status, 'processing');
    assert.equal(await held(t, 'refund-later'), 2400n, 'held, less the fee it gives back');
    assert.equal((await getPayment(t, id)).json().amount_refunded, '0.00', 'counted once it is paid');
    await advanceSimulator(t, 5);
    const done = await waitForStatus(t, made.id, ['completed']);
    assert.equal(done.kind, 'refund');
    assert.deepEqual([await balance(t, 'refund-later'), await held(t, 'refund-later')], [0n, 0n]);
    await eventually(
      'the deposit counts it',
      async () => (await getPayment(t, id)).json(),
      (deposit) => deposit.amount_refunded === '25.00',
    );
    await ledgerBalances(t);
  });

  test('a refund the processor fails later frees its hold: refund_failed, and the deposit can be refunded again', async () => {
    const id = await deposit(t, 'refund-fails', '25.00', REFUND_FAILS_LATER);
    const made = (await refund(t, id)).json();
    assert.equal(made.status, 'processing');
    await advanceSimulator(t, 5);
    const failed = await waitForStatus(t, made.id, ['failed']);
    assert.equal(failed.failure.code, 'refund_failed');
    assert.deepEqual([await balance(t, 'refund-fails'), await held(t, 'refund-fails')], [2400n, 0n]);
    const after = (await getPayment(t, id)).json();
    assert.deepEqual([after.status, after.amount_refunded], ['completed', '0.00']);
    assert.deepEqual(
      (await eventsOf(t, made.id)).map((e) => e.type),
      ['payment.created', 'payment.processing', 'payment.failed'],
    );
    // A failed refund does not count against what is refundable.
    const retry = await refund(t, id, { amount: '25.00' });
    assert.equal(retry.statusCode, 201, retry.body);
    assert.equal(retry.json().status, 'processing');
  });

  test('only a completed deposit without a dispute is refundable: payment_not_refundable says why', async () => {
    const reasons = async (paymentId: string) => {
      const response = await refund(t, paymentId);
      assert.equal(response.statusCode, 409, response.body);
      assert.equal(response.json().error.code, 'payment_not_refundable');
      return response.json().error.details.reason;
    };
    await deposit(t, 'refund-kinds', '30.00');
    const withdrawal = await paidOut(t, 'refund-kinds', '10.00');
    assert.equal(await reasons(withdrawal.id), 'not_a_deposit');

    const declined = await createPayment(t, {
      user_id: 'refund-kinds',
      amount: '10.00',
      instrument: { ...CARD_OK, card_number: '4000000000000002' },
    });
    assert.equal(declined.statusCode, 402, declined.body);
    assert.equal(await reasons(declined.json().error.details.payment_id), 'not_completed');

    const disputed = await deposit(t, 'refund-kinds', '15.00');
    await cardNetwork(t, disputed, 'open');
    await disputeOf(t, disputed, 'open');
    assert.equal(await reasons(disputed), 'disputed');

    const missing = await refund(t, 'pay_does_not_exist');
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'payment_not_found');
  });

  test('a dispute of a deposit refunded in part is recorded; lost, it is set aside for a person, not applied', async () => {
    const id = await deposit(t, 'refund-then-dispute', '30.00');
    assert.equal((await refund(t, id, { amount: '10.00' })).statusCode, 201);
    await cardNetwork(t, id, 'open');
    await disputeOf(t, id, 'open');
    await cardNetwork(t, id, 'lost');
    await disputesSetAside(t, id, 1);
    const after = (await getPayment(t, id)).json();
    assert.deepEqual([after.status, after.dispute.status, after.amount_refunded], ['completed', 'open', '10.00']);
    assert.equal(await balance(t, 'refund-then-dispute'), 2900n - 967n, 'debited for the refund alone');
  });

  test('a refund request reusing an Idempotency-Key after its stored answer was purged, for another amount, is a conflict, not answered with the earlier refund', async () => {
    const id = await deposit(t, 'audit-key-reuse', '50.00');
    const headers = { 'idempotency-key': 'audit-reuse-1' };
    const first = await refund(t, id, { amount: '10.00' }, headers);
    assert.equal(first.statusCode, 201, first.body);
    // The stored answer of the key ages out (RAMPART_IDEMPOTENCY_TTL_SECONDS) and the purge job runs.
    await t.db.query(`UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key = $1`, [
      'audit-reuse-1',
    ]);
    await t.app.jobs.find((job) => job.name === 'purge-idempotency-keys')!.run();
    const second = await refund(t, id, { amount: '30.00' }, headers);
    // A conflict, as a payment create answers a reused key: never the earlier 10.00 refund
    // answered as if it were the 30.00 one asked for.
    assert.equal(second.statusCode, 409, second.body);
    assert.equal(second.json().error.code, 'idempotency_conflict');
  });

  test('an ACH return notice naming a card deposit refunded in part does not take the refunded money (and fee) back a second time', async () => {
    const id = await deposit(t, 'audit-return-card', '100.00');
    const feesBefore = await feesEarned(t);
    const made = await refund(t, id, { amount: '40.00' });
    assert.equal(made.statusCode, 201, made.body);
    assert.deepEqual([made.json().status, made.json().fee], ['completed', '0.40']);
    const before = await balance(t, 'audit-return-card');
    assert.equal(before, 9900n - 3960n, 'credited 99.00, debited 39.60 by the refund');
    await achReturnOf(t, id, 'evt_audit_return_card');
    const after = (await getPayment(t, id)).json();
    const debited = before - (await balance(t, 'audit-return-card'));
    const feesGivenBack = feesBefore - (await feesEarned(t));
    await ledgerBalances(t);
    // A card payment has no ACH return: the notice should be set aside for a person (as a
    // dispute of a pay-out is). Were a reversal applied at all, it could take back only what
    // is still credited for the deposit (59.40) and the fee not yet given back (0.60).
    assert.ok(debited <= 5940n, `user debited ${debited} more after a refund (99.00 credited, 39.60 already refunded)`);
    assert.ok(feesGivenBack <= 100n, `fees given back ${feesGivenBack} of a 1.00 fee`);
    assert.equal(after.status, 'completed', `card deposit ${id} was ${after.status} by an ACH return notice`);
  });

  test('an ACH return notice naming a card payout already paid does not give the user the money back', async () => {
    const user = 'audit-return-payout';
    await deposit(t, user, '50.00');
    const payout = await createPayment(t, {
      user_id: user,
      kind: 'withdrawal',
      method: 'card',
      amount: '20.00',
      instrument: CARD_OK,
    });
    assert.equal(payout.statusCode, 201, payout.body);
    await waitForStatus(t, payout.json().id, ['completed']);
    const before = await balance(t, user);
    assert.equal(before, 4900n - 2000n);
    await achReturnOf(t, payout.json().id, 'evt_audit_return_payout');
    const after = (await getPayment(t, payout.json().id)).json();
    await ledgerBalances(t);
    assert.equal(await balance(t, user), before, `the paid-out 20.00 was credited back (payout now ${after.status})`);
  });

  test('bad refund requests get catalog errors', async () => {
    const id = await deposit(t, 'refund-bad', '10.00');
    for (const amount of ['0', '-1', '1.234', 'ten']) {
      const response = await refund(t, id, { amount });
      assert.equal(response.statusCode, 422, `${amount}: ${response.body}`);
      assert.equal(response.json().error.code, 'invalid_amount');
      assert.equal(response.json().error.details.field, 'amount');
    }
    const reason = await refund(t, id, { reason: 'because' });
    assert.equal(reason.statusCode, 400);
    assert.equal(reason.json().error.code, 'validation_error');
    const unknown = await refund(t, id, { amount: '1.00', card: '4242' });
    assert.equal(unknown.statusCode, 400);
    assert.equal(unknown.json().error.code, 'validation_error');
    assert.equal((await getPayment(t, id)).json().amount_refunded, '0.00');
  });
});

describe('a chargeback lost while a refund is pending at the processor', async () => {
  // Refunds stay pending for a minute at the processor (a bank's can take days).
  const t = await startTestApp({ sandbox: { settleDelayMs: 60_000 } });
  await openForPayments(t, { fees: FEES });

  test('set aside and given up on, it applies once the refund fails: what it took back is debited once', async () => {
    const user = 'chargeback-after-failed-refund';
    const { id, made } = await chargebackLostWhileRefunding(t, user, REFUND_FAILS_LATER);
    // Its retries spent, as they would be long before the refund fails.
    await t.db.query(
      `UPDATE provider_events SET attempts = $1
        WHERE notice -> 'subject' ->> 'type' = 'dispute' AND notice -> 'subject' ->> 'providerRef' = $2`,
      [PROVIDER_EVENT_MAX_ATTEMPTS, await processorIdOf(t, id)],
    );
    await advanceSimulator(t, 61);
    await waitForStatus(t, made.id, ['failed']);
    // The network took back the 50.00 not being refunded when the dispute opened, and its share of the fee.
    await disputeOf(t, id, 'lost');
    const after = (await getPayment(t, id)).json();
    assert.deepEqual([after.status, after.amount_refunded], ['completed', '0.00']);
    assert.equal(await balance(t, user), 9900n - 4950n, 'the chargeback taken from the credit, once');
    assert.equal(await held(t, user), 0n);
    await ledgerBalances(t);
  });
});

describe('refunds whose processor answer is lost', async () => {
  const t = await startTestApp({ sandbox: { settleDelayMs: 50, timeoutMs: 400, breakerThreshold: 100 } });
  await openForPayments(t);
  const simulator = (method: string, path: string, body?: unknown) =>
    fetch(`${t.simulator!.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  // No webhook ever arrives: only asking the processor can settle these refunds.
  assert.equal(
    (await simulator('PUT', '/admin/webhook-targets/cards', { url: 'http://127.0.0.1:9/nowhere' })).ok,
    true,
  );
  const fault = async (phase: 'before' | 'after') =>
    assert.equal(
      (
        await simulator('POST', '/admin/faults', {
          provider: 'cards',
          kind: 'timeout',
          phase,
          count: 1,
          hold_ms: 2_000,
        })
      ).status,
      201,
    );
  /** Runs reconciliation as if nothing had touched the refund for `quietFor`. */
  const reconcile = async (id: string, quietFor: string) => {
    await t.db.query('UPDATE payments SET updated_at = now() - $2::interval WHERE id = $1', [id, quietFor]);
    return t.app.jobs.find((job) => job.name === 'reconcile-payments')!.run();
  };
  const refundsMade = async (id: string) =>
    (
      (await (await simulator('GET', `/admin/requests?provider=cards&idempotency_key=${id}`)).json()) as {
        requests: { created_id: string | null; replayed: boolean }[];
      }
    ).requests.filter((r) => r.created_id && !r.replayed).length;

  /**
   * A refund whose processor call times out (`phase`: before or after the processor acts),
   * left pending, and then, as if its node had died mid-request, its key's claim still
   * running and lapsed: what a retry with the same key takes over.
   */
  const refundLeftByDeadNode = async (
    id: string,
    headers: { 'idempotency-key': string },
    phase: 'before' | 'after',
  ) => {
    await fault(phase);
    const first = (await refund(t, id, {}, headers)).json();
    assert.equal(first.status, 'pending');
    await t.db.query(
      `UPDATE idempotency_keys SET state = 'running', response_status = NULL, response_body = NULL,
              locked_until = now() - interval '1 minute' WHERE key = $1`,
      [headers['idempotency-key']],
    );
    return first;
  };

  test('a refund the processor made but whose answer was lost is found by Rampart’s id: paid back once', async () => {
    const id = await deposit(t, 'refund-unanswered', '16.00');
    await fault('after');
    const response = await refund(t, id);
    assert.equal(response.statusCode, 201, response.body);
    const made = response.json();
    assert.equal(made.status, 'pending', 'the outcome is unknown');
    assert.equal(await held(t, 'refund-unanswered'), 1600n, 'held while it is unknown');
    assert.equal(await reconcile(made.id, '1 minute'), 1);
    const done = await waitForStatus(t, made.id, ['completed']);
    assert.ok(done.timeline.some((step: { cause: string }) => /reconciled with simcard/.test(step.cause)));
    assert.deepEqual([await balance(t, 'refund-unanswered'), await held(t, 'refund-unanswered')], [0n, 0n]);
    assert.equal((await getPayment(t, id)).json().amount_refunded, '16.00');
    assert.equal(await refundsMade(made.id), 1, 'refunded once');
    await reconcile(made.id, '1 minute');
    assert.equal(await balance(t, 'refund-unanswered'), 0n, 'asked again, nothing moves twice');
    await ledgerBalances(t);
  });

  test('a refund the processor never received fails once surely abandoned: its hold is freed, the deposit refundable', async () => {
    const id = await deposit(t, 'refund-unsent', '12.00');
    await fault('before');
    const made = (await refund(t, id)).json();
    assert.equal(made.status, 'pending');
    assert.equal(await reconcile(made.id, '1 minute'), 0, 'its call may still be on its way');
    assert.equal(await held(t, 'refund-unsent'), 1200n);
    assert.equal(await reconcile(made.id, '10 minutes'), 1);
    const failed = await waitForStatus(t, made.id, ['failed']);
    assert.equal(failed.failure.code, 'upstream_timeout');
    assert.deepEqual([await balance(t, 'refund-unsent'), await held(t, 'refund-unsent')], [1200n, 0n]);
    assert.equal(await refundsMade(made.id), 0);
    const again = await refund(t, id);
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(again.json().status, 'completed');
  });

  test('a refund its processor made, whose request died unanswered, is found by the retry by Rampart’s id, not made again', async () => {
    const id = await deposit(t, 'refund-made-unanswered', '11.00');
    const headers = { 'idempotency-key': 'refund-made-unanswered-1' };
    const first = await refundLeftByDeadNode(id, headers, 'after');
    const retry = await refund(t, id, {}, headers);
    assert.deepEqual([retry.statusCode, retry.json().id, retry.json().status], [201, first.id, 'completed']);
    const { timeline } = (await getPayment(t, first.id)).json();
    assert.ok(timeline.some((step: { cause: string }) => step.cause === "simcard had it, found by Rampart's id"));
    assert.equal(await refundsMade(first.id), 1, 'asked, not sent again');
    assert.equal(await balance(t, 'refund-made-unanswered'), 0n);
  });

  test('a refund its request left unsent (the node died) is sent on by the retry with its Idempotency-Key: one refund', async () => {
    const id = await deposit(t, 'refund-resumed', '14.00');
    const headers = { 'idempotency-key': 'refund-resumed-1' };
    const first = await refundLeftByDeadNode(id, headers, 'before');
    const retry = await refund(t, id, {}, headers);
    assert.equal(retry.statusCode, 201, retry.body);
    assert.deepEqual([retry.json().id, retry.json().status], [first.id, 'completed']);
    const resumed = (await getPayment(t, first.id)).json();
    assert.ok(resumed.timeline.some((step: { cause: string }) => /resumed by a retry/.test(step.cause)));
    assert.equal(await refundsMade(first.id), 1);
    assert.deepEqual([await balance(t, 'refund-resumed'), await held(t, 'refund-resumed')], [0n, 0n]);
  });

  test('a refund the processor refuses (a dispute Rampart has not heard of) answers 402 refund_failed, its hold freed', async () => {
    const id = await deposit(t, 'refund-refused', '18.00');
    // Its webhook goes nowhere: Rampart still has the deposit undisputed.
    await cardNetwork(t, id, 'open');
    const response = await refund(t, id);
    assert.equal(response.statusCode, 402, response.body);
    const error = response.json().error;
    assert.deepEqual([error.code, error.retryable, error.type], ['refund_failed', false, 'declined']);
    assert.equal(error.details.reason, 'charge_disputed');
    assert.equal(error.message, 'The refund could not be paid back to where the payment came from (charge_disputed).');
    const made = (await t.app.inject({ method: 'GET', url: `/v1/payments?refund_of=${id}`, headers: t.auth })).json()
      .data[0];
    assert.deepEqual([made.id, made.status, made.failure.code], [error.details.payment_id, 'failed', 'refund_failed']);
    assert.deepEqual([await balance(t, 'refund-refused'), await held(t, 'refund-refused')], [1800n, 0n]);
  });
});
