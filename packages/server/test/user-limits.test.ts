/**
 * Each end user's own limits (responsible gambling), set by the operator with
 * `PATCH /v1/users/{id}/limits`: per action, currency and rolling day, week or month.
 * Tightening holds at once, loosening after `limit_increase_delay_hours`; payments past
 * a limit answer `user_limit_exceeded`, decided under the user's lock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorOf, startTestApp, type TestApp } from './harness.ts';
import { BANK_ACCOUNT, CARD_OK, createPayment, fund, openForPayments, travellingClock } from './payment-fixtures.ts';
import { listedEvents } from './webhooks-fixtures.ts';

const HOUR = 3_600;
const DAY = 24 * HOUR;

function setLimits(t: TestApp, userId: string, payload: unknown) {
  return t.app.inject({
    method: 'PATCH',
    url: `/v1/users/${userId}/limits`,
    headers: t.auth,
    payload: payload as object,
  });
}

async function limitsOf(t: TestApp, userId: string) {
  const response = await t.app.inject({ method: 'GET', url: `/v1/users/${userId}/limits`, headers: t.auth });
  assert.equal(response.statusCode, 200, response.body);
  return response.json().data as {
    action: string;
    currency: string;
    period: string;
    amount: string | null;
    pending: { amount: string | null; effective_at: string } | null;
  }[];
}

/** Sets the user's limits, asserting they were taken. */
async function limit(t: TestApp, userId: string, payload: unknown) {
  const response = await setLimits(t, userId, payload);
  assert.equal(response.statusCode, 200, response.body);
  return response.json().data;
}

const deposit = (t: TestApp, userId: string, amount: string) => createPayment(t, { user_id: userId, amount });

describe('a user’s own limits', async () => {
  const clock = travellingClock();
  const t = await startTestApp({ sandbox: true, clock });
  await openForPayments(t, { limits: { deposit: { USD: { min: '1.00', max: '5000.00' } } } });

  test('a deposit past the user’s daily limit answers user_limit_exceeded; a smaller one fits; other users are free', async () => {
    await limit(t, 'capped', { deposit: { USD: { day: '50.00' } } });
    assert.equal((await deposit(t, 'capped', '30.00')).statusCode, 201);
    const response = await deposit(t, 'capped', '25.00');
    assert.equal(response.statusCode, 422, response.body);
    const error = errorOf(response);
    assert.equal(error.code, 'user_limit_exceeded');
    assert.equal(error.retryable, false);
    assert.deepEqual(
      { ...error.details },
      { action: 'deposit', period: 'day', limit: '50.00', used: '30.00', requested: '25.00', currency: 'USD' },
    );
    assert.equal((await deposit(t, 'capped', '20.00')).statusCode, 201, 'exactly up to the limit');
    assert.equal((await deposit(t, 'uncapped', '500.00')).statusCode, 201);
  });

  test('week and month limits count payments older than a day, until they leave the window', async () => {
    await limit(t, 'weekly', { deposit: { USD: { week: '100.00', month: '150.00' } } });
    assert.equal((await deposit(t, 'weekly', '60.00')).statusCode, 201);
    clock.advance(3 * DAY);
    const week = await deposit(t, 'weekly', '50.00');
    assert.deepEqual(
      [errorOf(week).code, errorOf(week).details['period'], errorOf(week).details['used']],
      ['user_limit_exceeded', 'week', '60.00'],
    );
    assert.equal((await deposit(t, 'weekly', '40.00')).statusCode, 201);
    clock.advance(5 * DAY); // the first deposit has left the week, not the month
    const month = await deposit(t, 'weekly', '60.00');
    assert.deepEqual([errorOf(month).details['period'], errorOf(month).details['used']], ['month', '100.00']);
    assert.equal((await deposit(t, 'weekly', '50.00')).statusCode, 201);
  });

  test('raising waits limit_increase_delay_hours and shows as pending; lowering holds at once and drops the raise', async () => {
    await limit(t, 'raiser', { deposit: { USD: { day: '100.00' } } });
    const raised = await limit(t, 'raiser', { deposit: { USD: { day: '300.00' } } });
    assert.equal(raised.length, 1);
    assert.equal(raised[0].amount, '100.00', 'the old limit still holds');
    assert.equal(raised[0].pending.amount, '300.00');
    const wait = Date.parse(raised[0].pending.effective_at) - clock.now().getTime();
    assert.ok(Math.abs(wait - DAY * 1000) < 60_000, `a day's delay (${wait} ms)`);
    assert.equal(errorOf(await deposit(t, 'raiser', '150.00')).code, 'user_limit_exceeded');

    clock.advance(DAY + 60);
    assert.deepEqual(
      (await limitsOf(t, 'raiser')).map((l) => [l.amount, l.pending]),
      [['300.00', null]],
    );
    assert.equal((await deposit(t, 'raiser', '150.00')).statusCode, 201, 'the raise holds after its delay');

    await limit(t, 'raiser', { deposit: { USD: { day: '500.00' } } });
    const lowered = await limit(t, 'raiser', { deposit: { USD: { day: '200.00' } } });
    assert.deepEqual([lowered[0].amount, lowered[0].pending], ['200.00', null], 'the waiting raise is dropped');
    const over = await deposit(t, 'raiser', '60.00');
    assert.deepEqual([errorOf(over).details['limit'], errorOf(over).details['used']], ['200.00', '150.00']);
  });

  test('removing a limit waits too; a first limit holds at once', async () => {
    await limit(t, 'remover', { deposit: { USD: { day: '10.00' } } });
    const removing = await limit(t, 'remover', { deposit: { USD: { day: null } } });
    assert.deepEqual([removing[0].amount, removing[0].pending.amount], ['10.00', null]);
    assert.equal(errorOf(await deposit(t, 'remover', '20.00')).code, 'user_limit_exceeded');
    clock.advance(DAY + 60);
    assert.deepEqual(await limitsOf(t, 'remover'), []);
    assert.equal((await deposit(t, 'remover', '20.00')).statusCode, 201);
  });

  test('withdrawal limits bind withdrawals only', async () => {
    await fund(t, 'withdrawer', '100.00');
    await limit(t, 'withdrawer', { withdrawal: { USD: { day: '10.00' } } });
    assert.equal((await deposit(t, 'withdrawer', '50.00')).statusCode, 201);
    const response = await createPayment(t, {
      user_id: 'withdrawer',
      kind: 'withdrawal',
      method: 'bank',
      amount: '20.00',
      instrument: BANK_ACCOUNT,
    });
    assert.equal(response.statusCode, 422, response.body);
    assert.deepEqual(
      [errorOf(response).code, errorOf(response).details['action']],
      ['user_limit_exceeded', 'withdrawal'],
    );
  });

  test('failed payments do not count against a limit', async () => {
    await limit(t, 'declined', { deposit: { USD: { day: '50.00' } } });
    const declined = await createPayment(t, {
      user_id: 'declined',
      amount: '40.00',
      instrument: { ...CARD_OK, card_number: '4000000000000002' },
    });
    assert.equal(declined.statusCode, 402, declined.body);
    assert.equal((await deposit(t, 'declined', '40.00')).statusCode, 201);
  });

  test('30 concurrent deposits never pass the limit together', async () => {
    await limit(t, 'crowded', { deposit: { USD: { day: '50.00' } } });
    const responses = await Promise.all(Array.from({ length: 30 }, () => deposit(t, 'crowded', '10.00')));
    const accepted = responses.filter((r) => r.statusCode === 201);
    assert.equal(accepted.length, 5);
    for (const r of responses) if (r.statusCode !== 201) assert.equal(errorOf(r).code, 'user_limit_exceeded', r.body);
  });

  test('a first limit committed while a deposit of the user is on its way holds for that deposit', async () => {
    assert.equal((await deposit(t, 'first-limit', '5.00')).statusCode, 201); // known, with no limit of their own
    // The deposit reads the user (no limit yet), then waits at its insert while the limit is set.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const locking = t.db.transaction(async (tx) => {
      await tx.query('LOCK TABLE payments IN SHARE MODE');
      locked();
      await held;
    });
    let response: ReturnType<typeof deposit> | undefined;
    try {
      await lockTaken;
      response = deposit(t, 'first-limit', '50.00');
      // Waiting at its insert: a lock on this database's payments table not granted (other
      // test databases, cloned from one template, have a table of the same oid).
      for (;;) {
        const { rows } = await t.db.query(
          `SELECT 1 FROM pg_locks WHERE relation = 'payments'::regclass AND NOT granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        if (rows.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await limit(t, 'first-limit', { deposit: { USD: { day: '40.00' } } });
    } finally {
      release();
      await locking;
    }
    const answered = await response;
    assert.equal(answered.statusCode, 422, answered.body);
    assert.deepEqual(
      [errorOf(answered).code, errorOf(answered).details['limit'], errorOf(answered).details['used']],
      ['user_limit_exceeded', '40.00', '5.00'],
    );
  });

  test('a change emits user.limits_changed with the limits as they now stand; no change emits nothing', async () => {
    await limit(t, 'watched', { buy: { USDT: { month: '1000' } } });
    await limit(t, 'watched', { buy: { USDT: { month: '1000.000000' } } });
    const events = await listedEvents(t, { type: 'user.limits_changed', subject_id: `${t.operatorId}/watched` });
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.deepEqual(events[0].data.limits, [
      { action: 'buy', currency: 'USDT', period: 'month', amount: '1000.000000', pending: null },
    ]);
  });

  test('bad limits answer their codes, and nothing changes', async () => {
    await limit(t, 'strict', { deposit: { USD: { day: '10.00' } } });
    for (const [payload, status, code, field] of [
      [{ deposit: { USD: { year: '1.00' } } }, 400, 'validation_error', undefined],
      [{ lend: { USD: { day: '1.00' } } }, 400, 'validation_error', undefined],
      [{}, 400, 'validation_error', undefined],
      [{ deposit: { XXX: { day: '1.00' } } }, 422, 'invalid_value', 'deposit.XXX'],
      [{ deposit: { USD: { day: '0' } } }, 422, 'invalid_amount', 'deposit.USD.day'],
      [{ deposit: { USD: { day: '1.001' } } }, 422, 'invalid_amount', 'deposit.USD.day'],
    ] as const) {
      const response = await setLimits(t, 'strict', payload);
      assert.equal(response.statusCode, status, `${JSON.stringify(payload)}: ${response.body}`);
      assert.equal(errorOf(response).code, code);
      if (field) assert.equal(errorOf(response).details['field'], field);
    }
    assert.deepEqual(
      (await limitsOf(t, 'strict')).map((l) => l.amount),
      ['10.00'],
    );
    const unknown = await t.app.inject({ method: 'GET', url: '/v1/users/nobody-at-all/limits', headers: t.auth });
    assert.deepEqual([unknown.statusCode, errorOf(unknown).code], [404, 'user_not_found']);
    await limit(t, 'nobody-at-all', { deposit: { USD: { day: '1.00' } } });
    assert.equal((await limitsOf(t, 'nobody-at-all')).length, 1, 'a user is known from their first limit');
  });
});

describe('limit_increase_delay_hours', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t, { limit_increase_delay_hours: 0 });

  test('0 lets raises hold at once; beyond 720 is refused', async () => {
    await limit(t, 'instant', { deposit: { USD: { day: '10.00' } } });
    const raised = await limit(t, 'instant', { deposit: { USD: { day: '90.00' } } });
    assert.deepEqual([raised[0].amount, raised[0].pending], ['90.00', null]);
    assert.equal((await deposit(t, 'instant', '50.00')).statusCode, 201);
    const refused = await t.app.inject({
      method: 'PATCH',
      url: '/v1/operator/settings',
      headers: t.auth,
      payload: { limit_increase_delay_hours: 721 },
    });
    assert.deepEqual(
      [refused.statusCode, errorOf(refused).code, errorOf(refused).details['field']],
      [422, 'invalid_value', 'limit_increase_delay_hours'],
    );
  });
});
