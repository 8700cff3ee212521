import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorOf, startTestApp, type TestApp } from './harness.ts';
import {
  BANK_ACCOUNT,
  balance,
  balanceShown,
  CARD_3DS,
  createPayment,
  openForPayments,
  passChallenge,
  signedProviderEvent,
  startCryptoApp,
  WALLET_XPUB,
  waitForStatus,
} from './payment-fixtures.ts';
import { eventually } from './webhooks-fixtures.ts';
import { widgetCall, widgetSession } from './widget-fixtures.ts';

function admin(t: TestApp, method: string, path: string, body?: unknown) {
  return fetch(`${t.simulator!.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** A USDT deposit on TRC20 of `amount` for `user`, opened: pending, with its address. */
async function usdtDeposit(t: TestApp, user: string, amount: string) {
  const response = await createPayment(t, {
    user_id: user,
    method: 'crypto',
    currency: 'USDT',
    network: 'TRC20',
    amount,
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

describe('crypto deposits and withdrawals through the ramp', async () => {
  const t = await startCryptoApp();

  test('a deposit shows the user’s own derived address; the on-chain deposit, once confirmed, credits the ledger; asking again answers the open deposit', async () => {
    const payment = await usdtDeposit(t, 'hodler', '50');
    assert.equal(payment.status, 'pending');
    assert.equal(payment.next_action.type, 'crypto_address');
    assert.match(payment.next_action.address, /^T[1-9A-HJ-NP-Za-km-z]{33}$/, 'a TRON base58check address');
    const again = (
      await createPayment(t, { user_id: 'hodler', method: 'crypto', currency: 'USDT', network: 'TRC20', amount: '5' })
    ).json();
    assert.equal(again.id, payment.id, 'the open deposit to the user’s address, not a second one');
    assert.equal(again.next_action.address, payment.next_action.address);
    // The sandbox chain sends the expected amount to a watched address by itself (magic
    // amounts aside); ten simulated minutes of blocks confirm it.
    await admin(t, 'POST', '/admin/clock/advance', { seconds: 600 });
    // Ten simulated minutes of blocks arrive as a burst of confirmation webhooks.
    await waitForStatus(t, payment.id, ['completed'], 30_000);
    assert.equal(await balance(t, 'hodler', 'USDT'), 50_000_000n, 'USDT booked with 6 decimals');
  });

  test('the user’s widget is answered the deposit the operator opened to their address, without the operator’s own fields', async () => {
    const usdt = { method: 'crypto', currency: 'USDT', network: 'TRC20' };
    const opened = await createPayment(t, {
      user_id: 'shared',
      ...usdt,
      amount: '50',
      reference: 'internal-ref-77',
      metadata: { risk_note: 'flagged by the fraud team' },
    });
    assert.equal(opened.statusCode, 201, opened.body);
    const { widget } = await widgetSession(t, { user_id: 'shared' });
    const answered = await widgetCall(t, widget, '/widget/v1/payments', { ...usdt, amount: '5' });
    assert.equal(answered.statusCode, 201, answered.body);
    const seen = answered.json();
    assert.deepEqual(
      [seen.id, seen.next_action.address, seen.reference, seen.metadata],
      [opened.json().id, opened.json().next_action.address, null, {}],
    );
    const polled = await t.app.inject({ method: 'GET', url: `/widget/v1/payments/${seen.id}`, headers: widget });
    assert.deepEqual([polled.statusCode, polled.json().metadata], [200, {}], 'the user can follow their deposit');
    const operatorView = (
      await t.app.inject({ method: 'GET', url: `/v1/payments/${seen.id}`, headers: t.auth })
    ).json();
    assert.equal(operatorView.metadata.risk_note, 'flagged by the fraud team', 'the operator still sees its own');
  });

  test('a deposit completes for what arrived on chain, not what was asked: a short payment credits only what came', async () => {
    const outcomes: [string, string, bigint, string][] = [
      ['short-sender', '1', 1_000_000n, '1.000000'],
      ['generous-sender', '150.5', 150_500_000n, '150.500000'],
    ];
    for (const [user, sent, credited, shown] of outcomes) {
      // …01 cents: the sandbox chain sends nothing by itself; the test sends `sent` instead.
      const payment = await usdtDeposit(t, user, '100.01');
      const sentOnChain = await admin(t, 'POST', '/admin/crypto/deposits', {
        address: payment.next_action.address,
        network: 'TRC20',
        amount: sent,
      });
      assert.equal(sentOnChain.status, 200, await sentOnChain.clone().text());
      await admin(t, 'POST', '/admin/clock/advance', { seconds: 600 });
      const done = await waitForStatus(t, payment.id, ['completed'], 30_000);
      assert.equal(await balance(t, user, 'USDT'), credited, `${user}: credited what arrived`);
      assert.equal(done.amount, shown, 'the payment shows what arrived');
      assert.ok(
        done.timeline.some((step: { cause: string }) =>
          step.cause.includes(`${shown} USDT arrived where 100.010000 USDT was asked`),
        ),
        JSON.stringify(done.timeline),
      );
    }
  });

  test('a ramp notice that a deposit completed in another asset than the payment’s credits nothing: set aside', async () => {
    const payment = await usdtDeposit(t, 'mixed-up', '100.01');
    const { rows } = await t.db.query<{ provider_ref: string }>('SELECT provider_ref FROM payments WHERE id = $1', [
      payment.id,
    ]);
    // The ramp's own signed notice for this watch, but naming BTC: 0.5 BTC is 50,000,000
    // minor units, which read as USDT would credit 50.000000 USDT.
    const body = JSON.stringify({
      event_id: 'cev_mixed_up',
      event: 'deposit.confirmed',
      timestamp: Math.floor(Date.now() / 1000),
      data: {
        watch_id: rows[0]!.provider_ref,
        status: 'confirmed',
        address: payment.next_action.address,
        asset: 'BTC',
        network: 'BTC',
        expected_amount: '100.01',
        reference: payment.id,
        failure_reason: null,
        transaction: { tx_hash: 'ab'.repeat(32), amount: '0.5', confirmations: 6, required_confirmations: 6 },
      },
    });
    assert.equal((await signedProviderEvent(t, 'simcrypto', body).deliver()).received, true);
    const tried = await eventually(
      'the notice tried',
      async () =>
        (
          await t.db.query<{ last_error: string | null; processed: boolean }>(
            "SELECT last_error, processed_at IS NOT NULL AS processed FROM provider_events WHERE event_id = 'cev_mixed_up'",
          )
        ).rows[0],
      (row) => row !== undefined && (row.processed || row.last_error !== null),
    );
    assert.deepEqual(tried, { last_error: 'upstream_invalid_response', processed: false });
    const after = (await t.app.inject({ method: 'GET', url: `/v1/payments/${payment.id}`, headers: t.auth })).json();
    assert.equal(after.status, 'pending');
    assert.equal(await balance(t, 'mixed-up', 'USDT'), 0n);
  });

  test('a payout to an address that is not valid for the network answers invalid_value before anything is sent', async () => {
    const response = await createPayment(t, {
      user_id: 'hodler',
      kind: 'withdrawal',
      method: 'crypto',
      currency: 'USDT',
      network: 'TRC20',
      amount: '10',
      instrument: { address: '0x52908400098527886E0F7030069857D2E4169EE7' },
    });
    assert.equal(response.statusCode, 422, response.body);
    const error = errorOf(response);
    assert.equal(error.code, 'invalid_value');
    assert.equal(error.details['field'], 'instrument.address');
    assert.equal(await balance(t, 'hodler', 'USDT'), 50_000_000n);
  });

  test('a deposit without an xpub for the network answers wallet_not_supported', async () => {
    await openForPayments(t, {
      crypto_xpubs: {},
      currencies: [{ currency: 'USDT', network: 'ERC20', balances: 'ledger' }],
      providers: { deposit: [{ provider: 'simcrypto', blocked_jurisdictions: [] }] },
    });
    const response = await createPayment(t, {
      user_id: 'x',
      method: 'crypto',
      currency: 'USDT',
      network: 'ERC20',
      amount: '5',
    });
    assert.equal(response.statusCode, 400, response.body);
    assert.equal(errorOf(response).code, 'wallet_not_supported');
  });
});

/** The `payment.limit_exceeded` events of a payment, as the operator reads them. */
/**
 * The payment's `payment.limit_exceeded` events, once `GET /v1/events` lists any (unless
 * none are expected): it lists an event only once every write transaction older than it
 * has ended (a webhook being applied at that moment holds it back for that long).
 */
function limitEvents(t: TestApp, paymentId: string, expected: 'some' | 'none' = 'some') {
  return eventually(
    'limit events listed',
    async () => {
      const { data } = (
        await t.app.inject({ method: 'GET', url: '/v1/events?type=payment.limit_exceeded', headers: t.auth })
      ).json() as {
        data: { data: { payment: { id: string }; limit: string; limit_amount: string; amount: string } }[];
      };
      return data
        .filter((event) => event.data.payment.id === paymentId)
        .map(({ data: { limit, limit_amount, amount } }) => ({ limit, limit_amount, amount }));
    },
    (events) => expected === 'none' || events.length > 0,
  );
}

describe('one EVM wallet registered for several networks of one address format', async () => {
  // One xpub for ETH on ETHEREUM and for USDT on ERC20: one blockchain, one address format.
  const t = await startCryptoApp({ crypto_xpubs: { ETHEREUM: WALLET_XPUB, ERC20: WALLET_XPUB } });
  // …01: the sandbox chain sends nothing by itself; the deposits stay pending.
  const addressOf = async (user: string, currency: string, network: string) => {
    const response = await createPayment(t, { user_id: user, method: 'crypto', currency, network, amount: '1.01' });
    assert.equal(response.statusCode, 201, response.body);
    return (response.json().next_action.address as string).toLowerCase();
  };

  test('gives each user an address no other user has on any of them, and a user the same one on all', async () => {
    const alice = await addressOf('evm-alice', 'ETH', 'ETHEREUM');
    const bob = await addressOf('evm-bob', 'USDT', 'ERC20');
    const carol = await addressOf('evm-carol', 'USDT', 'ERC20');
    assert.equal(new Set([alice, bob, carol]).size, 3, JSON.stringify({ alice, bob, carol }));
    assert.equal(await addressOf('evm-alice', 'USDT', 'ERC20'), alice, 'alice’s address on the chain is hers');
    assert.equal(await addressOf('evm-bob', 'ETH', 'ETHEREUM'), bob);
    const dave = await addressOf('evm-dave', 'ETH', 'ETHEREUM');
    assert.ok(![alice, bob, carol].includes(dave));
    const { rows } = await t.db.query(
      `SELECT user_id, array_agg(DISTINCT derivation_index) AS indexes FROM deposit_addresses
        WHERE operator_id = $1 AND user_id LIKE 'evm-%' GROUP BY user_id ORDER BY user_id`,
      [t.operatorId],
    );
    assert.deepEqual(
      rows.map((r) => [r.user_id, r.indexes]),
      [
        ['evm-alice', [0]],
        ['evm-bob', [1]],
        ['evm-carol', [2]],
        ['evm-dave', [3]],
      ],
      'one index per user, handed out in order across the chain’s networks',
    );
  });
});

describe('more arriving than was asked, beyond the limits', async () => {
  const t = await startTestApp({ sandbox: { settleDelayMs: 60_000 } });
  await openForPayments(t, {
    crypto_xpubs: { TRC20: WALLET_XPUB },
    providers: { deposit: [{ provider: 'simcrypto', blocked_jurisdictions: [] }] },
    limits: { deposit: { USDT: { min: '1', max: '1000', daily: '100' } } },
  });
  /** A deposit asked for (an amount ending in …01: the sandbox chain sends nothing by itself), and `sent` arriving for it. */
  async function overpaid(user: string, ask: string, sent: string) {
    const asked = await createPayment(t, {
      user_id: user,
      method: 'crypto',
      currency: 'USDT',
      network: 'TRC20',
      amount: ask,
    });
    assert.equal(asked.statusCode, 201, asked.body);
    const address = asked.json().next_action.address;
    const arrived = await admin(t, 'POST', '/admin/crypto/deposits', { address, network: 'TRC20', amount: sent });
    assert.equal(arrived.status, 200, await arrived.clone().text());
    await admin(t, 'POST', '/admin/clock/advance', { seconds: 600 });
    return waitForStatus(t, asked.json().id, ['completed'], 30_000);
  }

  test('above the maximum for one payment: credited whole, and the operator is told', async () => {
    const done = await overpaid('over-max', '50.01', '1500');
    assert.equal(done.amount, '1500.000000');
    assert.equal(await balance(t, 'over-max', 'USDT'), 1_500_000_000n, 'the money is the user’s');
    assert.deepEqual(await limitEvents(t, done.id), [
      { limit: 'max', limit_amount: '1000.000000', amount: '1500.000000' },
    ]);
    const timeline = (await t.app.inject({ method: 'GET', url: `/v1/payments/${done.id}`, headers: t.auth })).json()
      .timeline as { cause: string }[];
    assert.ok(timeline.some((step) => step.cause.includes('above the max limit of 1000.000000 USDT')));
  });

  test('above the daily limit with the day’s other deposits: credited whole, and the operator is told', async () => {
    await overpaid('over-day', '40.01', '40.01'); // 40.01 of the day's 100
    const done = await overpaid('over-day', '50.01', '60'); // 100.01 with it
    assert.equal(done.amount, '60.000000');
    assert.deepEqual(await limitEvents(t, done.id), [
      { limit: 'daily', limit_amount: '100.000000', amount: '100.010000' },
    ]);
  });

  test('above a limit the user set for themselves: credited whole, and the operator is told which', async () => {
    const set = await t.app.inject({
      method: 'PATCH',
      url: '/v1/users/over-own/limits',
      headers: t.auth,
      payload: { deposit: { USDT: { week: '30' } } },
    });
    assert.equal(set.statusCode, 200, set.body);
    const done = await overpaid('over-own', '20.01', '35');
    assert.equal(await balance(t, 'over-own', 'USDT'), 35_000_000n);
    assert.deepEqual(await limitEvents(t, done.id), [
      { limit: 'user_week', limit_amount: '30.000000', amount: '35.000000' },
    ]);
  });
});

describe('ETH beyond bigint: amounts and balances above 2^63 - 1 wei (9.22 ETH), up to 2^256 - 1', async () => {
  const WEI = 10n ** 18n;
  /** 2^256 - 1 wei, the most Rampart holds, and one wei more. */
  const MAX_ETH = '115792089237316195423570985008687907853269984665640564039457.584007913129639935';
  const OVER_ETH = '115792089237316195423570985008687907853269984665640564039457.584007913129639936';
  const t = await startCryptoApp({
    crypto_xpubs: { ETHEREUM: WALLET_XPUB },
    currencies: [{ currency: 'ETH', network: 'ETHEREUM', balances: 'ledger' }],
    // Daily limits: each payment also sums the user's earlier ones of the day.
    limits: {
      deposit: { ETH: { min: '0.01', max: '1000', daily: '5000' } },
      withdrawal: { ETH: { min: '0.01', max: '1000', daily: '5000' } },
    },
  });
  const eth = (user: string, body: Record<string, unknown>) =>
    createPayment(t, { user_id: user, method: 'crypto', currency: 'ETH', network: 'ETHEREUM', ...body });

  test('a deposit of 25 ETH completes and the balance reads exactly 25 ETH; more arriving than was asked is credited whole', async () => {
    const response = await eth('whale', { amount: '25' });
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    assert.equal(payment.amount, '25.000000000000000000');
    assert.equal(payment.next_action.type, 'crypto_address');
    await admin(t, 'POST', '/admin/clock/advance', { seconds: 600 });
    const done = await waitForStatus(t, payment.id, ['completed'], 30_000);
    assert.equal(done.amount, '25.000000000000000000');
    assert.deepEqual(await balanceShown(t, 'whale', 'ETH'), {
      object: 'balance',
      currency: 'ETH',
      network: null,
      posted: '25.000000000000000000',
      held: '0.000000000000000000',
      available: '25.000000000000000000',
      posted_minor: (25n * WEI).toString(),
      held_minor: '0',
      available_minor: (25n * WEI).toString(),
    });

    // …01: the sandbox chain sends nothing by itself; 30 ETH arrive where 20.01 were asked.
    // The daily deposit limit sums the day's deposits: 25 ETH already, beyond bigint too.
    const second = await eth('whale', { amount: '20.01' });
    assert.equal(second.statusCode, 201, second.body);
    const asked = second.json();
    const sent = await admin(t, 'POST', '/admin/crypto/deposits', {
      address: asked.next_action.address,
      network: 'ETH',
      amount: '30',
    });
    assert.equal(sent.status, 200, await sent.clone().text());
    await admin(t, 'POST', '/admin/clock/advance', { seconds: 600 });
    const more = await waitForStatus(t, asked.id, ['completed'], 30_000);
    assert.equal(more.amount, '30.000000000000000000', 'the payment shows what arrived');
    assert.equal((await balanceShown(t, 'whale', 'ETH'))?.['posted_minor'], (55n * WEI).toString());
    assert.deepEqual(await limitEvents(t, asked.id, 'none'), [], 'within the limits: nothing to review');
  });

  test('a withdrawal of 12.5 ETH holds exactly 12.5 ETH while it is on its way, then posts it', async () => {
    const deposit = await eth('saver', { amount: '25' });
    assert.equal(deposit.statusCode, 201, deposit.body);
    await admin(t, 'POST', '/admin/clock/advance', { seconds: 600 });
    await eventually(
      'the deposit credited',
      () => balanceShown(t, 'saver', 'ETH'),
      (shown) => shown?.['posted'] === '25.000000000000000000',
    );
    const response = await eth('saver', {
      kind: 'withdrawal',
      amount: '12.5',
      instrument: { address: '0x52908400098527886E0F7030069857D2E4169EE7' },
    });
    assert.equal(response.statusCode, 201, response.body);
    const payout = response.json();
    assert.deepEqual([payout.status, payout.amount], ['processing', '12.500000000000000000']);
    assert.deepEqual(
      await balanceShown(t, 'saver', 'ETH').then((b) => [b?.['posted'], b?.['held'], b?.['available']]),
      ['25.000000000000000000', '12.500000000000000000', '12.500000000000000000'],
      'held while the chain works',
    );
    await admin(t, 'POST', '/admin/clock/advance', { seconds: 600 });
    await waitForStatus(t, payout.id, ['completed'], 30_000);
    assert.deepEqual(await balanceShown(t, 'saver', 'ETH'), {
      object: 'balance',
      currency: 'ETH',
      network: null,
      posted: '12.500000000000000000',
      held: '0.000000000000000000',
      available: '12.500000000000000000',
      posted_minor: ((25n * WEI) / 2n).toString(),
      held_minor: '0',
      available_minor: ((25n * WEI) / 2n).toString(),
    });
  });

  test('an amount above 2^256 - 1 wei is invalid_amount, naming the maximum; nothing is created', async () => {
    const response = await eth('greedy', { amount: OVER_ETH });
    assert.equal(response.statusCode, 422, response.body);
    const error = errorOf(response);
    assert.equal(error.code, 'invalid_amount');
    assert.deepEqual(error.details, {
      field: 'amount',
      provided: OVER_ETH,
      expected: `a positive amount of at most ${MAX_ETH} ETH`,
    });
    const { rows } = await t.db.query("SELECT count(*)::int AS n FROM payments WHERE user_id = 'greedy'");
    assert.equal(rows[0]!.n, 0);
  });

  test('a balance may reach 2^256 - 1 wei; a credit that would take it beyond is invalid_amount and moves nothing', async () => {
    const adjust = (amount: string, reference: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/users/richest/balance_adjustments',
        headers: t.auth,
        payload: { direction: 'credit', amount, currency: 'ETH', reason: 'opening balance', reference },
      });
    const credited = await adjust(MAX_ETH, 'richest-1');
    assert.equal(credited.statusCode, 201, credited.body);
    assert.equal(credited.json().balance.posted, MAX_ETH);
    const beyond = await adjust('0.000000000000000001', 'richest-2');
    assert.equal(beyond.statusCode, 422, beyond.body);
    const error = errorOf(beyond);
    assert.equal(error.code, 'invalid_amount');
    assert.deepEqual(error.details, {
      field: 'amount',
      provided: '0.000000000000000001',
      expected: `an amount that keeps the balance within ±${MAX_ETH} ETH`,
    });
    assert.equal((await balanceShown(t, 'richest', 'ETH'))?.['posted'], MAX_ETH);
  });
});

describe('reconciliation', async () => {
  const t = await startTestApp({ sandbox: { settleDelayMs: 50 } });
  await openForPayments(t);

  test('a payment whose webhooks never arrive is completed by asking the provider', async () => {
    // The provider's webhooks go nowhere: only reconciliation can learn the outcome.
    await admin(t, 'PUT', '/admin/webhook-targets/cards', { url: 'http://127.0.0.1:9/nowhere' });
    const payment = (
      await createPayment(t, {
        user_id: 'lost',
        amount: '20.00',
        instrument: CARD_3DS,
      })
    ).json();
    await passChallenge(payment);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await waitForStatus(t, payment.id, ['pending'])).status, 'pending', 'no webhook, no news');
    await t.db.query("UPDATE payments SET updated_at = now() - interval '1 minute' WHERE id = $1", [payment.id]);
    const reconcile = t.app.jobs.find((job) => job.name === 'reconcile-payments')!;
    assert.equal(await reconcile.run(), 1);
    const done = await waitForStatus(t, payment.id, ['completed']);
    assert.ok(done.timeline.some((step: { cause: string }) => /reconciled/.test(step.cause)));
    assert.equal(await balance(t, 'lost'), 2000n);
  });
});

describe('reconciliation after a create call timed out and no webhook came', async () => {
  const t = await startTestApp({ sandbox: { settleDelayMs: 50, timeoutMs: 400, breakerThreshold: 100 } });
  await openForPayments(t);
  // No webhook ever arrives: only asking the provider can settle these payments.
  for (const provider of ['cards', 'bank']) {
    await admin(t, 'PUT', `/admin/webhook-targets/${provider}`, { url: 'http://127.0.0.1:9/nowhere' });
  }
  const fault = async (rule: Record<string, unknown>) =>
    assert.equal((await admin(t, 'POST', '/admin/faults', { count: 1, hold_ms: 2_000, ...rule })).status, 201);
  /** Runs reconciliation as if nothing had touched the payment for `quietFor` (it asks after 30 s). */
  const reconcile = async (paymentId: string, quietFor = '1 minute') => {
    await t.db.query('UPDATE payments SET updated_at = now() - $2::interval WHERE id = $1', [paymentId, quietFor]);
    return t.app.jobs.find((job) => job.name === 'reconcile-payments')!.run();
  };
  const providerRef = async (id: string) =>
    (await t.db.query('SELECT provider_ref FROM payments WHERE id = $1', [id])).rows[0]?.provider_ref;
  const requests = async (provider: string, key: string) =>
    (
      (await (await admin(t, 'GET', `/admin/requests?provider=${provider}&idempotency_key=${key}`)).json()) as {
        requests: { created_id: string | null; replayed: boolean }[];
      }
    ).requests;

  test('a charge whose answer was lost is found by Rampart’s id and completed: one charge, credited once', async () => {
    await fault({ provider: 'cards', kind: 'timeout', phase: 'after' });
    const response = await createPayment(t, { user_id: 'unanswered', amount: '16.00' });
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    assert.equal(payment.status, 'pending', 'the outcome is unknown');
    assert.equal(await providerRef(payment.id), null, 'Rampart never learnt the provider’s id');

    assert.equal(await reconcile(payment.id), 1);
    const done = await waitForStatus(t, payment.id, ['completed']);
    assert.ok(done.timeline.some((step: { cause: string }) => /reconciled with simcard/.test(step.cause)));
    assert.notEqual(await providerRef(payment.id), null);
    assert.equal(await balance(t, 'unanswered'), 1600n);
    const charges = (await requests('cards', payment.id)).filter((r) => r.created_id && !r.replayed);
    assert.equal(charges.length, 1, 'charged once');
    // Asked again, nothing moves twice.
    await reconcile(payment.id);
    assert.equal(await balance(t, 'unanswered'), 1600n);
  });

  test('a payment a node left in created (it died mid-call) is asked about only once it is surely abandoned', async () => {
    await fault({ provider: 'cards', kind: 'timeout', phase: 'after' });
    const response = await createPayment(t, { user_id: 'orphaned', amount: '17.00' });
    const payment = response.json();
    // As if the node had died after recording the payment, before hearing from the provider.
    const leave = (minutes: number) =>
      t.db.query(
        "UPDATE payments SET status = 'created', provider_ref = NULL, updated_at = now() - make_interval(mins => $2) WHERE id = $1",
        [payment.id, minutes],
      );
    const job = t.app.jobs.find((j) => j.name === 'reconcile-payments')!;
    await leave(1);
    await job.run();
    assert.equal(
      (await t.db.query('SELECT status FROM payments WHERE id = $1', [payment.id])).rows[0]?.status,
      'created',
    );
    await leave(10);
    assert.equal(await job.run(), 1);
    await waitForStatus(t, payment.id, ['completed']);
    assert.equal(await balance(t, 'orphaned'), 1700n);
  });

  test('a payout the bank never received fails on reconciliation and its hold is freed', async () => {
    await createPayment(t, { user_id: 'never-sent', amount: '30.00' });
    await fault({ provider: 'bank', kind: 'timeout', phase: 'before' });
    const response = await createPayment(t, {
      user_id: 'never-sent',
      kind: 'withdrawal',
      method: 'bank',
      amount: '12.00',
      instrument: BANK_ACCOUNT,
    });
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    assert.equal(payment.status, 'pending');
    const held = await t.db.query(
      "SELECT pending_debits FROM ledger_accounts WHERE operator_id = $1 AND kind = 'user' AND owner_ref = 'never-sent'",
      [t.operatorId],
    );
    assert.equal(BigInt(held.rows[0]!.pending_debits), 1200n, 'the amount is held while the outcome is unknown');

    // A minute of quiet is not enough to call it never received: its create may still be on
    // its way. It is left untouched, so its quiet time keeps counting.
    assert.equal(await reconcile(payment.id), 0);
    assert.equal((await waitForStatus(t, payment.id, ['pending'])).status, 'pending');
    const { rows: quiet } = await t.db.query(
      "SELECT updated_at < now() - interval '50 seconds' AS still_quiet FROM payments WHERE id = $1",
      [payment.id],
    );
    assert.equal(quiet[0]!.still_quiet, true, 'asking did not restart its quiet time');
    assert.equal(await reconcile(payment.id, '6 minutes'), 1);
    const failed = await waitForStatus(t, payment.id, ['failed']);
    assert.equal(failed.failure.code, 'upstream_timeout');
    assert.ok(failed.timeline.some((step: { cause: string }) => /never received/.test(step.cause)));
    const freed = await t.db.query(
      "SELECT posted, pending_debits FROM ledger_accounts WHERE operator_id = $1 AND kind = 'user' AND owner_ref = 'never-sent'",
      [t.operatorId],
    );
    assert.deepEqual(
      [BigInt(freed.rows[0]!.posted), BigInt(freed.rows[0]!.pending_debits)],
      [3000n, 0n],
      'balance whole again, nothing held',
    );
    assert.equal((await requests('bank', payment.id)).filter((r) => r.created_id).length, 0, 'no payout at the bank');
  });

  test('a payment its provider errors about goes to the back of the queue, so it never starves the others', async () => {
    const response = await createPayment(t, { user_id: 'errored', amount: '10.00', instrument: CARD_3DS });
    const payment = response.json();
    assert.equal(payment.status, 'pending', response.body);
    await fault({ provider: 'cards', kind: 'error', status: 500, method: 'GET', count: 10 });
    try {
      const before = Date.now();
      assert.equal(await reconcile(payment.id), 0);
      const { rows } = await t.db.query('SELECT status, updated_at FROM payments WHERE id = $1', [payment.id]);
      assert.equal(rows[0]!.status, 'pending', 'nothing learnt, nothing changed');
      assert.ok(rows[0]!.updated_at.getTime() >= before - 1_000, 'but it was moved behind the payments not yet asked');
    } finally {
      await admin(t, 'DELETE', '/admin/faults');
    }
  });
});
