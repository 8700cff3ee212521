import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorOf, startTestApp, type TestApp } from './harness.ts';
import {
  ACH_RETURNED_R01,
  advanceSimulator,
  BANK_ACCOUNT,
  createPayment,
  openForPayments,
  paidOut,
  waitForStatus,
} from './payment-fixtures.ts';

function balances(t: TestApp, userId: string, auth = t.auth) {
  return t.app.inject({ method: 'GET', url: `/v1/users/${userId}/balances`, headers: auth });
}

function adjust(t: TestApp, userId: string, body: Record<string, unknown>) {
  return t.app.inject({
    method: 'POST',
    url: `/v1/users/${userId}/balance_adjustments`,
    headers: t.auth,
    payload: { currency: 'USD', reason: 'opening balance', ...body },
  });
}

async function usd(t: TestApp, userId: string) {
  const response = await balances(t, userId);
  assert.equal(response.statusCode, 200, response.body);
  return response.json().data.find((b: { currency: string }) => b.currency === 'USD');
}

describe('user balances and adjustments', async () => {
  // Live payments too (a test here moves live money): the sandbox serves live mode, as no deployment's does.
  const t = await startTestApp({ sandbox: { live: true } });
  await openForPayments(t);
  const put = (id: string) => t.app.inject({ method: 'PUT', url: `/v1/users/${id}`, headers: t.auth, payload: {} });

  test('a user Rampart does not know answers user_not_found; a new one has no balances yet', async () => {
    assert.equal(errorOf(await balances(t, 'stranger')).code, 'user_not_found');
    await put('newcomer');
    assert.deepEqual((await balances(t, 'newcomer')).json(), { object: 'list', data: [] });
  });

  test('a deposit shows in the balance; a credit adds to it; both are the account withdrawals draw on', async () => {
    const deposit = await createPayment(t, { user_id: 'ada', amount: '25.00' });
    assert.equal(deposit.json().status, 'completed', deposit.body);
    assert.deepEqual(await usd(t, 'ada'), {
      object: 'balance',
      currency: 'USD',
      network: null,
      posted: '25.00',
      held: '0.00',
      available: '25.00',
      posted_minor: '2500',
      held_minor: '0',
      available_minor: '2500',
    });

    const credited = await adjust(t, 'ada', { direction: 'credit', amount: '100.00', reference: 'opening-ada' });
    assert.equal(credited.statusCode, 201, credited.body);
    const adjustment = credited.json();
    assert.deepEqual(
      [adjustment.object, adjustment.direction, adjustment.amount, adjustment.reason, adjustment.reference],
      ['balance_adjustment', 'credit', '100.00', 'opening balance', 'opening-ada'],
    );
    assert.equal(adjustment.balance.posted, '125.00');

    // The same reference is applied once.
    const replay = await adjust(t, 'ada', { direction: 'credit', amount: '100.00', reference: 'opening-ada' });
    assert.equal(replay.json().id, adjustment.id);
    assert.equal((await usd(t, 'ada')).posted, '125.00');
    // One event for it, not one per request.
    const { rows: events } = await t.db.query(
      "SELECT data FROM events WHERE operator_id = $1 AND type = 'balance.adjusted' AND data->>'reference' = 'opening-ada'",
      [t.operatorId],
    );
    assert.equal(events.length, 1);
    assert.deepEqual(
      [events[0]!.data.adjustment_id, events[0]!.data.amount, events[0]!.data.available],
      [adjustment.id, '100.00', '125.00'],
    );
    const conflict = await adjust(t, 'ada', { direction: 'credit', amount: '90.00', reference: 'opening-ada' });
    assert.equal(conflict.statusCode, 409);
    assert.equal(errorOf(conflict).code, 'idempotency_conflict');

    // A withdrawal of more than was deposited is covered by the credit, and held first.
    await paidOut(t, 'ada', '60.00');
    const after = await usd(t, 'ada');
    assert.deepEqual([after.posted, after.held, after.available], ['65.00', '0.00', '65.00']);
  });

  test('a debit takes money back down to zero and no further: insufficient_balance, nothing moved', async () => {
    await adjust(t, 'bo', { direction: 'credit', amount: '40.00', reference: 'bo-1' });
    const debited = await adjust(t, 'bo', { direction: 'debit', amount: '30.00', reference: 'bo-2', reason: 'fix' });
    assert.equal(debited.statusCode, 201, debited.body);
    assert.equal(debited.json().balance.available, '10.00');

    const over = await adjust(t, 'bo', { direction: 'debit', amount: '10.01', reference: 'bo-3' });
    assert.equal(over.statusCode, 402);
    const error = errorOf(over);
    assert.equal(error.code, 'insufficient_balance');
    assert.equal(error.retryable, false);
    assert.equal(error.details['currency'], 'USD');
    assert.equal((await usd(t, 'bo')).posted, '10.00');
  });

  test('bad adjustments answer their catalog codes', async () => {
    await put('carl');
    for (const amount of ['0', '-5.00', '1.001', 'ten']) {
      const response = await adjust(t, 'carl', { direction: 'credit', amount, reference: `bad-${amount}` });
      assert.equal(errorOf(response).code, 'invalid_amount', amount);
    }
    const gbp = await adjust(t, 'carl', { direction: 'credit', amount: '5.00', currency: 'GBP', reference: 'gbp' });
    assert.equal(errorOf(gbp).code, 'currency_not_enabled');
    const blank = await adjust(t, 'carl', { direction: 'credit', amount: '5.00', reason: '  ', reference: 'blank' });
    assert.equal(errorOf(blank).code, 'invalid_value');
    const sideways = await adjust(t, 'carl', { direction: 'sideways', amount: '5.00', reference: 'x' });
    assert.equal(errorOf(sideways).code, 'validation_error');
    assert.deepEqual((await balances(t, 'carl')).json().data, []);
  });

  test('concurrent card deposits of one user each complete and are credited exactly once', async () => {
    // Each completion moves its payment and credits the user in one statement; these all
    // lock the same user account, and some the same clearing shard, at once.
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        createPayment(t, { user_id: 'crowd', amount: `${i + 1}.00` }, { 'idempotency-key': `crowd-${i}` }),
      ),
    );
    assert.deepEqual(
      results.map((r) => [r.statusCode, r.json().status]),
      results.map(() => [201, 'completed']),
    );
    // 1 + 2 + … + 30 dollars.
    assert.equal((await usd(t, 'crowd')).posted, '465.00');
    const { rows } = await t.db.query(
      `SELECT count(*)::int AS n FROM ledger_transfers WHERE operator_id = $1 AND reference = ANY($2::text[])`,
      [t.operatorId, results.map((r) => `${r.json().id}:credit`)],
    );
    assert.equal(rows[0]!.n, 30);
  });

  test('every adjustment balances against the operator’s settlement account: the ledger sums to zero', async () => {
    const { rows } = await t.db.query(
      "SELECT coalesce(sum(posted), 0)::text AS total FROM ledger_accounts WHERE operator_id = $1 AND currency = 'USD'",
      [t.operatorId],
    );
    assert.equal(rows[0]!.total, '0');
  });

  test('test money and live money never meet: a live key sees and spends only live balances', async () => {
    const live = await t.operators.keys.issue(t.operatorId, { mode: 'live', scope: 'full', description: null });
    const liveAuth = { authorization: `Bearer ${live.secret}` };
    await openForPayments(t, {}, liveAuth);
    const deposit = await createPayment(t, { user_id: 'two-modes', amount: '25.00' });
    assert.equal(deposit.json().status, 'completed', deposit.body);
    const credit = { direction: 'credit', amount: '500.00', reference: 'same-ref' };
    assert.equal((await adjust(t, 'two-modes', credit)).statusCode, 201);
    assert.equal((await usd(t, 'two-modes')).posted, '525.00');

    // Test users are not live users: the live key does not even know this one.
    assert.equal(errorOf(await balances(t, 'two-modes', liveAuth)).code, 'user_not_found');
    const liveUser = await t.app.inject({ method: 'PUT', url: '/v1/users/two-modes', headers: liveAuth, payload: {} });
    assert.equal(liveUser.statusCode, 201, liveUser.body);
    assert.deepEqual((await balances(t, 'two-modes', liveAuth)).json().data, [], 'none of it is live money');
    const spend = await createPayment(
      t,
      { user_id: 'two-modes', kind: 'withdrawal', method: 'bank', amount: '400.00', instrument: BANK_ACCOUNT },
      liveAuth,
    );
    assert.equal(spend.statusCode, 402, spend.body);
    assert.equal(errorOf(spend).code, 'insufficient_balance');

    // The same reference under the live key is a live adjustment of its own, not a replay of the test one.
    const liveCredit = await t.app.inject({
      method: 'POST',
      url: '/v1/users/two-modes/balance_adjustments',
      headers: liveAuth,
      payload: { currency: 'USD', reason: 'opening balance', ...credit, amount: '100.00' },
    });
    assert.equal(liveCredit.statusCode, 201, liveCredit.body);
    const liveUsd = (await balances(t, 'two-modes', liveAuth)).json().data[0];
    assert.deepEqual([liveUsd.posted, (await usd(t, 'two-modes')).posted], ['100.00', '525.00']);
  });

  test('another operator can neither see nor move this operator’s users’ money', async () => {
    const other = await startTestApp({ database: t.db });
    assert.equal(errorOf(await balances(t, 'ada', other.auth)).code, 'user_not_found');
    const response = await other.app.inject({
      method: 'POST',
      url: '/v1/users/ada/balance_adjustments',
      headers: other.auth,
      payload: { direction: 'debit', amount: '1.00', currency: 'USD', reason: 'theft', reference: 't' },
    });
    // Its `ada` is its own user, with nothing to take.
    assert.equal(errorOf(response).code, 'insufficient_balance');
    assert.equal((await usd(t, 'ada')).posted, '65.00');
  });
});

describe('who keeps a currency’s balances, Rampart (ledger) or the operator (record)', async () => {
  const t = await startTestApp();
  const settings = (currencies: unknown[]) =>
    t.app.inject({ method: 'PATCH', url: '/v1/operator/settings', headers: t.auth, payload: { currencies } });

  test('is one choice for all of a currency’s networks: a user has one balance of it', async () => {
    const mixed = await settings([
      { currency: 'USDT', network: 'TRC20', balances: 'record' },
      { currency: 'USDT', network: 'ERC20', balances: 'ledger' },
    ]);
    assert.equal(mixed.statusCode, 422, mixed.body);
    assert.deepEqual(
      [errorOf(mixed).code, errorOf(mixed).details['field'], errorOf(mixed).details['provided']],
      ['invalid_value', 'currencies[1].balances', 'ledger'],
    );
  });

  test('switched to ledger, holds for users the currency already has: no overdraft past zero; and back', async () => {
    assert.equal((await settings([{ currency: 'USD', network: null, balances: 'record' }])).statusCode, 200);
    // The operator keeps the balance: Rampart records a debit past zero.
    assert.equal(
      (await adjust(t, 'switched', { direction: 'credit', amount: '10.00', reference: 's-1' })).statusCode,
      201,
    );
    assert.equal(
      (await adjust(t, 'switched', { direction: 'debit', amount: '30.00', reference: 's-2' })).statusCode,
      201,
    );
    assert.equal((await usd(t, 'switched')).available, '-20.00');

    assert.equal((await settings([{ currency: 'USD', network: null, balances: 'ledger' }])).statusCode, 200);
    const refused = await adjust(t, 'switched', { direction: 'debit', amount: '1.00', reference: 's-3' });
    assert.deepEqual([refused.statusCode, errorOf(refused).code], [402, 'insufficient_balance']);
    assert.equal(
      (await adjust(t, 'switched', { direction: 'credit', amount: '5.00', reference: 's-4' })).statusCode,
      201,
    );
    assert.equal((await usd(t, 'switched')).available, '-15.00');

    assert.equal((await settings([{ currency: 'USD', network: null, balances: 'record' }])).statusCode, 200);
    assert.equal(
      (await adjust(t, 'switched', { direction: 'debit', amount: '1.00', reference: 's-5' })).statusCode,
      201,
    );
    assert.equal((await usd(t, 'switched')).available, '-16.00');
  });

  test('the same adjustment sent many times at once is applied once and announced once', async () => {
    const counts: number[] = [];
    for (let round = 0; round < 6; round++) {
      const reference = `bonus-at-once-${round}`;
      const answers = await Promise.all(
        Array.from({ length: 8 }, () =>
          adjust(t, `at-once-${round}`, { direction: 'credit', amount: '7.00', reason: 'bonus', reference }),
        ),
      );
      assert.deepEqual(
        answers.map((a) => a.statusCode),
        answers.map(() => 201),
      );
      assert.equal(new Set(answers.map((a) => a.json().id)).size, 1, 'one transfer');
      assert.equal((await usd(t, `at-once-${round}`)).available, '7.00', 'the money moved once');
      const { rows } = await t.db.query(
        "SELECT count(*)::int AS n FROM events WHERE operator_id = $1 AND type = 'balance.adjusted' AND data->>'reference' = $2",
        [t.operatorId, reference],
      );
      counts.push(rows[0]!.n);
    }
    assert.deepEqual(
      counts,
      counts.map(() => 1),
      'balance.adjusted once per adjustment',
    );
  });
});

describe('a user’s statement (balance transactions)', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);
  const statement = (userId: string, query = '', auth = t.auth) =>
    t.app.inject({ method: 'GET', url: `/v1/users/${userId}/balance_transactions${query}`, headers: auth });

  test('each movement, newest first, names what moved the money and the balance it left; pages by cursor', async () => {
    const ach = await createPayment(t, {
      user_id: 'stmt',
      method: 'ach',
      amount: '40.00',
      instrument: ACH_RETURNED_R01,
    });
    assert.equal(ach.statusCode, 201, ach.body);
    await waitForStatus(t, ach.json().id, ['completed']);
    const card = await createPayment(t, { user_id: 'stmt', amount: '25.00' });
    assert.equal(card.json().status, 'completed', card.body);
    assert.equal(
      (await adjust(t, 'stmt', { direction: 'credit', amount: '100.00', reference: 'stmt-open' })).statusCode,
      201,
    );
    const withdrawal = await paidOut(t, 'stmt', '60.00');
    await advanceSimulator(t, 3 * 86_400);
    await waitForStatus(t, ach.json().id, ['reversed']); // the bank returned the debit (R01)

    const response = await statement('stmt');
    assert.equal(response.statusCode, 200, response.body);
    const page = response.json();
    const rows = page.data as Record<string, string | null>[];
    assert.deepEqual(
      rows.map((r) => [r.type, r.payment_id, r.reference, r.amount, r.balance_after, r.currency]),
      [
        ['reversal', ach.json().id, null, '-40.00', '65.00', 'USD'],
        ['payment', withdrawal.id, null, '-60.00', '105.00', 'USD'],
        ['adjustment', null, 'stmt-open', '100.00', '165.00', 'USD'],
        ['payment', card.json().id, null, '25.00', '65.00', 'USD'],
        ['payment', ach.json().id, null, '40.00', '40.00', 'USD'],
      ],
    );
    assert.deepEqual([page.has_more, page.next_cursor], [false, null]);
    assert.equal(rows[0]!.balance_after, (await usd(t, 'stmt')).posted, 'the newest balance is the balance');
    assert.deepEqual(
      [rows[2]!.object, rows[2]!.amount_minor, rows[2]!.balance_after_minor, rows[2]!.description],
      ['balance_transaction', '10000', '16500', 'opening balance'],
    );

    // Two at a time, from the newest: the same five, each once.
    const seen: string[] = [];
    let query = '?limit=2';
    for (;;) {
      const next = (await statement('stmt', query)).json();
      seen.push(...next.data.map((r: { id: string }) => r.id));
      if (!next.has_more) break;
      assert.equal(next.data.length, 2);
      query = `?limit=2&starting_after=${next.next_cursor}`;
    }
    assert.deepEqual(
      seen,
      rows.map((r) => r.id),
    );
    assert.deepEqual((await statement('stmt', '?currency=EUR')).json().data, []);
  });

  test('a stranger is user_not_found, another operator sees none of it, bad queries are refused', async () => {
    assert.equal(errorOf(await statement('nobody-here')).code, 'user_not_found');
    const other = await startTestApp({ database: t.db });
    assert.equal(errorOf(await statement('stmt', '', other.auth)).code, 'user_not_found');
    const unknown = await statement('stmt', '?currency=NOPE');
    assert.deepEqual([unknown.statusCode, errorOf(unknown).code], [422, 'invalid_value']);
    for (const query of ['?starting_after=abc', '?limit=0', '?limit=101', '?colour=red'])
      assert.equal(errorOf(await statement('stmt', query)).code, 'validation_error', query);
  });
});
