import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canTransition, reachable } from '@rampart/core';
import fc from 'fast-check';
import { startTestApp, type TestApp } from './harness.ts';
import { BANK_ACCOUNT, CARD_OK, createPayment, openForPayments } from './payment-fixtures.ts';

const USERS = ['p1', 'p2', 'p3'];

/** One step a user or operator can take; amounts' cents pick the sandbox outcome (04 never ends, 05 fails later). */
const operation = fc.oneof(
  fc.record({
    op: fc.constant('deposit' as const),
    user: fc.constantFrom(...USERS),
    whole: fc.integer({ min: 1, max: 60 }),
    // Approved, declined, 3-D Secure, and approved with refunds paid later (7726) or failing later (5126).
    card: fc.constantFrom(
      '4242424242424242',
      '4000000000000002',
      '4000000000003220',
      '4000000000007726',
      '4000000000005126',
    ),
  }),
  fc.record({
    op: fc.constant('withdraw' as const),
    user: fc.constantFrom(...USERS),
    whole: fc.integer({ min: 1, max: 60 }),
    cents: fc.constantFrom('00', '04', '05'),
  }),
  fc.record({ op: fc.constant('cancel' as const), pick: fc.nat() }),
  // The operator refunds a payment: all that is left, or a few dollars of it.
  fc.record({ op: fc.constant('refund' as const), pick: fc.nat(), whole: fc.option(fc.integer({ min: 1, max: 30 })) }),
  // Time for the sandbox to settle what is on its way (payouts complete, webhooks land).
  fc.record({ op: fc.constant('settle' as const) }),
);

/** Reads everything in one snapshot: webhooks keep arriving while the checks run. */
async function checkInvariants(t: TestApp): Promise<void> {
  await t.db.transaction(async (db) => {
    await db.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    const sums = await db.query(
      `SELECT t.id, e.currency, sum(e.amount) AS total FROM ledger_transfers t JOIN ledger_entries e ON e.transfer_id = t.id
      GROUP BY t.id, e.currency HAVING sum(e.amount) <> 0`,
    );
    assert.equal(sums.rowCount, 0, 'every posting balances to zero');
    const accounts = await db.query(
      'SELECT kind, posted, pending_debits, floor FROM ledger_accounts WHERE operator_id = $1',
      [t.operatorId],
    );
    for (const a of accounts.rows) {
      if (a.floor !== null)
        assert.ok(BigInt(a.posted) - BigInt(a.pending_debits) >= BigInt(a.floor), 'no balance below its floor');
      if (a.kind === 'user') assert.ok(BigInt(a.pending_debits) <= BigInt(a.posted), 'holds never exceed the balance');
    }
    // Fees are earned exactly by the payments that completed: on the pay-in's credit, or
    // from the pay-out's hold, in the transaction that completes them; a completed refund
    // gives its part of the deposit's fee back.
    const fees = await db.query(
      `SELECT (SELECT coalesce(sum(posted), 0) FROM ledger_accounts WHERE operator_id = $1 AND kind = 'fees') AS earned,
              (SELECT coalesce(sum(CASE kind WHEN 'refund' THEN -fee ELSE fee END), 0) FROM payments
                WHERE operator_id = $1 AND status = 'completed') AS charged`,
      [t.operatorId],
    );
    // A deposit's refunds never add up to more than it took, and it counts those completed.
    const refunds = await db.query(
      `SELECT d.id FROM payments d
        WHERE d.operator_id = $1 AND (d.amount_refunded <> (SELECT coalesce(sum(r.amount), 0) FROM payments r
                                                             WHERE r.refund_of = d.id AND r.status = 'completed')
                                      OR d.amount < (SELECT coalesce(sum(r.amount), 0) FROM payments r
                                                      WHERE r.refund_of = d.id AND r.status NOT IN ('failed', 'cancelled')))`,
      [t.operatorId],
    );
    assert.equal(refunds.rowCount, 0, 'refunds stay within their deposit, which counts the completed ones');
    assert.equal(
      BigInt(fees.rows[0]!.earned),
      BigInt(fees.rows[0]!.charged),
      'fees earned are the fees of completed payments',
    );
    const total = await db.query('SELECT currency, sum(posted) AS s FROM ledger_accounts GROUP BY currency');
    for (const row of total.rows) assert.equal(BigInt(row.s), 0n, 'balances of a currency sum to zero');
    const reachableStatuses = reachable();
    const payments = await db.query('SELECT id, status FROM payments WHERE operator_id = $1', [t.operatorId]);
    for (const p of payments.rows) {
      assert.ok(reachableStatuses.has(p.status), `${p.status} is reachable`);
      const steps = await db.query(
        'SELECT from_status, to_status FROM payment_transitions WHERE payment_id = $1 ORDER BY seq',
        [p.id],
      );
      for (const step of steps.rows) {
        if (step.from_status !== null && step.from_status !== step.to_status)
          assert.ok(
            canTransition(step.from_status, step.to_status),
            `${step.from_status} → ${step.to_status} is in the table`,
          );
      }
      assert.equal(steps.rows.at(-1)!.to_status, p.status, 'the timeline ends at the current status');
    }
  });
}

describe('payments under random operation sequences', async () => {
  const t = await startTestApp({ sandbox: true });
  // With fees, so that every money path carries one: out of deposits' credits, on top of withdrawals.
  await openForPayments(t, {
    fees: { deposit: { USD: { fixed: '0.30', percent: '2.9' } }, withdrawal: { USD: { fixed: '0.50' } } },
  });
  const ids: string[] = [];

  test('after every step: postings balance, no balance below its floor, holds within balances, states reachable by the table', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 5, maxLength: 15 }), async (ops) => {
        for (const step of ops) {
          if (step.op === 'deposit') {
            const response = await createPayment(t, {
              user_id: step.user,
              amount: `${step.whole}.00`,
              instrument: { ...CARD_OK, card_number: step.card },
            });
            if (response.statusCode === 201) ids.push(response.json().id);
          } else if (step.op === 'withdraw') {
            const response = await createPayment(t, {
              user_id: step.user,
              kind: 'withdrawal',
              method: 'bank',
              amount: `${step.whole}.${step.cents}`,
              instrument: BANK_ACCOUNT,
            });
            if (response.statusCode === 201) ids.push(response.json().id);
            else assert.ok([402, 409].includes(response.statusCode), response.body);
          } else if (step.op === 'settle') {
            await new Promise((resolve) => setTimeout(resolve, 150));
          } else if (step.op === 'refund' && ids.length > 0) {
            const id = ids[step.pick % ids.length]!;
            const response = await t.app.inject({
              method: 'POST',
              url: `/v1/payments/${id}/refunds`,
              headers: t.auth,
              payload: step.whole === null ? {} : { amount: `${step.whole}.00` },
            });
            if (response.statusCode === 201) ids.push(response.json().id);
            // Spent (insufficient_balance), not refundable, or more than is left.
            else assert.ok([402, 409, 422].includes(response.statusCode), response.body);
          } else if (step.op === 'cancel' && ids.length > 0) {
            const id = ids[step.pick % ids.length]!;
            const response = await t.app.inject({ method: 'POST', url: `/v1/payments/${id}/cancel`, headers: t.auth });
            assert.ok([200, 412].includes(response.statusCode), response.body);
          }
          await checkInvariants(t);
        }
      }),
      { numRuns: 6 },
    );
  });
});
