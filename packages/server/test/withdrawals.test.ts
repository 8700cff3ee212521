import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { errorOf, startTestApp, type TestApp } from './harness.ts';
import {
  approvalEndpoint,
  atBank,
  BANK_ACCOUNT,
  balance,
  createPayment,
  fund,
  held,
  madeAt,
  openForPayments,
  simulatorFault,
  travellingClock,
  waitForStatus,
  waitingForLocks,
  withdraw,
} from './payment-fixtures.ts';
import { eventually } from './webhooks-fixtures.ts';

/** The operator blocks the user (for fraud). */
async function block(t: TestApp, user: string) {
  const blocked = await t.app.inject({
    method: 'POST',
    url: `/v1/users/${user}/block`,
    headers: t.auth,
    payload: { reason: 'fraud' },
  });
  assert.equal(blocked.statusCode, 200, blocked.body);
}

/** The payment as `GET /v1/payments/{id}` shows it. */
async function paymentOf(t: TestApp, id: string) {
  return (await t.app.inject({ method: 'GET', url: `/v1/payments/${id}`, headers: t.auth })).json();
}

/** Funds `user` with `funds`, then withdraws `amount` to a bank account: the payout, processing at the bank. */
async function payoutToBank(t: TestApp, user: string, funds: string, amount: string) {
  await fund(t, user, funds);
  const response = await withdraw(t, user, amount);
  assert.equal(response.statusCode, 201, response.body);
  const payout = response.json();
  assert.equal(payout.status, 'processing');
  return payout;
}

describe('withdrawals', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);

  test('a withdrawal above the user’s balance answers insufficient_balance', async () => {
    await fund(t, 'poor', '10.00');
    const response = await withdraw(t, 'poor', '25.00');
    assert.equal(response.statusCode, 402);
    const error = errorOf(response);
    assert.equal(error.code, 'insufficient_balance');
    assert.deepEqual(
      [error.details['available'], error.details['requested'], error.details['currency']],
      ['10.00', '25.00', 'USD'],
    );
  });

  test('a bank payout holds the amount, then posts it when the bank pays', async () => {
    const payment = await payoutToBank(t, 'rich', '100.00', '30.00');
    const { rows } = await t.db.query(
      "SELECT pending_debits FROM ledger_accounts WHERE owner_ref = 'rich' AND kind = 'user'",
    );
    assert.equal(BigInt(rows[0]!.pending_debits), 3000n, 'held while the bank works');
    await waitForStatus(t, payment.id, ['completed']);
    assert.equal(await balance(t, 'rich'), 7000n);
  });

  test('one withdrawal in progress per user: a second answers withdrawal_in_progress', async () => {
    await fund(t, 'eager', '100.00');
    const first = await withdraw(t, 'eager', '10.04'); // .04: the bank never finishes it
    assert.equal(first.statusCode, 201, first.body);
    const second = await withdraw(t, 'eager', '5.00');
    assert.equal(second.statusCode, 409);
    assert.equal(errorOf(second).code, 'withdrawal_in_progress');
  });

  test('a daily limit the currency cannot hold is refused when set, not on every withdrawal after', async () => {
    const patch = await t.app.inject({
      method: 'PATCH',
      url: '/v1/operator/settings',
      headers: t.auth,
      payload: { limits: { withdrawal: { USD: { min: '1.00', max: '1000.00', daily: '100.005' } } } },
    });
    assert.equal(patch.statusCode, 422, patch.body);
    const error = errorOf(patch);
    assert.equal(error.code, 'invalid_amount');
    assert.equal(error.details['field'], 'limits.withdrawal.USD.daily');
    await fund(t, 'decimals', '50.00');
    const response = await withdraw(t, 'decimals', '10.00');
    assert.equal(response.statusCode, 201, `the limits in force still apply: ${response.body}`);
  });

  test('a withdrawal PostgreSQL ends to break a deadlock answers concurrent_conflict (409, retry), not a 500; its retry goes through', async () => {
    await fund(t, 'deadlocked', '50.00');
    const key = { 'idempotency-key': 'deadlocked-withdrawal' };
    // Another session holds the user's balance, then asks for the user, which the
    // withdrawal locked before it reached for the balance: a cycle PostgreSQL breaks by
    // ending the withdrawal's transaction, the first to wait.
    let requesting: Promise<Awaited<ReturnType<typeof withdraw>>> | undefined;
    await t.db.transaction(async (tx) => {
      await tx.query(
        "SELECT 1 FROM ledger_accounts WHERE operator_id = $1 AND kind = 'user' AND owner_ref = 'deadlocked' FOR UPDATE",
        [t.operatorId],
      );
      requesting = withdraw(t, 'deadlocked', '20.00', { headers: key });
      await eventually(
        'the withdrawal waiting for the balance',
        () => waitingForLocks(t),
        (n) => n === 1,
      );
      await tx.query("SELECT 1 FROM end_users WHERE operator_id = $1 AND id = 'deadlocked' FOR UPDATE", [t.operatorId]);
    });
    const response = await requesting!;
    assert.equal(response.statusCode, 409, response.body);
    const error = errorOf(response);
    assert.equal(error.code, 'concurrent_conflict');
    assert.equal(error.retryable, true);
    assert.equal(await held(t, 'deadlocked'), 0n, 'rolled back whole: no hold');

    const retried = await withdraw(t, 'deadlocked', '20.00', { headers: key });
    assert.equal(retried.statusCode, 201, retried.body);
    assert.equal(await held(t, 'deadlocked'), 2000n);
  });

  test('200 concurrent withdrawals from one balance never overdraw it and leave exactly one hold', async () => {
    await fund(t, 'crowd', '50.00');
    const responses = await Promise.all(Array.from({ length: 200 }, () => withdraw(t, 'crowd', '40.04')));
    const accepted = responses.filter((r) => r.statusCode === 201);
    assert.equal(accepted.length, 1);
    for (const r of responses)
      if (r.statusCode !== 201)
        assert.ok(['withdrawal_in_progress', 'insufficient_balance'].includes(errorOf(r).code), r.body);
    const { rows } = await t.db.query(
      "SELECT posted, pending_debits FROM ledger_accounts WHERE owner_ref = 'crowd' AND kind = 'user'",
    );
    assert.equal(BigInt(rows[0]!.posted), 5000n);
    assert.equal(BigInt(rows[0]!.pending_debits), 4004n);
    const holds = await t.db.query(
      "SELECT count(*)::int AS n FROM ledger_holds h JOIN ledger_accounts a ON a.id = h.debit_account_id WHERE a.owner_ref = 'crowd' AND h.status = 'pending'",
    );
    assert.equal(holds.rows[0]!.n, 1);
  });

  test('a provider that is unreachable before any money moved gives way to the next one', async () => {
    await fund(t, 'fallback', '50.00');
    // Its payouts reset before any work; asked by Rampart's id, it has no such payout.
    await simulatorFault(t, { provider: 'bank', kind: 'reset', method: 'POST' });
    try {
      const response = await withdraw(t, 'fallback', '20.00');
      assert.equal(response.statusCode, 201, response.body);
      const payment = response.json();
      assert.equal(payment.provider, 'simcard', 'paid out as an ACH credit by the second provider');
      const done = await waitForStatus(t, payment.id, ['completed']);
      assert.ok(done.timeline.some((step: { cause: string }) => step.cause === 'fell back from simbank to simcard'));
      assert.equal(await balance(t, 'fallback'), 3000n);
      const { rows } = await t.db.query(
        "SELECT owner_ref, pending_debits FROM ledger_accounts WHERE owner_ref = 'fallback' AND kind = 'user'",
      );
      assert.equal(BigInt(rows[0]!.pending_debits), 0n, 'the first provider’s hold was released, the second posted');
    } finally {
      await fetch(`${t.simulator!.url}/admin/faults`, { method: 'DELETE' });
    }
  });

  test('a failed payout releases the hold', async () => {
    await fund(t, 'unlucky', '20.00');
    const response = await withdraw(t, 'unlucky', '10.05'); // .05: accepted, then fails
    const payment = response.json();
    const failed = await waitForStatus(t, payment.id, ['failed']);
    assert.equal(failed.failure.code, 'withdrawal_failed');
    const { rows } = await t.db.query(
      "SELECT posted, pending_debits FROM ledger_accounts WHERE owner_ref = 'unlucky' AND kind = 'user'",
    );
    assert.deepEqual([BigInt(rows[0]!.posted), BigInt(rows[0]!.pending_debits)], [2000n, 0n]);
  });
});

describe('a withdrawal that ends while its first provider errs', async () => {
  const clock = travellingClock();
  const t = await startTestApp({ clock, sandbox: true });
  await openForPayments(t);

  const cases = [
    { name: 'before the fallback, it is sent to no other provider', user: 'ended-meanwhile', pinned: false },
    // Pinned to the bank: the bank's error is the last word, and the payment has already ended.
    { name: 'on its only provider, its failure is answered as it ended', user: 'ended-pinned', pinned: true },
  ];
  for (const { name, user, pinned } of cases)
    test(`ended by reconciliation ${name}; its hold stays released`, async () => {
      await fund(t, user, '50.00');
      // The bank errs on the payout, slowly, before doing anything: asked by Rampart's id,
      // it has no such payout, so the card processor would be next.
      await simulatorFault(t, { provider: 'bank', kind: 'latency', ms: 3_000, method: 'POST', count: 1 });
      await simulatorFault(t, { provider: 'bank', kind: 'error', status: 500, method: 'POST', count: 2 });
      let answered = false;
      const answer = createPayment(t, {
        user_id: user,
        kind: 'withdrawal',
        method: 'bank',
        amount: '20.00',
        instrument: BANK_ACCOUNT,
        ...(pinned ? { provider: 'simbank' } : {}),
      }).finally(() => {
        answered = true;
      });
      const listed = await eventually(
        'the withdrawal recorded',
        async () =>
          (
            await t.app.inject({
              method: 'GET',
              url: `/v1/payments?user_id=${user}&kind=withdrawal`,
              headers: t.auth,
            })
          ).json().data,
        (data: { id: string }[]) => data.length === 1,
      );
      const id = listed[0]!.id;
      // Meanwhile reconciliation takes it for abandoned (no answer for longer than a create
      // can take), asks the bank by Rampart's id, hears "no such payout", and fails it.
      clock.advance(6 * 60);
      await t.app.jobs.find((job) => job.name === 'reconcile-payments')!.run();
      const ended = await waitForStatus(t, id, ['failed'], 1_000);
      assert.equal(answered, false, 'reconciliation must end it before the bank answers');
      assert.equal(ended.failure.code, 'upstream_timeout');

      const response = await answer;
      assert.equal(response.statusCode, 402, response.body);
      const error = errorOf(response);
      assert.deepEqual(
        [error.code, error.details['payment_id'], error.details['reason']],
        ['withdrawal_failed', id, 'upstream_timeout'],
      );
      assert.equal(await madeAt(t, 'cards', id), 0, 'never sent to the card processor');
      const after = await waitForStatus(t, id, ['failed']);
      assert.equal(after.provider, 'simbank');
      assert.ok(!after.timeline.some((step: { cause: string }) => step.cause.startsWith('fell back')));
      const balances = (
        await t.app.inject({ method: 'GET', url: `/v1/users/${user}/balances`, headers: t.auth })
      ).json().data[0];
      assert.deepEqual(
        [balances.posted_minor, balances.held_minor],
        ['5000', '0'],
        'nothing debited, nothing held again',
      );
    });
});

describe('reconciliation and a create still on its way', async () => {
  const clock = travellingClock();
  const t = await startTestApp({ clock, sandbox: true });
  const approver = await approvalEndpoint();
  await openForPayments(t, { approval: { url: approver.url, timeout_ms: 5_000, retries: 0, on_no_answer: 'decline' } });
  const reconcile = () => t.app.jobs.find((job) => job.name === 'reconcile-payments')!.run();

  test('a withdrawal reconciliation ended while the operator was deciding is answered as it ended, and sent nowhere', async () => {
    await fund(t, 'approved-late', '50.00');
    let decide!: () => void;
    approver.deciding = new Promise((resolve) => (decide = resolve));
    const seen = approver.seen.length;
    const answer = withdraw(t, 'approved-late', '20.00');
    await eventually(
      'the approver asked',
      () => approver.seen.length,
      (n) => n === seen + 1,
    );
    const id = JSON.parse(approver.seen.at(-1)!.body).payment_id as string;
    // The create outlives what a create can take: reconciliation asks the bank, which
    // never got it, and fails it. Then the operator approves.
    clock.advance(6 * 60);
    await reconcile();
    assert.equal((await waitForStatus(t, id, ['failed'], 1_000)).failure.code, 'upstream_timeout');
    decide();
    approver.deciding = undefined;
    const response = await answer;
    assert.equal(response.statusCode, 402, response.body);
    assert.deepEqual(
      [errorOf(response).code, errorOf(response).details['reason']],
      ['withdrawal_failed', 'upstream_timeout'],
    );
    assert.deepEqual([await madeAt(t, 'bank', id), await madeAt(t, 'cards', id)], [0, 0], 'sent nowhere');
    const balances = (
      await t.app.inject({ method: 'GET', url: '/v1/users/approved-late/balances', headers: t.auth })
    ).json().data[0];
    assert.deepEqual([balances.posted_minor, balances.held_minor], ['5000', '0']);
  });

  test('reconciliation fails a quiet payout as never received only if nothing touched it since it looked', async () => {
    await fund(t, 'touched-meanwhile', '50.00');
    // The bank takes its time with the payout: the create is still on its way when
    // reconciliation, the clock moved past a create's longest run, takes it up.
    await simulatorFault(t, { provider: 'bank', kind: 'latency', ms: 4_000, method: 'POST', count: 1 });
    const answer = createPayment(t, {
      user_id: 'touched-meanwhile',
      kind: 'withdrawal',
      method: 'bank',
      amount: '20.00',
      instrument: BANK_ACCOUNT,
      provider: 'simbank',
    });
    // Approved and on its way to the bank (pending): the operator's answer, which touches
    // the payment, came before the clock moves, however slow the machine.
    const id = (
      await eventually(
        'the withdrawal approved and sent',
        async () =>
          (
            await t.app.inject({
              method: 'GET',
              url: '/v1/payments?user_id=touched-meanwhile&kind=withdrawal',
              headers: t.auth,
            })
          ).json().data,
        (data: { id: string; status: string }[]) => data.length === 1 && data[0]!.status === 'pending',
      )
    )[0]!.id as string;
    clock.advance(6 * 60);
    // No public call can pause reconciliation between its read and its decision, so the
    // test holds the payment's row lock: reconciliation has read the payment and asked
    // the bank (which has not got it yet) and waits; meanwhile the payment is touched,
    // as the create does when it moves the payment to its next provider and sends it.
    let reconciling: Promise<unknown> | undefined;
    await t.db.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM payments WHERE id = $1 FOR UPDATE', [id]);
      reconciling = reconcile();
      await eventually(
        'reconciliation waiting for the payment',
        () => waitingForLocks(t),
        (n) => n === 1,
      );
      await tx.query('UPDATE payments SET updated_at = $2 WHERE id = $1', [id, clock.now()]);
    });
    await reconciling;
    const response = await answer;
    assert.equal(response.statusCode, 201, response.body);
    const paid = await waitForStatus(t, id, ['completed']);
    assert.ok(!paid.timeline.some((step: { cause: string }) => step.cause.includes('never received')));
    const balances = (
      await t.app.inject({ method: 'GET', url: '/v1/users/touched-meanwhile/balances', headers: t.auth })
    ).json().data[0];
    assert.deepEqual([balances.posted_minor, balances.held_minor], ['3000', '0'], 'paid out once, from the hold');
  });
});

describe('a withdrawal still on its way keeps its hold', async () => {
  const clock = travellingClock();
  // The bank pays a minute (its own clock) after it is asked: until the test moves it.
  const t = await startTestApp({ clock, sandbox: { settleDelayMs: 60_000 } });
  await openForPayments(t);
  const balances = async (user: string) =>
    (await t.app.inject({ method: 'GET', url: `/v1/users/${user}/balances`, headers: t.auth })).json().data[0];

  test('past its hold’s expiry, a payout the bank has not paid keeps the amount held; paid, it is debited once', async () => {
    const payout = await payoutToBank(t, 'slow-bank', '100.00', '40.00');

    clock.advance(8 * 86_400); // past the hold's seven days
    await t.app.jobs.find((job) => job.name === 'expire-holds')!.run();
    const held = await balances('slow-bank');
    assert.deepEqual([held.held_minor, held.available_minor], ['4000', '6000'], 'still held: the bank may pay yet');
    const { rows } = await t.db.query<{ status: string; expires_at: Date }>(
      'SELECT status, expires_at FROM ledger_holds WHERE id = (SELECT hold_id FROM payments WHERE id = $1)',
      [payout.id],
    );
    assert.equal(rows[0]!.status, 'pending');
    assert.ok(rows[0]!.expires_at.getTime() > clock.now().getTime(), 'extended');

    t.simulator!.admin.advanceClock(120);
    await waitForStatus(t, payout.id, ['completed']);
    const paid = await balances('slow-bank');
    assert.deepEqual([paid.posted_minor, paid.held_minor], ['6000', '0'], 'debited once, nothing left held');
  });

  test('a payout paid after its hold fell due, before any sweep extended it, is debited once', async () => {
    const payout = await payoutToBank(t, 'due-bank', '100.00', '25.00');
    clock.advance(8 * 86_400); // the hold is past due, and no sweep has run
    t.simulator!.admin.advanceClock(120);
    await waitForStatus(t, payout.id, ['completed']);
    const paid = await balances('due-bank');
    assert.deepEqual([paid.posted_minor, paid.held_minor], ['7500', '0'], 'debited once, nothing left held');
  });

  test('a hold no open payment depends on still expires', async () => {
    await fund(t, 'declined-bank', '100.00');
    const response = await withdraw(t, 'declined-bank', '40.00');
    const payout = response.json();
    // A withdrawal that ended without releasing its hold (as a repair by hand might
    // leave it): nothing depends on the hold any more, and the sweep frees it once due.
    await t.db.query("UPDATE payments SET status = 'failed' WHERE id = $1", [payout.id]);
    clock.advance(8 * 86_400);
    await t.app.jobs.find((job) => job.name === 'expire-holds')!.run();
    const freed = await balances('declined-bank');
    assert.deepEqual([freed.held_minor, freed.available_minor], ['0', '10000']);
  });
});

describe('operator approval of withdrawals', async () => {
  const t = await startTestApp({ sandbox: true });
  const endpoint = await approvalEndpoint();
  await openForPayments(t, { approval: { url: endpoint.url, timeout_ms: 500, retries: 1, on_no_answer: 'decline' } });
  const secret = (await t.app.inject({ method: 'GET', url: '/v1/operator/approval_secret', headers: t.auth })).json()
    .secret;

  test('an approval request is signed so the operator can verify it with standardwebhooks', async () => {
    await fund(t, 'approved', '50.00');
    endpoint.answer = { status: 200, body: { approved: true } };
    const response = await withdraw(t, 'approved', '10.00');
    assert.equal(response.statusCode, 201, response.body);
    assert.equal(response.json().approval.approved, true);
    const request = endpoint.seen.at(-1)!;
    const verified = new Webhook(secret).verify(request.body, request.headers as Record<string, string>) as {
      payment_id: string;
    };
    assert.equal(verified.payment_id, response.json().id);
  });

  const declines: [number, string][] = [
    [1, 'withdrawal_declined'],
    [2, 'withdrawal_insufficient_balance'],
    [3, 'withdrawal_unavailable'],
    [4, 'withdrawal_user_not_eligible'],
    [5, 'withdrawal_daily_limit_exceeded'],
    [6, 'withdrawal_amount_too_low'],
    [7, 'withdrawal_amount_too_high'],
    [8, 'withdrawal_verification_required'],
    [9, 'withdrawal_suspended'],
  ];
  for (const [reason, code] of declines) {
    test(`a decline with reason ${reason} answers ${code} and frees the hold`, async () => {
      const user = `declined-${reason}`;
      await fund(t, user, '50.00');
      endpoint.answer = {
        status: reason % 2 === 0 ? 400 : 200,
        body: reason % 2 === 0 ? { code: reason } : { approved: false, reason },
      };
      const response = await withdraw(t, user, '10.00');
      assert.equal(response.statusCode, 402);
      const error = errorOf(response);
      assert.equal(error.code, code);
      assert.equal(
        error.retryable,
        code === 'withdrawal_unavailable',
        'only "temporarily unavailable" invites a retry',
      );
      assert.equal(error.details['reason_code'], reason);
      const { rows } = await t.db.query(
        "SELECT pending_debits FROM ledger_accounts WHERE owner_ref = $1 AND kind = 'user'",
        [user],
      );
      assert.equal(BigInt(rows[0]!.pending_debits), 0n);
    });
  }

  const unusable: [string, { status: number; body: unknown }][] = [
    ['an error (503)', { status: 503, body: {} }],
    // Approving with a redirect is no approval: the answer must come from the approval URL itself.
    ['a redirect that says approved', { status: 302, body: { approved: true } }],
    // Rampart reads 64 KiB of an answer at most: one larger is cut off, and unreadable.
    ['an approval larger than 64 KiB', { status: 200, body: { approved: true, padding: 'x'.repeat(70_000) } }],
  ];
  for (const [name, answer] of unusable) {
    test(`no usable answer (${name}) declines as withdrawals unavailable (the configured default)`, async () => {
      const user = `silent-${name.length}`;
      await fund(t, user, '50.00');
      endpoint.answer = answer;
      const response = await withdraw(t, user, '10.00');
      assert.equal(errorOf(response).code, 'withdrawal_unavailable');
      assert.equal(errorOf(response).details['reason_code'], 3);
      assert.equal(errorOf(response).retryable, true, 'an operator that did not answer may answer later');
    });
  }

  for (const [name, body] of [
    ['no reason', { approved: false }],
    ['a reason outside 1-9', { approved: false, reason: 12 }],
  ] as const) {
    test(`a decline with ${name} answers the generic withdrawal_declined`, async () => {
      const user = `unexplained-${name.length}`;
      await fund(t, user, '50.00');
      endpoint.answer = { status: 200, body };
      const response = await withdraw(t, user, '10.00');
      assert.equal(response.statusCode, 402);
      const error = errorOf(response);
      assert.equal(error.code, 'withdrawal_declined');
      assert.equal(error.retryable, false);
      assert.equal(error.details['reason_code'], 1);
      assert.equal(await balance(t, user), 5000n, 'nothing was paid out');
    });
  }
});

describe('the approval URL is held to the network policy of webhook endpoints', async () => {
  const deployed = await startTestApp({ sandbox: true, env: { RAMPART_DEV_TOOLS: 'false' } });
  await openForPayments(deployed);
  const endpoint = await approvalEndpoint();
  const setApproval = (t: TestApp, url: string) =>
    t.app.inject({ method: 'PATCH', url: '/v1/operator/settings', headers: t.auth, payload: { approval: { url } } });

  test('a private, loopback or link-local approval URL is refused when set', async () => {
    const byName = endpoint.url.replace('127.0.0.1', 'localhost');
    for (const url of [endpoint.url, byName, 'http://10.0.0.5/approve', 'http://169.254.169.254/latest/meta-data/']) {
      const response = await setApproval(deployed, url);
      assert.equal(response.statusCode, 422, `${url}: ${response.body}`);
      assert.deepEqual([errorOf(response).code, errorOf(response).details['field']], ['invalid_value', 'approval.url']);
    }
  });

  test('one stored before the policy is never called: the withdrawal is declined by the default', async () => {
    // An address literal, and a name that resolves to loopback (refused at connection).
    for (const [user, url] of [
      ['inside-job', endpoint.url],
      ['inside-name', endpoint.url.replace('127.0.0.1', 'localhost')],
    ] as const) {
      await deployed.db.query(
        `UPDATE operators SET settings = jsonb_set(settings, '{approval}', $2::jsonb) WHERE id = $1`,
        [deployed.operatorId, JSON.stringify({ url, timeout_ms: 500, retries: 1, on_no_answer: 'decline' })],
      );
      await fund(deployed, user, '50.00');
      const response = await withdraw(deployed, user, '10.00');
      assert.equal(errorOf(response).code, 'withdrawal_unavailable', url);
      assert.equal(endpoint.seen.length, 0, `no request reached the private address (${url})`);
    }
  });
});

describe('a retry with its Idempotency-Key resuming a withdrawal', async () => {
  const clock = travellingClock();
  // A call to a provider gives up after 3 s: the outcome unknown, the payment kept open.
  const t = await startTestApp({ sandbox: { timeoutMs: 3_000 }, clock });
  const approver = await approvalEndpoint();
  await openForPayments(t, {
    approval: { url: approver.url, timeout_ms: 15_000, retries: 0, on_no_answer: 'decline' },
  });
  const reconcile = () => t.app.jobs.find((job) => job.name === 'reconcile-payments')!.run();
  const bankPayouts = async () => {
    const log = await fetch(`${t.simulator!.url}/admin/requests?provider=bank`);
    return ((await log.json()) as { requests: { method: string; path: string }[] }).requests.filter(
      (r) => r.method === 'POST' && r.path.startsWith('/bank/v1/payouts'),
    ).length;
  };
  const balances = async (user: string) => {
    const row = (await t.app.inject({ method: 'GET', url: `/v1/users/${user}/balances`, headers: t.auth })).json()
      .data[0];
    return [row.posted_minor, row.held_minor];
  };
  const _payout = (user: string) => ({
    user_id: user,
    kind: 'withdrawal',
    method: 'bank',
    amount: '40.00',
    instrument: BANK_ACCOUNT,
  });

  test('sends nothing for a user blocked since the first request: a payout that may have reached the bank is left to reconciliation', async () => {
    await fund(t, 'blocked-later', '100.00');
    approver.answer = { status: 200, body: { approved: true } };
    const before = await bankPayouts();
    // The bank holds the first payout request, unworked and unanswered (as a node dying mid-call leaves it).
    await simulatorFault(t, {
      provider: 'bank',
      kind: 'timeout',
      method: 'POST',
      path: '/bank/v1/payouts',
      count: 1,
      hold_ms: 10_000,
    });
    const key = { 'idempotency-key': 'blocked-later-1' };
    const first = withdraw(t, 'blocked-later', '40.00', { headers: key });
    await eventually('the first request at the bank', bankPayouts, (n) => n === before + 1);
    await block(t, 'blocked-later');
    // The first request's lease lapses (as a dead node's would): the client retries with its key.
    clock.advance(10 * 60);
    const retry = await withdraw(t, 'blocked-later', '40.00', { headers: key });
    assert.deepEqual([retry.statusCode, errorOf(retry).code], [403, 'customer_blocked']);
    const id = (await first).json().id as string;
    assert.equal(await bankPayouts(), before + 1, 'the retry sent nothing');
    // The first call may have reached the bank: held, until reconciliation asks it.
    assert.deepEqual(await balances('blocked-later'), ['10000', '4000']);
    clock.advance(10 * 60);
    await reconcile();
    await waitForStatus(t, id, ['failed'], 2_000);
    assert.equal(await madeAt(t, 'bank', id), 0);
    assert.deepEqual(await balances('blocked-later'), ['10000', '0']);
  });

  test('fails a payout never sent (its approver never answered) for a user blocked since, freeing its hold', async () => {
    await fund(t, 'blocked-while-asked', '100.00');
    let decide!: () => void;
    approver.deciding = new Promise((resolve) => (decide = resolve));
    const seen = approver.seen.length;
    const key = { 'idempotency-key': 'blocked-while-asked-1' };
    const first = withdraw(t, 'blocked-while-asked', '40.00', { headers: key });
    await eventually(
      'the approver asked',
      () => approver.seen.length,
      (n) => n === seen + 1,
    );
    const id = JSON.parse(approver.seen.at(-1)!.body).payment_id as string;
    await block(t, 'blocked-while-asked');
    clock.advance(10 * 60);
    approver.deciding = undefined;
    approver.answer = { status: 200, body: { approved: true } };
    const retry = await withdraw(t, 'blocked-while-asked', '40.00', { headers: key });
    assert.deepEqual([retry.statusCode, errorOf(retry).code], [403, 'customer_blocked']);
    const failed = await waitForStatus(t, id, ['failed'], 1_000);
    assert.equal(failed.failure.code, 'customer_blocked');
    assert.deepEqual(await balances('blocked-while-asked'), ['10000', '0']);
    // The first ask answered late, approving: it finds the payment failed and sends nothing.
    decide();
    await first;
    assert.equal((await waitForStatus(t, id, ['failed'], 1_000)).status, 'failed');
    assert.equal(await madeAt(t, 'bank', id), 0);
  });

  test('a late decline of the first ask leaves the payout its retry had approved and sent: the money goes once, debited once', async () => {
    const user = 'two-answers';
    await fund(t, user, '100.00');
    const key = { 'idempotency-key': 'two-answers-1' };
    let decideFirst!: () => void;
    approver.deciding = new Promise((resolve) => (decideFirst = resolve));
    const seen = approver.seen.length;
    const first = withdraw(t, user, '40.00', { headers: key });
    await eventually(
      'the approver asked',
      () => approver.seen.length,
      (n) => n === seen + 1,
    );
    const id = JSON.parse(approver.seen.at(-1)!.body).payment_id as string;
    // The first request's lease lapses: the client's retry takes the key over, is approved
    // at once, and sent to the bank, which takes its time.
    clock.advance(10 * 60);
    approver.deciding = undefined;
    approver.answer = { status: 200, body: { approved: true } };
    await simulatorFault(t, {
      provider: 'bank',
      kind: 'latency',
      ms: 3_000,
      method: 'POST',
      path: '/bank/v1/payouts',
      count: 1,
    });
    const retry = withdraw(t, user, '40.00', { headers: key });
    await waitForStatus(t, id, ['pending'], 5_000);
    // Now, while the bank works it, the first ask is answered: declined.
    approver.answer = { status: 200, body: { approved: false, reason: 2 } };
    decideFirst();
    await first;
    assert.equal((await retry).statusCode, 201);
    const after = await waitForStatus(t, id, ['completed'], 10_000);
    assert.ok(
      !after.timeline.some((step: { cause: string }) => step.cause === 'operator declined'),
      JSON.stringify(after.timeline),
    );
    assert.equal(await madeAt(t, 'bank', id), 1);
    assert.deepEqual(await balances(user), ['6000', '0']);
  });

  test('a user blocked while the approver decides: its approval sends nothing, the payout fails customer_blocked and frees its hold', async () => {
    await fund(t, 'blocked-during-approval', '100.00');
    let decide!: () => void;
    approver.deciding = new Promise((resolve) => (decide = resolve));
    approver.answer = { status: 200, body: { approved: true } };
    const seen = approver.seen.length;
    const answer = withdraw(t, 'blocked-during-approval', '40.00');
    await eventually(
      'the approver asked',
      () => approver.seen.length,
      (n) => n === seen + 1,
    );
    const id = JSON.parse(approver.seen.at(-1)!.body).payment_id as string;
    await block(t, 'blocked-during-approval');
    decide();
    approver.deciding = undefined;
    const refused = await answer;
    assert.deepEqual([refused.statusCode, errorOf(refused).code], [403, 'customer_blocked']);
    const failed = await waitForStatus(t, id, ['failed'], 1_000);
    assert.equal(failed.failure.code, 'customer_blocked');
    assert.equal(await madeAt(t, 'bank', id), 0);
    assert.deepEqual(await balances('blocked-during-approval'), ['10000', '0']);
  });

  test('a block committed while a withdrawal waits for the user’s lock is seen where its hold is placed: nothing is made', async () => {
    await fund(t, 'blocked-at-insert', '100.00');
    approver.answer = { status: 200, body: { approved: true } };
    let answer: ReturnType<typeof createPayment> | undefined;
    // The block, as the operator's request commits it, while the withdrawal (its gates
    // read before) waits for the user's row to place its hold.
    await t.db.transaction(async (tx) => {
      await tx.query(
        "UPDATE end_users SET blocked_at = now(), blocked_reason = 'fraud' WHERE operator_id = $1 AND id = 'blocked-at-insert'",
        [t.operatorId],
      );
      answer = withdraw(t, 'blocked-at-insert', '40.00');
      await eventually(
        'the withdrawal waiting for the user',
        () => waitingForLocks(t),
        (n) => n > 0,
      );
    });
    const refused = await answer!;
    assert.deepEqual([refused.statusCode, errorOf(refused).code], [403, 'customer_blocked']);
    const listed = await t.app.inject({
      method: 'GET',
      url: '/v1/payments?user_id=blocked-at-insert&kind=withdrawal',
      headers: t.auth,
    });
    assert.deepEqual(listed.json().data, []);
    assert.deepEqual(await balances('blocked-at-insert'), ['10000', '0']);
  });
});

describe('an approver’s decline message PostgreSQL cannot store as sent', async () => {
  const t = await startTestApp({ sandbox: true });
  const approver = await approvalEndpoint();
  await openForPayments(t, {
    approval: { url: approver.url, timeout_ms: 1_000, retries: 0, on_no_answer: 'decline' },
  });

  for (const [name, message] of [
    ['a NUL character', 'not\u0000eligible'],
    ['a lone surrogate', 'not \ud800 eligible'],
  ] as const) {
    test(`a decline whose message holds ${name} still declines with its reason and frees the hold (no 5xx)`, async () => {
      const user = `nul-${name.length}`;
      await fund(t, user, '50.00');
      approver.answer = { status: 200, body: { approved: false, reason: 4, message } };
      const response = await withdraw(t, user, '10.00');
      const listed = (
        await t.app.inject({ method: 'GET', url: `/v1/payments?user_id=${user}&kind=withdrawal`, headers: t.auth })
      ).json().data as { status: string }[];
      assert.deepEqual(
        {
          status: response.statusCode,
          code: JSON.parse(response.body).error?.code,
          payment: listed[0]?.status,
          held: await held(t, user),
        },
        { status: 402, code: 'withdrawal_user_not_eligible', payment: 'failed', held: 0n },
        `the approver declined (reason 4); Rampart answered ${response.statusCode}: ${response.body}`,
      );
    });
  }
});

describe('a retry for a user blocked since, while a withdrawal without an approver is at its bank', async () => {
  const clock = travellingClock();
  // No approval URL: the withdrawal is sent to its bank while still `created`.
  const t = await startTestApp({ clock, sandbox: { timeoutMs: 15_000, settleDelayMs: 60_000 } });
  await openForPayments(t);
  // The bank's notices are late (lost here): what Rampart knows comes from its answers and from asking it.
  t.simulator!.admin.setWebhookTarget('bank', 'http://127.0.0.1:9/nowhere');

  test('the payout the bank received is not failed by the retry: its hold stays, and paid it is debited once', async () => {
    const user = 'no-approver';
    await fund(t, user, '100.00');
    // The bank makes the payout at once, then takes its time to answer.
    await simulatorFault(t, {
      provider: 'bank',
      kind: 'latency',
      ms: 4_000,
      phase: 'after',
      method: 'POST',
      path: '/bank/v1/payouts',
      count: 1,
    });
    const key = { 'idempotency-key': 'no-approver-1' };
    const first = withdraw(t, user, '40.00', { headers: key });
    const listed = await eventually(
      'the withdrawal recorded',
      async () =>
        (
          await t.app.inject({ method: 'GET', url: `/v1/payments?user_id=${user}&kind=withdrawal`, headers: t.auth })
        ).json().data as { id: string; status: string }[],
      (data) => data.length === 1,
    );
    const id = listed[0]!.id;
    await eventually(
      'the bank made the payout',
      async () => (await atBank(t, 'GET', `/bank/v1/payouts/by_reference/${id}`)).status,
      (status) => status === 200,
    );
    assert.equal((await paymentOf(t, id)).status, 'pending', 'on its way to the bank: pending, as an approved one is');
    await block(t, user);
    // The first request's lease lapses (as a dead node's would): the client retries with its key.
    clock.advance(10 * 60);
    const retry = await withdraw(t, user, '40.00', { headers: key });
    assert.deepEqual([retry.statusCode, errorOf(retry).code], [403, 'customer_blocked']);
    const afterRetry = await paymentOf(t, id);
    const heldAfterRetry = await held(t, user);
    await first;
    t.simulator!.admin.advanceClock(120); // the bank pays the payout it made
    clock.advance(10 * 60);
    await t.app.jobs.find((j) => j.name === 'reconcile-payments')!.run();
    const atTheBank = await atBank(t, 'GET', `/bank/v1/payouts/by_reference/${id}`);
    assert.equal(atTheBank.body['status'], 'PAID', 'the bank paid the payout out');
    const final = await paymentOf(t, id);
    assert.deepEqual(
      {
        heldAfterRetry,
        statusAfterRetry: afterRetry.status,
        finalStatus: final.status,
        balance: await balance(t, user),
        held: await held(t, user),
      },
      { heldAfterRetry: 4000n, statusAfterRetry: 'pending', finalStatus: 'completed', balance: 6000n, held: 0n },
      'the bank paid 40.00 out: the hold must stay until it answers, then be debited once',
    );
  });
});
