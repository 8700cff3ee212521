/**
 * Crypto buys (on-ramp) and sells (off-ramp) through the Partner API against the sandbox
 * ramp over real HTTP: every magic amount the simulator documents for orders, upstream
 * faults, lost webhooks and reconciliation — each with the payment's status, failure,
 * timeline and ledger effect. A buy credits the user in the bought asset when the ramp's
 * transfer confirms; a sell holds the amount, posts the hold when the user's crypto
 * confirms at the ramp, and voids it when the sell fails.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorOf, startTestApp, type TestApp } from './harness.ts';
import { createPayment, openForPayments, travellingClock, WALLET_XPUB } from './payment-fixtures.ts';

const USDT_TRC20 = { currency: 'USDT', network: 'TRC20' };
const USDT = 1_000_000n;
/** Long enough for any order to settle and confirm (TRC20: 19 blocks of one second). */
const SETTLED_SECONDS = 600;

interface Payment {
  id: string;
  kind: string;
  status: string;
  amount: string;
  provider: string;
  failure: { code: string; message: string | null } | null;
  next_action: { type: string; address: string; network: string; amount: string } | null;
  timeline: { from: string | null; to: string; cause: string }[];
}

/**
 * An app on the sandbox ramp: the ramp transfers a minute (simulated) after an order, so
 * nothing settles until the test moves the ramp's clock; a high breaker threshold keeps
 * each case meeting its own fault rather than a circuit an earlier case opened.
 */
async function rampApp(options: { timeoutMs?: number } = {}) {
  const clock = travellingClock();
  const t = await startTestApp({ clock, sandbox: { settleDelayMs: 60_000, breakerThreshold: 100, ...options } });
  await openForPayments(t, { crypto_xpubs: { TRC20: WALLET_XPUB, BITCOIN: WALLET_XPUB }, sell_enabled: true });
  return { t, clock, ramp: t.simulator!.admin };
}

function crypto(t: TestApp, user: string, kind: 'buy' | 'sell', amount: string, pair = USDT_TRC20) {
  return createPayment(t, { user_id: user, kind, method: 'crypto', ...pair, amount, instrument: {} });
}

async function payment(t: TestApp, id: string): Promise<Payment> {
  const response = await t.app.inject({ method: 'GET', url: `/v1/payments/${id}`, headers: t.auth });
  assert.equal(response.statusCode, 200, response.body);
  return response.json();
}

const path = (p: Payment) => p.timeline.map((step) => step.to);

/** The user's ledger account: its posted balance and what pay-outs hold of it. */
async function position(t: TestApp, user: string, currency = 'USDT') {
  const { rows } = await t.db.query(
    "SELECT posted, pending_debits FROM ledger_accounts WHERE operator_id = $1 AND kind = 'user' AND owner_ref = $2 AND currency = $3",
    [t.operatorId, user, currency],
  );
  return { posted: rows[0] ? BigInt(rows[0].posted) : 0n, held: rows[0] ? BigInt(rows[0].pending_debits) : 0n };
}

/** Double entry: whatever a user was credited or debited, a clearing account was the other side. */
async function assertBalanced(t: TestApp, currency = 'USDT') {
  const { rows } = await t.db.query(
    'SELECT coalesce(sum(posted), 0)::text AS total FROM ledger_accounts WHERE operator_id = $1 AND currency = $2',
    [t.operatorId, currency],
  );
  assert.equal(rows[0]!.total, '0', 'postings sum to zero');
}

/** What the ramp was asked for a payment: its quote (key `<payment>:quote`) and its order (key `<payment>`). */
function rampCalls(t: TestApp, paymentId: string) {
  const log = (key: string) =>
    t.simulator!.admin.requests({ provider: 'crypto', idempotency_key: key }).map((r) => ({
      status: r.status,
      replayed: r.replayed,
      created: r.created_id,
    }));
  return { quotes: log(`${paymentId}:quote`), orders: log(paymentId) };
}

/**
 * Waits until the ramp has nothing left to send and Rampart has applied every webhook it
 * took. An event whose application failed (a loaded machine can time a lock out) is
 * retried as the background job would retry it a second later.
 */
async function settled(t: TestApp, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  const retryJob = t.app.jobs.find((job) => job.name === 'process-provider-events')!;
  for (;;) {
    const { rows } = await t.db.query(
      `SELECT count(*) FILTER (WHERE attempts = 0)::int AS fresh, count(*) FILTER (WHERE attempts > 0)::int AS failed
         FROM provider_events WHERE processed_at IS NULL AND attempts < 20`,
    );
    if (t.simulator!.admin.webhooksIdle() && rows[0]!.fresh === 0 && rows[0]!.failed === 0) return;
    if (rows[0]!.failed > 0) await retryJob.run();
    if (Date.now() > deadline) assert.fail('the ramp’s webhooks did not settle');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Time travel on the ramp (settlement, blocks), then every webhook it caused is applied. */
async function elapse(t: TestApp, seconds: number) {
  t.simulator!.admin.advanceClock(seconds);
  await settled(t);
}

/** A completed buy of `amount` USDT: the user has crypto to sell. */
async function fund(t: TestApp, user: string, amount: string) {
  const { id } = accepted(await crypto(t, user, 'buy', amount));
  await elapse(t, SETTLED_SECONDS);
  const bought = await payment(t, id);
  assert.equal(bought.status, 'completed');
  return bought;
}

/** A create Rampart accepted (201): the payment it answered. */
function accepted(response: Awaited<ReturnType<typeof crypto>>): Payment {
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

/**
 * A create refused with `code` (retryable) whose payment failed at once, before any
 * ramp order could have moved money; `details` the error must also carry.
 */
async function failedAtOnce(
  t: TestApp,
  response: Awaited<ReturnType<typeof crypto>>,
  status: number,
  code: string,
  details: Record<string, string> = {},
): Promise<Payment> {
  assert.equal(response.statusCode, status, response.body);
  const error = errorOf(response);
  assert.deepEqual([error.code, error.retryable], [code, true]);
  for (const [key, value] of Object.entries(details)) assert.equal(error.details[key], value);
  const failed = await payment(t, String(error.details['payment_id']));
  assert.equal(failed.status, 'failed');
  assert.equal(failed.failure?.code, code);
  // A sell, a pay-out, is `pending` from when it goes to the ramp (before any order is placed).
  assert.deepEqual(path(failed), failed.kind === 'sell' ? ['created', 'pending', 'failed'] : ['created', 'failed']);
  return failed;
}

/** USDT on BEP20 is not among the operator's pairs: refused before anything reaches the ramp. */
async function assertPairNotEnabled(t: TestApp, kind: 'buy' | 'sell') {
  const before = t.simulator!.admin.requests({ provider: 'crypto' }).length;
  const response = await crypto(t, `${kind}-bep20`, kind, '10', { currency: 'USDT', network: 'BEP20' });
  assert.equal(response.statusCode, 400, response.body);
  const error = errorOf(response);
  assert.deepEqual([error.code, error.retryable], ['wallet_not_supported', false]);
  assert.deepEqual([error.details['currency'], error.details['network']], ['USDT', 'BEP20']);
  assert.equal(t.simulator!.admin.requests({ provider: 'crypto' }).length, before);
}

async function reconcile(t: TestApp, clock: ReturnType<typeof travellingClock>) {
  // Reconciliation asks about payments open for 30 s and more.
  clock.advance(31);
  return t.app.jobs.find((job) => job.name === 'reconcile-payments')!.run();
}

describe('buying crypto through the Partner API', async () => {
  const { t, clock } = await rampApp();

  test('a buy is processing until the ramp’s transfer confirms, then completed: the user is credited in the bought asset', async () => {
    const response = await crypto(t, 'buyer', 'buy', '24.00');
    const created = accepted(response);
    assert.deepEqual([created.kind, created.status, created.provider], ['buy', 'processing', 'simcrypto']);
    assert.equal(created.next_action, null, 'nothing for the user to do: the ramp sends the crypto');
    const calls = rampCalls(t, created.id);
    assert.equal(calls.orders.length, 1);
    const order = await (
      await fetch(`${t.simulator!.url}/crypto/v1/orders/${calls.orders[0]!.created}`, {
        headers: { 'x-ramp-key': 'k' },
      })
    ).json();
    assert.deepEqual(
      [order.data.side, order.data.crypto_amount, order.data.customer_ref],
      ['buy', '24.000000', created.id],
      'exactly the amount bought, for this payment',
    );
    await settled(t);
    assert.equal((await payment(t, created.id)).status, 'processing', 'not before the transfer confirms');
    assert.equal((await position(t, 'buyer')).posted, 0n);

    await elapse(t, SETTLED_SECONDS);
    const done = await payment(t, created.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.failure, null);
    assert.deepEqual(path(done), ['created', 'processing', 'completed']);
    assert.match(done.timeline.at(-1)!.cause, /webhook/, 'learnt from the ramp’s webhook');
    assert.deepEqual(await position(t, 'buyer'), { posted: 24n * USDT, held: 0n });
    await assertBalanced(t);
  });

  test('buy …01: the ramp cannot fill the order → 402 deposit_failed (retryable), the buy failed, nothing credited', async () => {
    const response = await crypto(t, 'buy-01', 'buy', '25.01');
    const failed = await failedAtOnce(t, response, 402, 'deposit_failed', {
      provider_code: '42202',
      provider_reason: 'insufficient_liquidity',
    });
    assert.deepEqual(rampCalls(t, failed.id).orders, [{ status: 422, replayed: false, created: null }]);
    await elapse(t, SETTLED_SECONDS);
    assert.equal((await payment(t, failed.id)).status, 'failed');
    assert.deepEqual(await position(t, 'buy-01'), { posted: 0n, held: 0n });
  });

  test('buy …02: the order answers 500 once; Rampart’s one retry replays the quote and places one order, which completes', async () => {
    const response = await crypto(t, 'buy-02', 'buy', '25.02');
    const created = accepted(response);
    assert.equal(created.status, 'processing');
    const calls = rampCalls(t, created.id);
    assert.deepEqual(
      calls.quotes.map((q) => q.replayed),
      [false, true],
      'the retry was given the same quote',
    );
    assert.deepEqual(
      calls.orders.map((o) => o.status),
      [500, 201],
    );
    assert.equal(calls.orders.filter((o) => o.created).length, 1, 'one order at the ramp');
    await elapse(t, SETTLED_SECONDS);
    const done = await payment(t, created.id);
    assert.deepEqual(path(done), ['created', 'processing', 'completed']);
    assert.deepEqual(await position(t, 'buy-02'), { posted: 25_020_000n, held: 0n });
  });

  test('buy …03: every quote answers 500 → 502 upstream_error (retryable), the buy failed, nothing ordered or credited', async () => {
    const response = await crypto(t, 'buy-03', 'buy', '25.03');
    const failed = await failedAtOnce(t, response, 502, 'upstream_error');
    const calls = rampCalls(t, failed.id);
    assert.deepEqual(
      calls.quotes.map((q) => q.status),
      [500, 500],
      'asked once more, then given up',
    );
    assert.deepEqual(calls.orders, []);
    assert.deepEqual(await position(t, 'buy-03'), { posted: 0n, held: 0n });
  });

  test('buy …04: the ramp never delivers → the buy stays processing, reconciliation leaves it so, nothing credited', async () => {
    const response = await crypto(t, 'buy-04', 'buy', '25.04');
    const created = accepted(response);
    await elapse(t, 86_400);
    assert.equal((await payment(t, created.id)).status, 'processing');
    await reconcile(t, clock);
    const still = await payment(t, created.id);
    assert.equal(still.status, 'processing', 'the ramp still says processing');
    assert.equal(still.failure, null);
    assert.deepEqual(path(still), ['created', 'processing']);
    assert.deepEqual(await position(t, 'buy-04'), { posted: 0n, held: 0n });
  });

  test('buy …05: the liquidity provider rejects it after the settle delay → failed with deposit_failed, nothing credited', async () => {
    const response = await crypto(t, 'buy-05', 'buy', '25.05');
    const created = accepted(response);
    assert.equal(created.status, 'processing');
    await elapse(t, SETTLED_SECONDS);
    const failed = await payment(t, created.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure?.code, 'deposit_failed');
    assert.deepEqual(path(failed), ['created', 'processing', 'failed']);
    assert.deepEqual(await position(t, 'buy-05'), { posted: 0n, held: 0n });
  });

  test('buy …06 and …07 mean nothing to the ramp: both buys complete and credit the user', async () => {
    const ids = [];
    for (const amount of ['25.06', '25.07']) {
      ids.push(accepted(await crypto(t, `buy-${amount}`, 'buy', amount)).id);
    }
    await elapse(t, SETTLED_SECONDS);
    for (const [i, amount] of ['25.06', '25.07'].entries()) {
      assert.equal((await payment(t, ids[i]!)).status, 'completed', amount);
      assert.equal((await position(t, `buy-${amount}`)).posted, BigInt(amount.replace('.', '')) * 10_000n);
    }
  });

  test('a buy of a pair the operator has not enabled answers wallet_not_supported; nothing reaches the ramp', () =>
    assertPairNotEnabled(t, 'buy'));

  test('a buy on a network the operator registered no wallet (xpub) for answers wallet_not_supported; nothing is ordered', async () => {
    const before = t.simulator!.admin.requests({ provider: 'crypto' }).length;
    const response = await crypto(t, 'buy-eth', 'buy', '0.05', { currency: 'ETH', network: 'ETHEREUM' });
    assert.equal(response.statusCode, 400, response.body);
    const error = errorOf(response);
    assert.deepEqual([error.code, error.retryable], ['wallet_not_supported', false]);
    assert.deepEqual([error.details['currency'], error.details['network']], ['ETH', 'ETHEREUM']);
    const failed = await payment(t, String(error.details['payment_id']));
    assert.deepEqual([failed.status, failed.failure?.code], ['failed', 'wallet_not_supported']);
    assert.equal(t.simulator!.admin.requests({ provider: 'crypto' }).length, before);
    assert.equal((await position(t, 'buy-eth', 'ETH')).posted, 0n);
  });
});

describe('selling crypto through the Partner API', async () => {
  const { t, clock } = await rampApp();

  test('a sell holds the amount and shows the ramp’s address; once the crypto confirms the hold is posted: the balance is reduced', async () => {
    await fund(t, 'seller', '100');
    const response = await crypto(t, 'seller', 'sell', '40.00');
    const created = accepted(response);
    assert.deepEqual([created.kind, created.status], ['sell', 'pending']);
    assert.equal(created.next_action?.type, 'crypto_address');
    assert.equal(created.next_action?.network, 'TRC20');
    assert.equal(created.next_action?.amount, '40.000000');
    assert.match(created.next_action!.address, /^T[1-9A-HJ-NP-Za-km-z]{33}$/, 'the ramp’s TRON address');
    assert.deepEqual(await position(t, 'seller'), { posted: 100n * USDT, held: 40n * USDT });
    await settled(t);
    assert.equal((await payment(t, created.id)).status, 'pending', 'not before the crypto arrives');

    await elapse(t, SETTLED_SECONDS);
    const done = await payment(t, created.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.failure, null);
    assert.equal(done.next_action, null, 'nothing left to send');
    // The ramp sends its webhooks concurrently and Rampart applies them in the order they
    // arrive: the final one may come first, and then the transfer being seen (processing) does not show.
    assert.deepEqual(
      path(done).filter((to) => to !== 'processing'),
      ['created', 'pending', 'completed'],
    );
    assert.deepEqual(await position(t, 'seller'), { posted: 60n * USDT, held: 0n });
    await assertBalanced(t);
  });

  test('a sell larger than the balance answers insufficient_balance: no payment, nothing held, nothing sent to the ramp', async () => {
    const funded = await fund(t, 'short', '10');
    const before = t.simulator!.admin.requests({ provider: 'crypto' }).length;
    const response = await crypto(t, 'short', 'sell', '10.000001');
    assert.equal(response.statusCode, 402, response.body);
    const error = errorOf(response);
    assert.deepEqual([error.code, error.retryable], ['insufficient_balance', false]);
    assert.deepEqual(
      [error.details['available'], error.details['requested'], error.details['currency']],
      [funded.amount, '10.000001', 'USDT'],
    );
    assert.equal(t.simulator!.admin.requests({ provider: 'crypto' }).length, before);
    const sells = await t.app.inject({ method: 'GET', url: '/v1/payments?user_id=short&kind=sell', headers: t.auth });
    assert.deepEqual(sells.json().data, []);
    assert.deepEqual(await position(t, 'short'), { posted: 10n * USDT, held: 0n });
  });

  test('sell …01: the ramp cannot fill the order → 402 withdrawal_failed (retryable), the sell failed, its hold released', async () => {
    await fund(t, 'sell-01', '100');
    const response = await crypto(t, 'sell-01', 'sell', '25.01');
    const failed = await failedAtOnce(t, response, 402, 'withdrawal_failed', { provider_code: '42202' });
    assert.deepEqual(rampCalls(t, failed.id).orders, [{ status: 422, replayed: false, created: null }]);
    assert.deepEqual(await position(t, 'sell-01'), { posted: 100n * USDT, held: 0n });
  });

  test('sell …02: the order answers 500 once; Rampart’s one retry places one order, and the sell completes', async () => {
    await fund(t, 'sell-02', '100');
    const response = await crypto(t, 'sell-02', 'sell', '25.02');
    const created = accepted(response);
    assert.equal(created.status, 'pending');
    const calls = rampCalls(t, created.id);
    assert.deepEqual(
      calls.quotes.map((q) => q.replayed),
      [false, true],
    );
    assert.deepEqual(
      calls.orders.map((o) => o.status),
      [500, 201],
    );
    await elapse(t, SETTLED_SECONDS);
    assert.equal((await payment(t, created.id)).status, 'completed');
    assert.deepEqual(await position(t, 'sell-02'), { posted: 100n * USDT - 25_020_000n, held: 0n });
  });

  test('sell …03: every quote answers 500 → 502 upstream_error (retryable), the sell failed, its hold released', async () => {
    await fund(t, 'sell-03', '100');
    const response = await crypto(t, 'sell-03', 'sell', '25.03');
    const failed = await failedAtOnce(t, response, 502, 'upstream_error');
    assert.deepEqual(rampCalls(t, failed.id).orders, []);
    assert.deepEqual(await position(t, 'sell-03'), { posted: 100n * USDT, held: 0n });
  });

  test('sell …04: the crypto never arrives → pending at the ramp’s address, the amount held, until the ramp expires the order: then failed, its hold released', async () => {
    await fund(t, 'sell-04', '100');
    const response = await crypto(t, 'sell-04', 'sell', '25.04');
    const created = accepted(response);
    await elapse(t, 59 * 60);
    await reconcile(t, clock);
    const waiting = await payment(t, created.id);
    assert.equal(waiting.status, 'pending', 'within the ramp’s hour for the deposit');
    assert.deepEqual(waiting.next_action, created.next_action, 'still waiting at the same address');
    assert.deepEqual(await position(t, 'sell-04'), { posted: 100n * USDT, held: 25_040_000n });

    await elapse(t, 60);
    const expired = await payment(t, created.id);
    assert.equal(expired.status, 'failed');
    assert.equal(expired.failure?.code, 'withdrawal_failed');
    assert.equal(expired.next_action, null, 'nothing to send any more');
    assert.deepEqual(path(expired), ['created', 'pending', 'failed']);
    assert.match(expired.timeline.at(-1)!.cause, /webhook/, 'learnt from the ramp’s webhook');
    assert.deepEqual(await position(t, 'sell-04'), { posted: 100n * USDT, held: 0n });
    await assertBalanced(t);
  });

  test('sell …05: the crypto is dropped from the mempool → failed with withdrawal_failed, its hold released', async () => {
    await fund(t, 'sell-05', '100');
    const response = await crypto(t, 'sell-05', 'sell', '25.05');
    const created = accepted(response);
    assert.equal(created.status, 'pending');
    assert.deepEqual(await position(t, 'sell-05'), { posted: 100n * USDT, held: 25_050_000n });
    await elapse(t, SETTLED_SECONDS);
    const failed = await payment(t, created.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure?.code, 'withdrawal_failed');
    assert.equal(failed.next_action, null, 'nothing to send any more');
    // The ramp sends its webhooks concurrently and Rampart applies them in the order they
    // arrive: the final one may come first, and then the transfer being seen (processing) does not show.
    assert.deepEqual(
      path(failed).filter((to) => to !== 'processing'),
      ['created', 'pending', 'failed'],
    );
    assert.deepEqual(await position(t, 'sell-05'), { posted: 100n * USDT, held: 0n });
  });

  test('sell …06 and …07 mean nothing to the ramp: both sells complete and post their holds', async () => {
    for (const amount of ['25.06', '25.07']) {
      const user = `sell-${amount}`;
      await fund(t, user, '100');
      const { id } = accepted(await crypto(t, user, 'sell', amount));
      await elapse(t, SETTLED_SECONDS);
      assert.equal((await payment(t, id)).status, 'completed', amount);
      assert.deepEqual(await position(t, user), {
        posted: 100n * USDT - BigInt(amount.replace('.', '')) * 10_000n,
        held: 0n,
      });
    }
  });

  test('a sell of a pair the operator has not enabled answers wallet_not_supported; nothing reaches the ramp', () =>
    assertPairNotEnabled(t, 'sell'));
});

describe('upstream faults on buys and sells', async () => {
  // A short call timeout, so the lost-answer cases are quick; still far above a healthy answer.
  const { t, ramp } = await rampApp({ timeoutMs: 2_000 });

  const faults: [name: string, rule: Record<string, unknown>, code: string][] = [
    ['an error answer', { kind: 'error', status: 500 }, 'upstream_error'],
    ['a garbage body', { kind: 'garbage' }, 'upstream_invalid_response'],
    ['a reset connection', { kind: 'reset' }, 'upstream_unavailable'],
    ['an outage', { kind: 'outage', duration_ms: 600_000 }, 'upstream_error'],
  ];
  for (const kind of ['buy', 'sell'] as const) {
    for (const [name, rule, code] of faults) {
      test(`${name} on a ${kind} answers 502 ${code} (retryable); the ${kind} failed, nothing ordered, the ledger untouched`, async () => {
        const user = `${kind}-${String(rule['kind'])}`;
        if (kind === 'sell') await fund(t, user, '50');
        const before = await position(t, user);
        // On the ramp's writes only: asked by Rampart's id, the ramp says it has no such order.
        ramp.addFault({ provider: 'crypto', method: 'POST', ...rule } as Parameters<typeof ramp.addFault>[0]);
        try {
          const response = await crypto(t, user, kind, '20.00');
          const failed = await failedAtOnce(t, response, 502, code);
          assert.equal(rampCalls(t, failed.id).orders.filter((o) => o.created).length, 0);
        } finally {
          ramp.clearFaults('crypto');
        }
        assert.deepEqual(await position(t, user), { posted: before.posted, held: 0n });
      });
    }

    test(`a ${kind} whose order answer is lost (timeout after the ramp acted) stays open, learns its order from the webhook and completes: one order`, async () => {
      const user = `${kind}-timeout`;
      if (kind === 'sell') await fund(t, user, '50');
      const before = await position(t, user);
      ramp.addFault({
        provider: 'crypto',
        kind: 'timeout',
        method: 'POST',
        path: '/crypto/v1/orders',
        phase: 'after',
        hold_ms: 10_000,
        count: 1,
      });
      const open = accepted(await crypto(t, user, kind, '20.00'));
      // The ramp's first webhook may have told Rampart about the order before it gave up waiting.
      assert.ok(['pending', 'processing'].includes(open.status), open.status);
      await settled(t);
      const known = await payment(t, open.id);
      assert.equal(known.status, kind === 'buy' ? 'processing' : 'pending');
      if (kind === 'sell') assert.equal(known.next_action?.type, 'crypto_address', 'the webhook says where to send');
      await elapse(t, SETTLED_SECONDS);
      const done = await payment(t, open.id);
      assert.equal(done.status, 'completed');
      const orders = rampCalls(t, open.id).orders;
      assert.equal(orders.length, 1, 'never asked twice');
      assert.ok(orders[0]!.created);
      const moved = kind === 'buy' ? 20n * USDT : -20n * USDT;
      assert.deepEqual(await position(t, user), { posted: before.posted + moved, held: 0n });
    });

    test(`a slow ramp (latency under the timeout) only delays a ${kind}`, async () => {
      const user = `${kind}-latency`;
      if (kind === 'sell') await fund(t, user, '50');
      const before = await position(t, user);
      ramp.addFault({ provider: 'crypto', kind: 'latency', ms: 300, path: '/crypto/v1/orders' });
      try {
        const { id } = accepted(await crypto(t, user, kind, '20.00'));
        await elapse(t, SETTLED_SECONDS);
        assert.equal((await payment(t, id)).status, 'completed');
      } finally {
        ramp.clearFaults('crypto');
      }
      const moved = kind === 'buy' ? 20n * USDT : -20n * USDT;
      assert.deepEqual(await position(t, user), { posted: before.posted + moved, held: 0n });
    });

    test(`a quote that expires before its ${kind} order answers 502 provider_error (retryable); nothing ordered, the ledger untouched`, async () => {
      const user = `${kind}-quote-expired`;
      if (kind === 'sell') await fund(t, user, '50');
      const before = await position(t, user);
      const quotes = () =>
        ramp.requests({ provider: 'crypto' }).filter((r) => r.path === '/crypto/v1/quotes' && r.status !== null).length;
      const quoted = quotes();
      // The order waits at the ramp while the ramp's clock passes the quote's 30 seconds.
      ramp.addFault({ provider: 'crypto', kind: 'latency', ms: 1_500, method: 'POST', path: '/crypto/v1/orders' });
      try {
        const answer = crypto(t, user, kind, '20.00');
        while (quotes() === quoted) await new Promise((r) => setTimeout(r, 10));
        ramp.advanceClock(31);
        const response = await answer;
        const failed = await failedAtOnce(t, response, 502, 'provider_error', {
          provider: 'simcrypto',
          provider_code: '40004',
        });
        assert.equal(rampCalls(t, failed.id).orders.filter((o) => o.created).length, 0);
      } finally {
        ramp.clearFaults('crypto');
      }
      assert.deepEqual(await position(t, user), { posted: before.posted, held: 0n });
    });

    test(`every webhook of a ${kind} delivered twice is applied once: one completion, one ledger movement`, async () => {
      const user = `${kind}-duplicates`;
      if (kind === 'sell') await fund(t, user, '50');
      const before = await position(t, user);
      ramp.addFault({ provider: 'crypto', kind: 'duplicate_webhooks' });
      try {
        const { id } = accepted(await crypto(t, user, kind, '20.00'));
        await elapse(t, SETTLED_SECONDS);
        const done = await payment(t, id);
        assert.equal(done.status, 'completed');
        assert.equal(path(done).filter((to) => to === 'completed').length, 1);
      } finally {
        ramp.clearFaults('crypto');
      }
      const moved = kind === 'buy' ? 20n * USDT : -20n * USDT;
      assert.deepEqual(await position(t, user), { posted: before.posted + moved, held: 0n });
    });

    test(`a ${kind}’s webhooks delivered newest first never move it backwards: completed, nothing left to do`, async () => {
      const user = `${kind}-reordered`;
      if (kind === 'sell') await fund(t, user, '50');
      const before = await position(t, user);
      // The order's three events (placed, transfer seen, completed) are held and sent newest first.
      ramp.addFault({ provider: 'crypto', kind: 'reorder_webhooks', batch: 3, hold_ms: 60_000 });
      try {
        const { id } = accepted(await crypto(t, user, kind, '20.00'));
        t.simulator!.admin.advanceClock(SETTLED_SECONDS);
        await settled(t);
        const done = await payment(t, id);
        const { rows } = await t.db.query(
          `SELECT notice->'subject'->'outcome'->>'status' AS status, received_at FROM provider_events
            WHERE notice->'subject'->>'paymentId' = $1`,
          [done.id],
        );
        assert.equal(rows.length, 3);
        const end = rows.find((r) => r.status === 'completed')!;
        assert.ok(
          rows.every((r) => r.received_at >= end.received_at),
          'Rampart heard of the completion before the earlier events',
        );
        assert.equal(done.status, 'completed');
        assert.equal(done.next_action, null, 'a stale “send your crypto here” must not come back');
        assert.deepEqual(path(done), ['created', kind === 'buy' ? 'processing' : 'pending', 'completed']);
      } finally {
        ramp.clearFaults('crypto');
        ramp.flushWebhooks('crypto');
      }
      const moved = kind === 'buy' ? 20n * USDT : -20n * USDT;
      assert.deepEqual(await position(t, user), { posted: before.posted + moved, held: 0n });
    });
  }
});

describe('reconciliation of buys and sells whose webhooks are lost', async () => {
  const { t, clock, ramp } = await rampApp();
  // The ramp's webhooks go nowhere: only asking the ramp can tell how an order ended.
  ramp.setWebhookTarget('crypto', 'http://127.0.0.1:9/nowhere');

  /** A buy or sell placed, then left to settle at the ramp with no webhook reaching Rampart. */
  async function placeAndWait(user: string, kind: 'buy' | 'sell', amount: string) {
    const response = await crypto(t, user, kind, amount);
    const created = accepted(response);
    await elapse(t, SETTLED_SECONDS);
    assert.equal((await payment(t, created.id)).status, created.status, 'no webhook, no news');
    return created;
  }

  async function boughtByReconciliation(user: string, amount: string) {
    const created = await placeAndWait(user, 'buy', amount);
    await reconcile(t, clock);
    assert.equal((await payment(t, created.id)).status, 'completed');
  }

  test('a buy whose webhooks are lost is completed by reconciliation and credits the user', async () => {
    const created = await placeAndWait('lost-buy', 'buy', '30.00');
    assert.equal(created.status, 'processing');
    await reconcile(t, clock);
    const done = await payment(t, created.id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(path(done), ['created', 'processing', 'completed']);
    assert.match(done.timeline.at(-1)!.cause, /reconciled/);
    assert.deepEqual(await position(t, 'lost-buy'), { posted: 30n * USDT, held: 0n });
  });

  test('a buy rejected by the liquidity provider (…05) is failed by reconciliation, nothing credited', async () => {
    const created = await placeAndWait('lost-buy-05', 'buy', '30.05');
    await reconcile(t, clock);
    const failed = await payment(t, created.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure?.code, 'deposit_failed');
    assert.match(failed.timeline.at(-1)!.cause, /reconciled/);
    assert.deepEqual(await position(t, 'lost-buy-05'), { posted: 0n, held: 0n });
  });

  test('a sell whose webhooks are lost is completed by reconciliation, which posts its hold', async () => {
    await boughtByReconciliation('lost-sell', '100');
    const created = await placeAndWait('lost-sell', 'sell', '30.00');
    assert.equal(created.status, 'pending');
    assert.deepEqual(await position(t, 'lost-sell'), { posted: 100n * USDT, held: 30n * USDT });
    await reconcile(t, clock);
    const done = await payment(t, created.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.next_action, null);
    assert.deepEqual(path(done), ['created', 'pending', 'completed']);
    assert.deepEqual(await position(t, 'lost-sell'), { posted: 70n * USDT, held: 0n });
  });

  test('a sell whose crypto never arrives (…04) is failed by reconciliation once the ramp expires it, which releases its hold', async () => {
    await boughtByReconciliation('lost-sell-04', '100');
    const created = await placeAndWait('lost-sell-04', 'sell', '30.04');
    await reconcile(t, clock);
    assert.equal((await payment(t, created.id)).status, 'pending', 'the ramp still waits for the crypto');
    assert.deepEqual(await position(t, 'lost-sell-04'), { posted: 100n * USDT, held: 30_040_000n });
    await elapse(t, 3600);
    await reconcile(t, clock);
    const failed = await payment(t, created.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure?.code, 'withdrawal_failed');
    assert.deepEqual(path(failed), ['created', 'pending', 'failed']);
    assert.match(failed.timeline.at(-1)!.cause, /reconciled/);
    assert.deepEqual(await position(t, 'lost-sell-04'), { posted: 100n * USDT, held: 0n });
  });

  test('a sell dropped on chain (…05) is failed by reconciliation, which releases its hold', async () => {
    await boughtByReconciliation('lost-sell-05', '100');
    const created = await placeAndWait('lost-sell-05', 'sell', '30.05');
    await reconcile(t, clock);
    const failed = await payment(t, created.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure?.code, 'withdrawal_failed');
    assert.deepEqual(await position(t, 'lost-sell-05'), { posted: 100n * USDT, held: 0n });
  });
});
