import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startTestSimulator } from './harness.ts';

const t = await startTestSimulator();

describe('admin API', () => {
  test('POST /admin/clock/advance moves the simulated clock and runs what fell due', async () => {
    const before = Date.parse((await t.admin('GET', '/admin/clock')).body.now);
    const payment = await t.call('bank', 'POST', '/bank/v1/payments', {
      amount: '10.00',
      currency: 'USD',
      merchant_reference: 'clock',
      return_url: 'https://operator.example/r',
    });
    const advanced = await t.admin('POST', '/admin/clock/advance', { seconds: 31 * 60 });
    assert.ok(Date.parse(advanced.body.now) - before >= 31 * 60 * 1000);
    const expired = await t.call('bank', 'GET', `/bank/v1/payments/${payment.body.payment_id}`);
    assert.equal(expired.body.status, 'EXPIRED');
    assert.equal((await t.admin('POST', '/admin/clock/advance', { seconds: -1 })).status, 400);
  });

  test('GET /admin/requests logs provider requests with idempotency keys, filterable', async () => {
    await t.call('cards', 'GET', '/cards/v1/payments/pay_x', undefined, { headers: { 'x-trace': '1' } });
    await t.call(
      'cards',
      'POST',
      '/cards/v1/payments',
      {
        amount: 1000,
        currency: 'usd',
        payment_method: {
          type: 'card',
          card: { number: '4242424242424242', exp_month: 1, exp_year: 2099, cvc: '123' },
        },
      },
      { idempotencyKey: 'log-key' },
    );
    const all = (await t.admin('GET', '/admin/requests?provider=cards')).body.requests;
    assert.ok(all.length >= 2);
    assert.ok(all.every((r: { provider: string }) => r.provider === 'cards'));
    const keyed = (await t.admin('GET', '/admin/requests?idempotency_key=log-key')).body.requests;
    assert.equal(keyed.length, 1);
    assert.equal(keyed[0].method, 'POST');
    assert.equal(keyed[0].path, '/cards/v1/payments');
    assert.match(keyed[0].created_id, /^pay_/);
    assert.equal(keyed[0].status, 201);
  });

  test('POST /admin/reset forgets payments, logs, faults and time travel, and keeps webhook targets', async () => {
    const payment = await t.call('bank', 'POST', '/bank/v1/payments', {
      amount: '10.00',
      currency: 'USD',
      merchant_reference: 'reset',
      return_url: 'https://operator.example/r',
    });
    t.sim.admin.addFault({ provider: 'kyc', kind: 'error' });
    t.advance(86_400);
    const targets = t.sim.admin.webhookTargets();
    assert.equal((await t.admin('POST', '/admin/reset')).status, 200);
    assert.equal((await t.call('bank', 'GET', `/bank/v1/payments/${payment.body.payment_id}`)).status, 404);
    assert.deepEqual(t.sim.admin.faults(), []);
    assert.equal(t.sim.admin.requests().length, 1);
    assert.ok(Math.abs(t.sim.admin.now().getTime() - Date.now()) < 5000);
    assert.deepEqual(t.sim.admin.webhookTargets(), targets);
  });

  test('admin routes answer plain JSON errors, not a provider format', async () => {
    const missing = await t.admin('GET', '/admin/nothing');
    assert.equal(missing.status, 404);
    assert.equal(typeof missing.body.error.message, 'string');
  });
});
