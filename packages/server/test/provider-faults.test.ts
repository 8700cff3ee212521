import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { databaseUrl, errorOf, startTestApp, type TestApp } from './harness.ts';
import {
  advanceSimulator,
  balance,
  CARD_3DS,
  cardWebhook,
  createPayment,
  fund,
  madeAt,
  openForPayments,
  passChallenge,
  signedCardEvent,
  simulatorFault,
  travellingClock,
  waitForStatus,
  waitingForLocks as waitingForLocksIn,
  withdraw,
} from './payment-fixtures.ts';
import { eventually } from './webhooks-fixtures.ts';

async function clearFaults(t: TestApp) {
  await fetch(`${t.simulator!.url}/admin/faults`, { method: 'DELETE' });
}

async function events(t: TestApp, paymentId: string): Promise<string[]> {
  const { rows } = await t.db.query('SELECT type FROM events WHERE subject_id = $1 ORDER BY sequence', [paymentId]);
  return rows.map((r) => r.type as string);
}

describe('upstream faults through payments', async () => {
  // Each case fails the card processor's creates (Rampart retries once), before any work,
  // while its reads still answer: asked by Rampart's id, it has no such payment. A high
  // threshold keeps the circuit closed so every case meets its own fault, not the breaker
  // the last one opened.
  const t = await startTestApp({ sandbox: { timeoutMs: 400, breakerThreshold: 100 } });
  await openForPayments(t);

  const cases: [string, Record<string, unknown>, number, string][] = [
    ['an error answer', { kind: 'error', status: 500 }, 502, 'upstream_error'],
    ['a garbage body', { kind: 'garbage' }, 502, 'upstream_invalid_response'],
    ['a reset connection', { kind: 'reset' }, 502, 'upstream_unavailable'],
    ['an outage', { kind: 'outage', duration_ms: 60_000 }, 502, 'upstream_error'],
  ];
  for (const [name, rule, status, code] of cases) {
    test(`${name} answers ${code}, retryable, and leaves the payment failed with nothing moved`, async () => {
      await simulatorFault(t, { provider: 'cards', method: 'POST', ...rule });
      try {
        const user = `fault-${code}-${name.length}`;
        const response = await createPayment(t, { user_id: user, amount: '12.00' });
        assert.equal(response.statusCode, status, response.body);
        const error = errorOf(response);
        assert.equal(error.code, code);
        assert.equal(error.retryable, true);
        const payment = (
          await t.app.inject({ method: 'GET', url: `/v1/payments/${error.details['payment_id']}`, headers: t.auth })
        ).json();
        assert.equal(payment.status, 'failed');
        assert.equal(await balance(t, user), 0n);
      } finally {
        await clearFaults(t);
      }
    });
  }

  test('a charge made but answered with a 5xx is found by Rampart’s id and completed: one charge, one credit', async () => {
    await simulatorFault(t, {
      provider: 'cards',
      kind: 'error',
      status: 500,
      phase: 'after',
      method: 'POST',
      count: 2,
    });
    try {
      const response = await createPayment(t, { user_id: 'made-anyway', amount: '12.00' });
      assert.equal(response.statusCode, 201, response.body);
      const payment = response.json();
      assert.equal(payment.status, 'completed');
      const { timeline } = await waitForStatus(t, payment.id, ['completed']);
      assert.ok(timeline.some((step: { cause: string }) => /found by Rampart's id/.test(step.cause)));
      assert.equal(await madeAt(t, 'cards', payment.id), 1, 'charged once');
      assert.equal(await balance(t, 'made-anyway'), 1200n, 'credited once');
    } finally {
      await clearFaults(t);
    }
  });

  test('a payout made but answered with a 5xx is not paid again by the next provider: found, and it completes', async () => {
    await openForPayments(t);
    await createPayment(t, { user_id: 'paid-anyway', amount: '50.00' });
    await simulatorFault(t, { provider: 'bank', kind: 'error', status: 500, phase: 'after', method: 'POST', count: 2 });
    try {
      const response = await withdraw(t, 'paid-anyway', '20.00');
      assert.equal(response.statusCode, 201, response.body);
      const payout = response.json();
      assert.equal(payout.provider, 'simbank', 'no fallback to the card processor');
      await waitForStatus(t, payout.id, ['completed']);
      assert.equal(await madeAt(t, 'bank', payout.id), 1, 'paid out once at the bank');
      assert.equal(await madeAt(t, 'cards', payout.id), 0, 'and never at the card processor');
      assert.equal(await balance(t, 'paid-anyway'), 3000n, 'debited once');
    } finally {
      await clearFaults(t);
    }
  });

  test('a processor that answers nothing, not even asked by Rampart’s id, leaves the deposit pending: outcome unknown', async () => {
    await simulatorFault(t, { provider: 'cards', kind: 'error', status: 503 });
    try {
      const response = await createPayment(t, { user_id: 'unknown-outcome', amount: '12.00' });
      assert.equal(response.statusCode, 201, response.body);
      const payment = response.json();
      assert.equal(payment.status, 'pending', 'neither failed (it may have been charged) nor completed');
      const { timeline } = await waitForStatus(t, payment.id, ['pending']);
      assert.ok(timeline.some((step: { cause: string }) => /upstream_error; outcome unknown/.test(step.cause)));
      assert.equal(await balance(t, 'unknown-outcome'), 0n);
    } finally {
      await clearFaults(t);
    }
  });

  test('a retry after a 5xx answers the payment the first request left, even once a limit it would now break is set', async () => {
    await simulatorFault(t, { provider: 'cards', kind: 'garbage', method: 'POST' });
    const key = { 'idempotency-key': 'after-502' };
    const first = await createPayment(t, { user_id: 'after-502', amount: '12.00' }, key);
    await clearFaults(t);
    assert.equal(first.statusCode, 502, first.body);
    const failedId = errorOf(first).details['payment_id'];
    const limited = await t.app.inject({
      method: 'PATCH',
      url: '/v1/operator/settings',
      headers: t.auth,
      payload: { limits: { deposit: { USD: { min: '1.00', max: '10.00' } } } },
    });
    assert.equal(limited.statusCode, 200, limited.body);
    try {
      const retry = await createPayment(t, { user_id: 'after-502', amount: '12.00' }, key);
      assert.equal(retry.statusCode, 201, retry.body);
      assert.deepEqual([retry.json().id, retry.json().status], [failedId, 'failed']);
      const fresh = await createPayment(t, { user_id: 'after-502', amount: '12.00' }, { 'idempotency-key': 'fresh' });
      assert.equal(errorOf(fresh).code, 'amount_above_maximum', 'a new request meets the new limit');
    } finally {
      await t.app.inject({
        method: 'PATCH',
        url: '/v1/operator/settings',
        headers: t.auth,
        payload: { limits: { deposit: { USD: { min: '1.00', max: '10000.00', daily: '50000.00' } } } },
      });
    }
  });

  test('a timeout after the provider acted keeps the payment open until its webhook completes it: one charge', async () => {
    await simulatorFault(t, { provider: 'cards', kind: 'timeout', hold_ms: 2_000, phase: 'after', count: 1 });
    const response = await createPayment(t, { user_id: 'slow', amount: '15.00' });
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    // The answer was lost; the provider's webhook may have arrived before Rampart gave up waiting.
    assert.ok(['pending', 'completed'].includes(payment.status), payment.status);
    const done = await waitForStatus(t, payment.id, ['completed']);
    assert.equal(done.status, 'completed');
    assert.equal(await balance(t, 'slow'), 1500n);
    const charges = await (
      await fetch(`${t.simulator!.url}/admin/requests?provider=cards&idempotency_key=${payment.id}`)
    ).json();
    assert.equal(
      charges.requests.filter((r: { replayed: boolean; created_id: string | null }) => r.created_id && !r.replayed)
        .length,
      1,
    );
  });
});

describe('inbound provider webhooks', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);

  /** A card payment that completes by webhook after a 3-D Secure challenge. */
  async function challengePassed(user: string) {
    const payment = (
      await createPayment(t, {
        user_id: user,
        amount: '20.00',
        instrument: CARD_3DS,
      })
    ).json();
    await passChallenge(payment);
    return payment;
  }

  test('a duplicated webhook is applied once', async () => {
    await simulatorFault(t, { provider: 'cards', kind: 'duplicate_webhooks' });
    try {
      const payment = await challengePassed('dup');
      await waitForStatus(t, payment.id, ['completed']);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(await events(t, payment.id), ['payment.created', 'payment.pending', 'payment.completed']);
      assert.equal(await balance(t, 'dup'), 2000n);
      const { rows } = await t.db.query("SELECT count(*)::int AS n FROM provider_events WHERE provider = 'simcard'");
      assert.ok(rows[0]!.n >= 1);
    } finally {
      await clearFaults(t);
    }
  });

  test('two copies of one webhook arriving at once are recorded once: the second is the duplicate', async () => {
    const payment = (await createPayment(t, { user_id: 'twice-at-once', amount: '6.00' })).json();
    const eventId = `evt_twice_${payment.id}`;
    const { deliver } = await cardWebhook(t, payment.id, eventId);
    // Amid a burst of other webhooks, each of which is recorded and none taken for a duplicate.
    const others = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const other = (await createPayment(t, { user_id: `burst-${i}`, amount: '6.00' })).json();
        return cardWebhook(t, other.id, `evt_burst_${other.id}`);
      }),
    );
    const answers = (await Promise.all([deliver(), deliver(), ...others.map((other) => other.deliver())])).map(
      (answer) => answer.duplicate,
    );
    assert.deepEqual(answers.slice(0, 2).sort(), [false, true]);
    assert.deepEqual(answers.slice(2), [false, false, false, false, false, false]);
    const { rows } = await t.db.query(
      "SELECT count(*)::int AS n FROM provider_events WHERE provider = 'simcard' AND (event_id = $1 OR event_id LIKE 'evt_burst_%')",
      [eventId],
    );
    assert.equal(rows[0]!.n, 7);
    assert.deepEqual(await events(t, payment.id), ['payment.created', 'payment.completed']);
    assert.equal(await balance(t, 'twice-at-once'), 600n);
  });

  test('a signed webhook carrying what cannot be stored or read answers validation_error (the sender sees its fault), never a 5xx', async () => {
    const bodies = {
      'a NUL character': {
        id: 'evt_\u0000',
        object: 'event',
        type: 'payment.succeeded',
        data: { object: { id: 'pay_sim_\u0000', object: 'payment', status: 'succeeded', metadata: {} } },
      },
      'a lone surrogate': {
        id: 'evt_surrogate',
        object: 'event',
        type: 'payment.succeeded',
        data: { object: { id: 'pay_sim_\ud800', object: 'payment', status: 'succeeded', metadata: {} } },
      },
    };
    for (const [name, body] of Object.entries(bodies)) {
      const event = signedCardEvent(t, JSON.stringify(body));
      const response = await fetch(`${t.url}/v1/provider-webhooks/simcard`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sim-signature': event.sign() },
        body: event.body,
      });
      assert.equal(response.status, 400, `${name}: ${await response.clone().text()}`);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'validation_error', name);
    }
    // A field of another type than the processor sends is read as what it can be: an unknown return.
    const numeric = signedCardEvent(
      t,
      JSON.stringify({
        id: 'evt_numeric_return',
        object: 'event',
        type: 'ach_debit.failed',
        data: { object: { id: 'ach_x', object: 'ach_debit', status: 'failed', return_code: 5 } },
      }),
    );
    assert.equal((await numeric.deliver()).received, true);
  });

  test('a webhook with a bad signature answers invalid_token and records nothing', async () => {
    const body = JSON.stringify({
      id: 'evt_forged',
      type: 'payment.succeeded',
      data: { object: { id: 'pay_x', object: 'payment', status: 'succeeded' } },
    });
    const response = await fetch(`${t.url}/v1/provider-webhooks/simcard`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-sim-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`,
      },
      body,
    });
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'invalid_token');
    const { rows } = await t.db.query("SELECT count(*)::int AS n FROM provider_events WHERE event_id = 'evt_forged'");
    assert.equal(rows[0]!.n, 0);
  });

  test('while the database is unreachable a webhook answers event_publish_failed; redelivered, it is applied once', async () => {
    const payment = (
      await createPayment(t, {
        user_id: 'outage',
        amount: '20.00',
        instrument: CARD_3DS,
      })
    ).json();
    const { body, sign } = await cardWebhook(t, payment.id, `evt_outage_${payment.id}`);
    const name = new URL(t.db.connectionString).pathname.slice(1);
    const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
    await admin.connect();
    try {
      // ALLOW_CONNECTIONS applies to superusers too (a connection limit would not).
      await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`);
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      const down = await fetch(`${t.url}/v1/provider-webhooks/simcard`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sim-signature': sign() },
        body,
      });
      assert.equal(down.status, 503);
      const error = ((await down.json()) as { error: { code: string; retryable: boolean } }).error;
      assert.equal(error.code, 'event_publish_failed');
      assert.equal(error.retryable, true);
    } finally {
      await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    // The provider redelivers until it gets a 2xx (the first tries may still meet a
    // connection the outage broke), and once more after: the event applies once.
    const redeliver = () =>
      fetch(`${t.url}/v1/provider-webhooks/simcard`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sim-signature': sign() },
        body,
      });
    let accepted = 0;
    for (let attempt = 0; attempt < 20 && accepted < 2; attempt++) {
      const up = await redeliver();
      if (up.status === 200) accepted++;
      else assert.equal(up.status, 503);
    }
    assert.equal(accepted, 2);
    await waitForStatus(t, payment.id, ['completed']);
    assert.equal(await balance(t, 'outage'), 2000n);
    assert.equal((await events(t, payment.id)).filter((e) => e === 'payment.completed').length, 1);
  });
});

describe('a provider answer and its webhook, in either order', async () => {
  // Every reading of this clock is a millisecond later than the one before.
  let last = 0;
  const clock = {
    now: () => {
      last = Math.max(Date.now(), last + 1);
      return new Date(last);
    },
  };
  const t = await startTestApp({ sandbox: true, clock });
  await openForPayments(t);

  test('a webhook telling of what the answer already applied is recorded as processed at once, and changes nothing', async () => {
    const payment = (await createPayment(t, { user_id: 'confirmed', amount: '7.00' })).json();
    assert.equal(payment.status, 'completed');
    const { deliver } = await cardWebhook(t, payment.id, `evt_confirm_${payment.id}`);
    assert.deepEqual(await deliver(), { received: true, duplicate: false });
    // Processed by the statement that recorded it, at the instant it was recorded (the
    // job, on this clock, could only have processed it at a later millisecond).
    const { rows } = await t.db.query(
      "SELECT processed_at = received_at AS processed, attempts FROM provider_events WHERE provider = 'simcard' AND event_id = $1",
      [`evt_confirm_${payment.id}`],
    );
    assert.deepEqual(rows, [{ processed: true, attempts: 1 }]);
    assert.deepEqual(await deliver(), { received: true, duplicate: true });
    assert.deepEqual(await events(t, payment.id), ['payment.created', 'payment.completed']);
    assert.equal(await balance(t, 'confirmed'), 700n);
  });
  test('a webhook just ahead of its answer waits for it, and is then settled as confirming: the answer completes the payment', async () => {
    // The card processor charges, sends its webhook, and answers 50 ms later: the webhook
    // is recorded while the payment is still `created`, so it is not settled on arrival.
    await simulatorFault(t, { provider: 'cards', kind: 'latency', ms: 50, phase: 'after', count: 1 });
    try {
      const response = await createPayment(t, { user_id: 'just-ahead', amount: '8.00' });
      assert.equal(response.json().status, 'completed');
      const id = response.json().id;
      const processed = await eventually(
        'the webhook processed',
        async () =>
          (
            await t.db.query(
              `SELECT processed_at IS NOT NULL AS processed, processed_at = received_at AS on_arrival, attempts
                 FROM provider_events WHERE notice->'subject'->>'paymentId' = $1`,
              [id],
            )
          ).rows,
        (rows) => rows[0]?.processed === true,
      );
      assert.deepEqual(processed, [{ processed: true, on_arrival: false, attempts: 1 }]);
      const payment = (await t.app.inject({ method: 'GET', url: `/v1/payments/${id}`, headers: t.auth })).json();
      const completions = payment.timeline.filter((entry: { to: string }) => entry.to === 'completed');
      assert.deepEqual(
        completions.map((entry: { cause: string }) => entry.cause),
        ['simcard answered'],
      );
      assert.deepEqual(await events(t, id), ['payment.created', 'payment.completed']);
      assert.equal(await balance(t, 'just-ahead'), 800n);
    } finally {
      await clearFaults(t);
    }
  });
  test('an answer its own webhook overtook finds the payment completed and changes nothing: one completion, one credit', async () => {
    // The card processor charges, sends its webhook, and only then answers, slowly.
    await simulatorFault(t, { provider: 'cards', kind: 'latency', ms: 1_500, phase: 'after', count: 1 });
    try {
      const response = await createPayment(t, { user_id: 'overtaken', amount: '9.00' });
      assert.equal(response.statusCode, 201, response.body);
      assert.equal(response.json().status, 'completed');
      const payment = (
        await t.app.inject({ method: 'GET', url: `/v1/payments/${response.json().id}`, headers: t.auth })
      ).json();
      const completions = payment.timeline.filter((entry: { to: string }) => entry.to === 'completed');
      assert.equal(completions.length, 1);
      assert.match(completions[0].cause, /^simcard webhook /);
      assert.deepEqual(await events(t, payment.id), ['payment.created', 'payment.completed']);
      assert.equal(await balance(t, 'overtaken'), 900n);
    } finally {
      await clearFaults(t);
    }
  });
});

describe('ACH debits and returns', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);
  /** An ACH debit of `amount` from `account` (whose digits may ask for a return), processing at the processor. */
  const achDeposit = async (user: string, amount: string, account: string) => {
    const response = await createPayment(t, {
      user_id: user,
      method: 'ach',
      amount,
      instrument: { routing_number: '021000021', account_number: account, account_holder_name: 'Ada Lovelace' },
    });
    assert.equal(response.statusCode, 201, response.body);
    const payment = response.json();
    assert.equal(payment.status, 'processing');
    return payment;
  };

  test('an ACH debit settles later, and a return (R01) reverses it with ach.returned', async () => {
    const payment = await achDeposit('ach-user', '40.00', 'R01000000001');
    await waitForStatus(t, payment.id, ['completed']);
    assert.equal(await balance(t, 'ach-user'), 4000n);
    await advanceSimulator(t, 3 * 86_400);
    const reversed = await waitForStatus(t, payment.id, ['reversed']);
    assert.equal(reversed.failure.code, 'ach_insufficient_funds');
    assert.equal(await balance(t, 'ach-user'), 0n);
    const types = await events(t, payment.id);
    assert.ok(types.includes('payment.reversed'));
    assert.ok(types.includes('ach.returned'));
  });

  const waitingForLocks = () => waitingForLocksIn(t);

  test('a return applied while its debit’s settlement is being applied reverses the deposit: no discrepancy', async () => {
    // .04: the debit stays pending at the processor until the test settles it.
    const payment = await achDeposit('ach-race', '40.04', '000123456789');
    const log = await (
      await fetch(`${t.simulator!.url}/admin/requests?provider=cards&idempotency_key=${payment.id}`)
    ).json();
    const debitId: string = log.requests[0].created_id;
    const debit = `${t.simulator!.url}/admin/cards/ach_debits/${debitId}`;
    await eventually(
      'the debit’s first webhook applied',
      async () => (await t.db.query('SELECT count(*)::int AS n FROM provider_events WHERE processed_at IS NULL')).rows,
      (rows) => rows[0]!.n === 0 && t.simulator!.admin.webhooksIdle(),
    );
    const processEvents = t.app.jobs.find((job) => job.name === 'process-provider-events')!;
    let applyingReturn: Promise<unknown> | undefined;
    // No public call can pause Rampart between reading the payment and acting on the
    // return, so the test holds the payment's row lock to force the interleaving: the
    // settlement's webhook, applied on arrival, waits for the lock first; the return's,
    // applied meanwhile by the background job, waits behind it. Released, the settlement
    // completes the payment before the return is applied: the return must see that.
    await t.db.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM payments WHERE id = $1 FOR UPDATE', [payment.id]);
      assert.equal((await fetch(`${debit}/settle`, { method: 'POST' })).status, 200);
      await eventually('the settlement waiting for the payment', waitingForLocks, (n) => n === 1);
      const returned = await fetch(`${debit}/return`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ return_code: 'R01' }),
      });
      assert.equal(returned.status, 200, await returned.text());
      await eventually(
        'the return recorded',
        async () =>
          (
            await t.db.query(
              "SELECT count(*)::int AS n FROM provider_events WHERE notice->'subject'->>'type' = 'payment_return' AND notice->'subject'->>'providerRef' = $1",
              [debitId],
            )
          ).rows[0]!.n,
        (n) => n === 1,
      );
      applyingReturn = processEvents.run();
      await eventually('the return waiting behind the settlement', waitingForLocks, (n) => n === 2);
    });
    await applyingReturn;
    const reversed = await waitForStatus(t, payment.id, ['reversed'], 2_000);
    assert.equal(reversed.failure.code, 'ach_insufficient_funds');
    assert.deepEqual(
      reversed.timeline.map((step: { to: string }) => step.to),
      ['created', 'processing', 'completed', 'reversed'],
    );
    assert.equal(await balance(t, 'ach-race'), 0n, 'the credit taken back');
    const discrepancies = await t.app.inject({
      method: 'GET',
      url: `/v1/discrepancies?payment_id=${payment.id}`,
      headers: t.auth,
    });
    assert.deepEqual(discrepancies.json().data, []);
    assert.ok((await events(t, payment.id)).includes('ach.returned'));
  });
});

describe('every common ACH return code reverses the deposit with its own catalog code', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);
  const returns: [string, string][] = [
    ['R01', 'ach_insufficient_funds'],
    ['R02', 'ach_account_closed'],
    ['R03', 'ach_no_account'],
    ['R04', 'ach_invalid_account_number'],
    ['R07', 'ach_unauthorized_debit'],
    ['R08', 'ach_payment_stopped'],
    ['R09', 'ach_uncollected_funds'],
    ['R10', 'ach_unauthorized_debit'],
    ['R16', 'ach_account_frozen'],
    ['R20', 'ach_return_other'],
  ];
  for (const [returnCode, code] of returns) {
    test(`${returnCode} → ${code}`, async () => {
      const user = `ach-${returnCode}`;
      const payment = (
        await createPayment(t, {
          user_id: user,
          method: 'ach',
          amount: '15.00',
          instrument: { routing_number: '021000021', account_number: '000123456789', account_holder_name: 'Ada' },
        })
      ).json();
      await waitForStatus(t, payment.id, ['completed']);
      assert.equal(await balance(t, user), 1500n);
      const log = await (
        await fetch(`${t.simulator!.url}/admin/requests?provider=cards&idempotency_key=${payment.id}`)
      ).json();
      const debitId = log.requests.find((r: { created_id: string | null }) => r.created_id)!.created_id;
      const returned = await fetch(`${t.simulator!.url}/admin/cards/ach_debits/${debitId}/return`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ return_code: returnCode }),
      });
      assert.equal(returned.status, 200, await returned.text());
      const reversed = await waitForStatus(t, payment.id, ['reversed']);
      assert.equal(reversed.failure.code, code);
      assert.equal(await balance(t, user), 0n);
    });
  }
});

describe('a source whose provider webhooks keep failing authentication', async () => {
  const t = await startTestApp({ sandbox: true, env: { RAMPART_PROVIDER_WEBHOOK_FAILURES_PER_MINUTE: '3' } });
  await openForPayments(t);
  const post = (headers: Record<string, string>, body = '{"id":"evt_guess","object":"event"}') =>
    fetch(`${t.url}/v1/provider-webhooks/simcard`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  test('authentic webhooks never use up the bucket; after 3 failures the source is refused with rate_limited, even signed', async () => {
    const payment = (await createPayment(t, { user_id: 'rate-limited', amount: '5.00' })).json();
    const authentic = await cardWebhook(t, payment.id, 'evt_rate_ok', 'succeeded');
    for (let i = 0; i < 5; i++) assert.equal((await authentic.deliver()).received, true);
    const bad = { 'x-sim-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` };
    for (const headers of [bad, {}, bad]) {
      const response = await post(headers);
      assert.equal(response.status, 401);
    }
    const refused = await post(bad);
    assert.equal(refused.status, 429);
    const error = ((await refused.json()) as { error: { code: string; details: { retry_after: number } } }).error;
    assert.equal(error.code, 'rate_limited');
    assert.ok(
      error.details.retry_after >= 1 && error.details.retry_after <= 20,
      `retry after ${error.details.retry_after} s`,
    );
    assert.equal(refused.headers.get('retry-after'), String(error.details.retry_after));
    const signed = await post({ 'x-sim-signature': authentic.sign() }, authentic.body);
    assert.equal(signed.status, 429, 'refused before any signature is checked: the provider redelivers');
  });
});

describe('provider webhook payloads past their retention', async () => {
  const clock = travellingClock();
  const t = await startTestApp({ sandbox: true, clock, env: { RAMPART_PROVIDER_WEBHOOK_RETENTION_DAYS: '30' } });
  await openForPayments(t);
  const purge = () => t.app.jobs.find((job) => job.name === 'purge-provider-webhook-payloads')!.run();
  const payloadOf = async (eventId: string) =>
    (await t.db.query('SELECT notice FROM provider_events WHERE event_id = $1', [eventId])).rows[0]?.notice;

  test('drop once applied and old; the event id stays, so a late redelivery is still a duplicate and changes nothing', async () => {
    const payment = (await createPayment(t, { user_id: 'retained', amount: '8.00' })).json();
    const old = await cardWebhook(t, payment.id, `evt_old_${payment.id}`);
    assert.equal((await old.deliver()).duplicate, false);
    await eventually(
      'the webhook applied',
      async () =>
        (await t.db.query('SELECT processed_at FROM provider_events WHERE event_id = $1', [`evt_old_${payment.id}`]))
          .rows[0]?.processed_at,
      (at) => at !== null && at !== undefined,
    );
    // Another, recorded as old but never applied (set aside after its attempts).
    const other = (await createPayment(t, { user_id: 'retained-other', amount: '3.00' })).json();
    const waiting = await cardWebhook(t, other.id, `evt_waiting_${other.id}`);
    await waiting.deliver();
    await t.db.query('UPDATE provider_events SET processed_at = NULL, attempts = 1000 WHERE event_id = $1', [
      `evt_waiting_${other.id}`,
    ]);

    await purge();
    assert.notEqual(await payloadOf(`evt_old_${payment.id}`), null, 'within the retention, kept');

    clock.advance(31 * 86_400);
    const recent = await cardWebhook(t, payment.id, `evt_recent_${payment.id}`);
    await recent.deliver();
    assert.ok(((await purge()) as number) >= 1);
    assert.equal(await payloadOf(`evt_old_${payment.id}`), null, 'applied and past the retention: dropped');
    assert.notEqual(await payloadOf(`evt_waiting_${other.id}`), null, 'never applied: kept however old');
    assert.notEqual(await payloadOf(`evt_recent_${payment.id}`), null, 'received within the retention: kept');

    const before = (await t.app.inject({ method: 'GET', url: `/v1/payments/${payment.id}`, headers: t.auth })).json();
    assert.deepEqual(await old.deliver(), { received: true, duplicate: true });
    await t.app.jobs.find((job) => job.name === 'process-provider-events')!.run();
    const after = (await t.app.inject({ method: 'GET', url: `/v1/payments/${payment.id}`, headers: t.auth })).json();
    assert.deepEqual(after, before);
    assert.deepEqual(await events(t, payment.id), ['payment.created', 'payment.completed']);
    assert.equal(await balance(t, 'retained'), 800n);
  });
});

describe('a provider that did the work, answered 5xx, and then refused the retry', async () => {
  // The breaker opens on its first fault here (as it does on the fifth of a burst by
  // default): the retry never leaves Rampart.
  const t = await startTestApp({ sandbox: { breakerThreshold: 1 } });
  await openForPayments(t);

  test('a payout the bank made but answered with a 500 is not paid out again by the card processor', async () => {
    await fund(t, 'made-then-500', '50.00');
    // The bank's webhooks come late, as they may; the bank pays out, then answers 500, once.
    await simulatorFault(t, { provider: 'bank', kind: 'reorder_webhooks', batch: 100, hold_ms: 3000 });
    await simulatorFault(t, { provider: 'bank', kind: 'error', status: 500, phase: 'after', method: 'POST', count: 1 });
    try {
      const response = await withdraw(t, 'made-then-500', '20.00');
      assert.equal(response.statusCode, 201, response.body);
      const payout = response.json();
      assert.deepEqual([payout.provider, payout.status], ['simbank', 'pending'], 'kept open, its outcome unknown');
      const done = await waitForStatus(t, payout.id, ['completed'], 15_000);
      assert.equal(done.provider, 'simbank');
      assert.deepEqual([await madeAt(t, 'bank', payout.id), await madeAt(t, 'cards', payout.id)], [1, 0]);
      assert.equal(await balance(t, 'made-then-500'), 3000n, 'debited once');
    } finally {
      await clearFaults(t);
    }
  });
});
