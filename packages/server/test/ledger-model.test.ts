/**
 * The ledger as the public surface moves it: after every step of random sequences of
 * adjustments, card and ACH deposits (some returned), withdrawals, refunds and lost
 * chargebacks (whole or in part), with fees on, every ledger invariant holds; and the
 * same under operations racing on one user. Plus the contract of balance adjustments.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { startTestApp, type TestApp } from './harness.ts';
import {
  ACH_RETURNED_R01,
  advanceSimulator,
  cardNetwork,
  createPayment,
  disputeOf,
  fund,
  openForPayments,
  waitForStatus,
  withdraw,
} from './payment-fixtures.ts';

function adjust(t: TestApp, userId: string, body: Record<string, unknown>, auth = t.auth) {
  return t.app.inject({
    method: 'POST',
    url: `/v1/users/${userId}/balance_adjustments`,
    headers: auth,
    payload: { currency: 'USD', reason: 'a correction', ...body },
  });
}

async function balanceOf(t: TestApp, userId: string, currency = 'USD') {
  const r = await t.app.inject({ method: 'GET', url: `/v1/users/${userId}/balances`, headers: t.auth });
  if (r.statusCode === 404) return undefined;
  assert.equal(r.statusCode, 200, r.body);
  return r.json().data.find((b: { currency: string }) => b.currency === currency);
}

/** Ledger invariants, read straight from the tables: the list of what is violated. */
async function ledgerViolations(t: TestApp): Promise<string[]> {
  const out: string[] = [];
  const q = async (name: string, sql: string) => {
    const { rows } = await t.db.query(sql);
    for (const row of rows)
      out.push(`${name}: ${JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
  };
  await q(
    'posted != sum(entries)',
    `SELECT a.id, a.posted, coalesce(sum(e.amount) FILTER (WHERE NOT e.pending), 0) AS sum
       FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id
      GROUP BY a.id HAVING a.posted <> coalesce(sum(e.amount) FILTER (WHERE NOT e.pending), 0)`,
  );
  await q(
    'pending_debits != open holds',
    `SELECT a.id, a.pending_debits, coalesce((SELECT sum(amount) FROM ledger_holds h WHERE h.debit_account_id = a.id AND h.status = 'pending'), 0) AS holds
       FROM ledger_accounts a
      WHERE a.pending_debits <> coalesce((SELECT sum(amount) FROM ledger_holds h WHERE h.debit_account_id = a.id AND h.status = 'pending'), 0)`,
  );
  await q(
    'pending_credits != open holds',
    `SELECT a.id, a.pending_credits FROM ledger_accounts a
      WHERE a.pending_credits <> coalesce((SELECT sum(amount) FROM ledger_holds h WHERE h.credit_account_id = a.id AND h.status = 'pending'), 0)`,
  );
  await q(
    'transfer unbalanced',
    `SELECT transfer_id, currency, sum(amount) FROM ledger_entries GROUP BY 1, 2 HAVING sum(amount) <> 0`,
  );
  await q(
    'currency not zero-sum',
    `SELECT operator_id, mode, currency, sum(posted) FROM ledger_accounts GROUP BY 1, 2, 3 HAVING sum(posted) <> 0`,
  );
  await q(
    'last balance_after != posted',
    `SELECT a.id, a.posted, e.balance_after FROM ledger_accounts a
       JOIN LATERAL (SELECT balance_after FROM ledger_entries WHERE account_id = a.id AND NOT pending ORDER BY id DESC LIMIT 1) e ON true
      WHERE e.balance_after <> a.posted`,
  );
  await q(
    'posted hold without one posting',
    `SELECT h.id, h.status FROM ledger_holds h
      WHERE (h.status = 'posted') <> EXISTS (SELECT 1 FROM ledger_transfers p WHERE p.hold_id = h.id)`,
  );
  return out;
}

describe('operations racing on one user', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);

  test('adjustments, deposits and withdrawals at once on one user: no 5xx, and the ledger holds', async () => {
    await fund(t, 'race', '100.00');
    const ops: Promise<{ statusCode: number; body: string; kind: string }>[] = [];
    for (let i = 0; i < 8; i++) {
      ops.push(
        adjust(t, 'race', { direction: 'debit', amount: '10.00', reference: `race-d-${i}` }).then((r) => ({
          statusCode: r.statusCode,
          body: r.body,
          kind: 'debit',
        })),
      );
      ops.push(
        adjust(t, 'race', { direction: 'credit', amount: '3.00', reference: `race-c-${i}` }).then((r) => ({
          statusCode: r.statusCode,
          body: r.body,
          kind: 'credit',
        })),
      );
      ops.push(
        createPayment(t, { user_id: 'race', amount: '2.00' }, { 'idempotency-key': `race-dep-${i}` }).then((r) => ({
          statusCode: r.statusCode,
          body: r.body,
          kind: 'deposit',
        })),
      );
      if (i < 3)
        ops.push(
          withdraw(t, 'race', '15.00', { headers: { 'idempotency-key': `race-w-${i}` } }).then((r) => ({
            statusCode: r.statusCode,
            body: r.body,
            kind: 'withdrawal',
          })),
        );
    }
    const results = await Promise.all(ops);
    for (const r of results)
      if (r.kind === 'withdrawal' && r.statusCode === 201)
        await waitForStatus(t, JSON.parse(r.body).id, ['completed', 'failed']);
    assert.deepEqual(
      results.filter((r) => r.statusCode >= 500),
      [],
    );
    assert.deepEqual(await ledgerViolations(t), []);
  });
});

describe('a model over the public API', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t, {
    fees: {
      deposit: { USD: { fixed: '0.30', percent: '2.5' } },
      withdrawal: { USD: { fixed: '1.00' } },
      buy: {},
      sell: {},
    },
  });
  const USERS = ['m1', 'm2'];
  const op = fc.oneof(
    fc.record({
      op: fc.constant('credit' as const),
      user: fc.constantFrom(...USERS),
      whole: fc.integer({ min: 1, max: 80 }),
    }),
    fc.record({
      op: fc.constant('debit' as const),
      user: fc.constantFrom(...USERS),
      whole: fc.integer({ min: 1, max: 80 }),
    }),
    fc.record({
      op: fc.constant('card' as const),
      user: fc.constantFrom(...USERS),
      whole: fc.integer({ min: 2, max: 80 }),
    }),
    fc.record({
      op: fc.constant('ach' as const),
      user: fc.constantFrom(...USERS),
      whole: fc.integer({ min: 2, max: 80 }),
    }),
    fc.record({
      op: fc.constant('withdraw' as const),
      user: fc.constantFrom(...USERS),
      whole: fc.integer({ min: 1, max: 60 }),
      cents: fc.constantFrom('00', '05'),
    }),
    fc.record({
      op: fc.constant('refund' as const),
      pick: fc.nat(),
      whole: fc.option(fc.integer({ min: 1, max: 30 })),
    }),
    fc.record({
      op: fc.constant('dispute' as const),
      pick: fc.nat(),
      whole: fc.option(fc.integer({ min: 1, max: 30 })),
    }),
    fc.record({ op: fc.constant('settle' as const) }),
  );
  let run = 0;
  test('after every step the ledger invariants hold', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 4, maxLength: 12 }), async (steps) => {
        run++;
        const cards: { id: string; amount: number }[] = [];
        const log: string[] = [];
        for (const [i, s] of steps.entries()) {
          const user = 'user' in s ? `${s.user}-${run}` : '';
          let r: { statusCode: number; body: string } | undefined;
          if (s.op === 'credit' || s.op === 'debit') {
            const before = await balanceOf(t, user);
            r = await adjust(t, user, { direction: s.op, amount: `${s.whole}.00`, reference: `m-${run}-${i}` });
            if (s.op === 'debit') {
              const available = before ? BigInt(before.available_minor) : 0n;
              assert.equal(r.statusCode, BigInt(s.whole * 100) <= available ? 201 : 402, `${r.body} ${log.join(' ')}`);
            } else assert.equal(r.statusCode, 201, r.body);
          } else if (s.op === 'card') {
            const card = await createPayment(t, { user_id: user, amount: `${s.whole}.00` });
            r = card;
            if (card.statusCode === 201 && card.json().status === 'completed')
              cards.push({ id: card.json().id, amount: s.whole });
          } else if (s.op === 'ach') {
            r = await createPayment(t, {
              user_id: user,
              method: 'ach',
              amount: `${s.whole}.00`,
              instrument: ACH_RETURNED_R01,
            });
          } else if (s.op === 'withdraw') {
            r = await withdraw(t, user, `${s.whole}.${s.cents}`);
          } else if (s.op === 'refund' && cards.length > 0) {
            const c = cards[s.pick % cards.length]!;
            r = await t.app.inject({
              method: 'POST',
              url: `/v1/payments/${c.id}/refunds`,
              headers: t.auth,
              payload: s.whole ? { amount: `${s.whole}.00` } : {},
            });
          } else if (s.op === 'dispute' && cards.length > 0) {
            const c = cards.splice(s.pick % cards.length, 1)[0]!;
            const pay = (await t.app.inject({ method: 'GET', url: `/v1/payments/${c.id}`, headers: t.auth })).json();
            if (pay.amount_refunded === '0.00' && pay.dispute === null && pay.status === 'completed') {
              const part = s.whole && s.whole < c.amount ? s.whole * 100 : undefined;
              await cardNetwork(t, c.id, 'open', 'fraudulent', part);
              await disputeOf(t, c.id, 'open');
              await cardNetwork(t, c.id, 'lost');
              await disputeOf(t, c.id, 'lost');
            }
          } else if (s.op === 'settle') {
            await advanceSimulator(t, 4 * 86_400);
            await new Promise((res) => setTimeout(res, 400));
          }
          log.push(
            `${s.op}${'whole' in s ? `:${s.whole}` : ''}${user ? `@${user}` : ''}=${r?.statusCode ?? '-'}${r && r.statusCode >= 300 ? `(${JSON.parse(r.body).error?.code})` : ''}`,
          );
          if (r) assert.ok(r.statusCode < 500, `${r.body} after ${log.join(' ')}`);
          assert.deepEqual(await ledgerViolations(t), [], log.join(' '));
          for (const u of USERS) {
            const shown = await balanceOf(t, `${u}-${run}`);
            if (!shown) continue;
            const stmt = (
              await t.app.inject({
                method: 'GET',
                url: `/v1/users/${u}-${run}/balance_transactions?limit=1`,
                headers: t.auth,
              })
            ).json();
            if (stmt.data[0])
              assert.equal(stmt.data[0].balance_after, shown.posted, `statement vs balance ${log.join(' ')}`);
            assert.equal(BigInt(shown.available_minor), BigInt(shown.posted_minor) - BigInt(shown.held_minor));
          }
        }
      }),
      { numRuns: Number(process.env['RAMPART_MODEL_RUNS'] ?? 6), endOnFailure: true },
    );
  });
});

describe('balance adjustments: their contract', async () => {
  const t = await startTestApp();

  test('the same reference used again with another reason answers idempotency_conflict, as the route documents', async () => {
    const first = await adjust(t, 'reason-user', {
      direction: 'credit',
      amount: '5.00',
      reference: 'why-1',
      reason: 'bonus',
    });
    assert.equal(first.statusCode, 201, first.body);
    const again = await adjust(t, 'reason-user', {
      direction: 'credit',
      amount: '5.00',
      reference: 'why-1',
      reason: 'refund of fee',
    });
    assert.equal(again.statusCode, 409, `answered ${again.statusCode} with reason "${again.json().reason}"`);
    assert.equal(again.json().error.code, 'idempotency_conflict');
  });

  test('an adjustment whose reference contains ":chargeback:" is listed as an adjustment, not a reversal', async () => {
    const r = await adjust(t, 'label-user', {
      direction: 'credit',
      amount: '5.00',
      reference: 'promo:chargeback:2024',
    });
    assert.equal(r.statusCode, 201, r.body);
    const stmt = await t.app.inject({
      method: 'GET',
      url: '/v1/users/label-user/balance_transactions',
      headers: t.auth,
    });
    const row = stmt.json().data[0];
    assert.deepEqual([row.type, row.reference], ['adjustment', 'promo:chargeback:2024']);
  });

  test('a refused adjustment (invalid amount) creates no user', async () => {
    const r = await adjust(t, 'ghost', { direction: 'credit', amount: 'ten', reference: 'g-1' });
    assert.equal(r.statusCode, 422);
    const u = await t.app.inject({ method: 'GET', url: '/v1/users/ghost', headers: t.auth });
    assert.equal(u.statusCode, 404, 'the 422 adjustment left user "ghost" behind');
  });
});
