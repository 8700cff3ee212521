/**
 * The operator's fees (settings `fees`): a pay-in's comes out of what the user is
 * credited, a pay-out's is held and debited on top of what is paid out; each is posted
 * to the operator's `fees` account in the transaction that moves the rest, kept as the
 * rule in force when the payment was made, and returned with the money on a reversal.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorOf, startTestApp, type TestApp } from './harness.ts';
import {
  ACH_RETURNED_R01,
  advanceSimulator,
  BANK_ACCOUNT,
  balance,
  balanceShown,
  createPayment,
  feesEarned,
  fund,
  held,
  openForPayments,
  simulatorFault,
  startCryptoApp,
  waitForStatus,
} from './payment-fixtures.ts';
import { listedEvents } from './webhooks-fixtures.ts';
import { widgetSession } from './widget-fixtures.ts';

const FEES = {
  deposit: { USD: { fixed: '0.30', percent: '2.5' } },
  withdrawal: { USD: { fixed: '1.00' } },
  buy: {},
  sell: {},
};

function settings(t: TestApp, payload: Record<string, unknown>) {
  return t.app.inject({ method: 'PATCH', url: '/v1/operator/settings', headers: t.auth, payload });
}

/** The fees earned in USD: the posted balances of the operator's fees accounts (its shards) together. */

/** Every account of the operator together: double entry sums to zero. */
async function ledgerSum(t: TestApp): Promise<bigint> {
  const { rows } = await t.db.query(
    'SELECT coalesce(sum(posted), 0) AS total, coalesce(sum(pending_debits - pending_credits), 0) AS pending FROM ledger_accounts WHERE operator_id = $1',
    [t.operatorId],
  );
  assert.equal(BigInt(rows[0]!.pending), 0n, 'holds reserve as much as they promise');
  return BigInt(rows[0]!.total);
}

function withdraw(t: TestApp, userId: string, amount: string) {
  return createPayment(t, { user_id: userId, kind: 'withdrawal', method: 'bank', amount, instrument: BANK_ACCOUNT });
}

describe('fees', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t, {
    fees: FEES,
    limits: { deposit: { USD: { min: '0.01', max: '5000.00' } }, withdrawal: { USD: { min: '1.00', max: '5000.00' } } },
  });

  test('a card deposit of 100.00 with 0.30 + 2.5 % credits the user 97.20 and the fees account 2.80', async () => {
    const before = await feesEarned(t);
    const response = await createPayment(t, { user_id: 'depositor', amount: '100.00' });
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    assert.deepEqual([payment.status, payment.fee, payment.fee_minor], ['completed', '2.80', '280']);
    assert.equal(await balance(t, 'depositor'), 9720n);
    assert.equal((await feesEarned(t)) - before, 280n);
    assert.equal(await ledgerSum(t), 0n);
    const [completed] = await listedEvents(t, { subject_id: payment.id, type: 'payment.completed' });
    assert.equal(completed.data.payment.fee, '280');
  });

  test('the percentage rounds half up to the minor unit', async () => {
    // 0.30 + 2.5 % of 10.10 (0.2525) = 0.5525 → 0.55; of 10.30 (0.2575) = 0.5575 → 0.56
    for (const [amount, fee] of [
      ['10.10', '0.55'],
      ['10.30', '0.56'],
    ]) {
      const response = await createPayment(t, { user_id: 'rounder', amount });
      assert.equal(response.json().fee, fee, `${amount}: ${response.body}`);
    }
  });

  test('a deposit the fee would swallow is below the minimum', async () => {
    const response = await createPayment(t, { user_id: 'tiny', amount: '0.30' });
    assert.equal(response.statusCode, 422, response.body);
    assert.deepEqual(
      [errorOf(response).code, errorOf(response).details['expected']],
      ['amount_below_minimum', '> 0.31 (the fee)'],
    );
  });

  test('a withdrawal holds amount and fee, and when paid out debits both: the fee to the fees account', async () => {
    await fund(t, 'payee', '100.00'); // credited 97.20
    const before = await feesEarned(t);
    const response = await withdraw(t, 'payee', '30.00');
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    assert.equal(payment.fee, '1.00');
    assert.equal(await held(t, 'payee'), 3100n, 'amount and fee held');
    await waitForStatus(t, payment.id, ['completed']);
    assert.equal(await balance(t, 'payee'), 9720n - 3100n);
    assert.equal((await feesEarned(t)) - before, 100n);
    assert.equal(await ledgerSum(t), 0n);
  });

  test('a withdrawal that falls back to a second provider still pays the fee, once', async () => {
    await fund(t, 'fallback', '100.00');
    const before = await feesEarned(t);
    // The bank's payouts reset before any work; the card processor pays out as an ACH credit.
    await simulatorFault(t, { provider: 'bank', kind: 'reset', method: 'POST' });
    try {
      const response = await withdraw(t, 'fallback', '20.00');
      assert.equal(response.statusCode, 201, response.body);
      assert.equal(response.json().provider, 'simcard');
      await waitForStatus(t, response.json().id, ['completed']);
    } finally {
      await fetch(`${t.simulator!.url}/admin/faults`, { method: 'DELETE' });
    }
    assert.equal(await balance(t, 'fallback'), 9720n - 2100n);
    assert.equal((await feesEarned(t)) - before, 100n);
    assert.equal(await ledgerSum(t), 0n);
  });

  test('a balance that covers the amount but not the fee answers insufficient_balance', async () => {
    await fund(t, 'short', '10.57'); // 0.30 + 0.26 (2.5 % of 10.57, rounded) leaves 10.01 credited
    assert.equal(await balance(t, 'short'), 1001n);
    const response = await withdraw(t, 'short', '10.00');
    assert.equal(response.statusCode, 402, response.body);
    assert.equal(errorOf(response).code, 'insufficient_balance');
  });

  test('a failed withdrawal charges no fee: amount and fee are released', async () => {
    await fund(t, 'unlucky', '100.00');
    const before = await feesEarned(t);
    const response = await withdraw(t, 'unlucky', '20.05'); // .05: the bank accepts it, then fails it
    assert.equal(response.statusCode, 201, response.body);
    const failed = await waitForStatus(t, response.json().id, ['failed']);
    assert.equal(failed.fee, '1.00');
    assert.equal(await balance(t, 'unlucky'), 9720n);
    assert.equal(await held(t, 'unlucky'), 0n);
    assert.equal(await feesEarned(t), before);
  });

  test('a payment keeps the fee in force when it was made; a returned ACH debit gives its fee back', async () => {
    await settings(t, { fees: { ...FEES, deposit: { USD: { fixed: '1.00' } } } });
    const response = await createPayment(t, {
      user_id: 'ach-payer',
      method: 'ach',
      amount: '40.00',
      instrument: ACH_RETURNED_R01,
    });
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    assert.equal(payment.fee, '1.00');
    await settings(t, { fees: { ...FEES, deposit: { USD: { fixed: '5.00' } } } });
    const before = await feesEarned(t);
    await waitForStatus(t, payment.id, ['completed']);
    assert.equal(await balance(t, 'ach-payer'), 3900n, 'the fee of when it was made');
    assert.equal((await feesEarned(t)) - before, 100n);
    await advanceSimulator(t, 3 * 86_400);
    await waitForStatus(t, payment.id, ['reversed']);
    assert.equal(await balance(t, 'ach-payer'), 0n);
    assert.equal(await feesEarned(t), before, 'the fee went back with the money');
    assert.equal(await ledgerSum(t), 0n);
    await settings(t, { fees: FEES });
  });

  test('GET /v1/ledger/balances shows the fees earned beside what users hold and providers cleared, summing to zero', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/v1/ledger/balances', headers: t.auth });
    assert.equal(response.statusCode, 200, response.body);
    const rows = response.json().data as {
      kind: string;
      provider: string | null;
      currency: string;
      posted_minor: string;
      accounts: number;
    }[];
    const usd = rows.filter((row) => row.currency === 'USD');
    const fees = usd.find((row) => row.kind === 'fees');
    assert.equal(BigInt(fees!.posted_minor), await feesEarned(t));
    assert.ok(fees!.accounts > 1, 'the fees are spread over shards, so no one row serialises the payments');
    const users = usd.find((row) => row.kind === 'user');
    const { rows: held } = await t.db.query(
      "SELECT sum(posted) AS total FROM ledger_accounts WHERE operator_id = $1 AND kind = 'user' AND currency = 'USD'",
      [t.operatorId],
    );
    assert.equal(BigInt(users!.posted_minor), BigInt(held[0]!.total));
    assert.ok(
      usd.some((row) => row.kind === 'provider_clearing' && row.provider === 'simcard'),
      'clearing per provider, its shards added up',
    );
    assert.equal(
      usd.reduce((sum, row) => sum + BigInt(row.posted_minor), 0n),
      0n,
    );
    const other = await t.operators.create({ name: 'Other' });
    const theirs = await t.app.inject({
      method: 'GET',
      url: '/v1/ledger/balances',
      headers: { authorization: `Bearer ${other.key.secret}` },
    });
    assert.deepEqual(theirs.json().data, [], 'another operator sees none of it');
  });

  test('a quote shows the fee before the payment, and what it moves the balance by; the widget asks for its operation', async () => {
    const quote = (query: string, headers = t.auth) =>
      t.app.inject({ method: 'GET', url: `/v1/payments/quote?${query}`, headers });
    const deposit = await quote('kind=deposit&amount=100.00&currency=USD');
    assert.equal(deposit.statusCode, 200, deposit.body);
    assert.deepEqual(deposit.json(), {
      object: 'quote',
      kind: 'deposit',
      currency: 'USD',
      amount: '100.00',
      fee: '2.80',
      direction: 'credit',
      net: '97.20',
    });
    const made = await createPayment(t, { user_id: 'quoted', amount: '100.00' });
    assert.equal(made.json().fee, deposit.json().fee, 'the payment costs what the quote said');
    const withdrawal = (await quote('kind=withdrawal&amount=30.00&currency=USD')).json();
    assert.deepEqual([withdrawal.fee, withdrawal.direction, withdrawal.net], ['1.00', 'debit', '31.00']);
    const none = (await quote('kind=buy&amount=30.00&currency=USD')).json();
    assert.deepEqual([none.fee, none.net], ['0.00', '30.00']);
    for (const [query, status, code] of [
      ['kind=deposit&amount=0.30&currency=USD', 422, 'amount_below_minimum'],
      ['kind=deposit&amount=1.001&currency=USD', 422, 'invalid_amount'],
      ['kind=deposit&amount=10.00&currency=GBP', 400, 'currency_not_enabled'],
      ['kind=lend&amount=10.00&currency=USD', 400, 'validation_error'],
      ['amount=10.00&currency=USD', 400, 'missing_parameter'],
    ] as const) {
      const response = await quote(query);
      assert.deepEqual([response.statusCode, errorOf(response).code], [status, code], `${query}: ${response.body}`);
    }
    const max = '115792089237316195423570985008687907853269984665640564039457584007913129639.935';
    // EUR: a withdrawal fee and no maximum per payment.
    await settings(t, { fees: { ...FEES, withdrawal: { ...FEES.withdrawal, EUR: { fixed: '1.00' } } } });
    const beyond = await quote(`kind=withdrawal&amount=${max}&currency=EUR`);
    await settings(t, { fees: FEES });
    assert.deepEqual(
      [beyond.statusCode, errorOf(beyond).code],
      [422, 'invalid_amount'],
      `a pay-out and its fee together beyond what the ledger holds: ${beyond.body}`,
    );
    const { widget } = await widgetSession(t, { user_id: 'quoted', operation: 'withdrawal' });
    const widgetQuote = await t.app.inject({
      method: 'GET',
      url: '/widget/v1/payments/quote?amount=30.00&currency=USD',
      headers: widget,
    });
    assert.equal(widgetQuote.statusCode, 200, widgetQuote.body);
    assert.deepEqual([widgetQuote.json().kind, widgetQuote.json().net], ['withdrawal', '31.00']);
  });

  test('bad fees answer their codes', async () => {
    for (const [fees, code, field] of [
      [{ deposit: { USD: { percent: '101' } } }, 'invalid_value', 'fees.deposit.USD.percent'],
      [{ deposit: { USD: { percent: '2.12345' } } }, 'invalid_value', 'fees.deposit.USD.percent'],
      [{ deposit: { USD: { fixed: '0.001' } } }, 'invalid_amount', 'fees.deposit.USD.fixed'],
      [{ deposit: { USD: { flat: '1.00' } } }, 'invalid_value', 'fees.deposit.USD.flat'],
      [{ deposit: { USD: {} } }, 'invalid_value', 'fees.deposit.USD'],
      [{ deposit: { XYZ: { fixed: '1.00' } } }, 'invalid_value', 'fees.deposit.XYZ'],
      [{ lend: {} }, 'invalid_value', 'fees.lend'],
    ] as const) {
      const response = await settings(t, { fees });
      assert.equal(response.statusCode, 422, `${JSON.stringify(fees)}: ${response.body}`);
      assert.deepEqual([errorOf(response).code, errorOf(response).details['field']], [code, field]);
    }
  });
});

describe('the fee of a short pay-in', async () => {
  // Nothing arrives but what the test sends.
  const t = await startCryptoApp({ fees: { deposit: { USDT: { fixed: '5', percent: '1' } } } });
  const simulator = (path: string, body: unknown) =>
    fetch(`${t.simulator!.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  /** The operator's USDT positions by kind, as `GET /v1/ledger/balances` shows them (minor units). */
  const positions = async () => {
    const response = await t.app.inject({ method: 'GET', url: '/v1/ledger/balances', headers: t.auth });
    assert.equal(response.statusCode, 200, response.body);
    const usdt = (response.json().data as { kind: string; currency: string; posted_minor: string }[]).filter(
      (row) => row.currency === 'USDT',
    );
    const of = (kind: string) =>
      usdt.filter((row) => row.kind === kind).reduce((n, row) => n + BigInt(row.posted_minor), 0n);
    return {
      fees: of('fees'),
      user: of('user'),
      clearing: of('provider_clearing'),
      total: of('fees') + of('user') + of('provider_clearing'),
    };
  };

  test('less arriving than the fixed fee: the fee is capped at what arrived, all of it to the fees account, the user credited nothing', async () => {
    const before = await positions();
    // Asked 100.01 USDT (…01: the sandbox chain sends nothing by itself); the fee on that is 5 + 1 %.
    const response = await createPayment(t, {
      user_id: 'short-payer',
      method: 'crypto',
      currency: 'USDT',
      network: 'TRC20',
      amount: '100.01',
    });
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    assert.deepEqual([payment.status, payment.fee], ['pending', '6.000100'], 'the fee on what was asked');
    // 1 USDT arrives: the fee on it (5 + 0.01) is more than arrived.
    const sent = await simulator('/admin/crypto/deposits', {
      address: payment.next_action.address,
      network: 'TRC20',
      amount: '1',
    });
    assert.equal(sent.status, 200, await sent.clone().text());
    await simulator('/admin/clock/advance', { seconds: 600 });
    const done = await waitForStatus(t, payment.id, ['completed'], 30_000);
    assert.deepEqual(
      [done.amount, done.fee, done.fee_minor],
      ['1.000000', '1.000000', '1000000'],
      'the fee on what arrived, no more than arrived',
    );
    const shown = await balanceShown(t, 'short-payer', 'USDT');
    assert.deepEqual(
      [shown?.['posted_minor'], shown?.['available_minor']],
      ['0', '0'],
      'the user is credited nothing, and owes nothing',
    );
    const after = await positions();
    assert.equal(after.fees - before.fees, 1_000_000n, 'the fees account takes what arrived, not the 5.01 fee');
    assert.equal(after.user - before.user, 0n);
    assert.equal(after.clearing - before.clearing, -1_000_000n, 'the ramp owes what arrived');
    assert.equal(after.total, 0n, 'the books balance');
  });
});
