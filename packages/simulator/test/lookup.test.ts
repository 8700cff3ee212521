/**
 * Retrieval by the merchant's own reference: what a merchant whose create call timed
 * out (and whose webhooks were lost) asks to learn whether, and what, it created.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Provider } from '../src/index.ts';
import { startTestSimulator } from './harness.ts';

const t = await startTestSimulator();
const HOUR = 3600;

let sequence = 0;
/** Unique per file: references and idempotency keys must not meet earlier ones. */
const unique = (prefix: string) => `${prefix}_${++sequence}_${Date.now().toString(36)}`;

const BANK_ACCOUNT = { routing_number: '110000000', account_number: '000123456789', account_holder_name: 'Ada' };

describe('bank: payments and payouts by merchant_reference', () => {
  const createPayment = async (reference: string, amount = '25.00', idempotencyKey?: string) =>
    t.call(
      'bank',
      'POST',
      '/bank/v1/payments',
      { amount, currency: 'USD', merchant_reference: reference, return_url: 'https://operator.example/return' },
      idempotencyKey ? { idempotencyKey } : {},
    );
  const byReference = (collection: 'payments' | 'payouts', reference: string) =>
    t.call('bank', 'GET', `/bank/v1/${collection}/by_reference/${encodeURIComponent(reference)}`);

  test('a payment is found by its merchant_reference as it is now, the same as by its id', async () => {
    const reference = unique('dep');
    const created = await createPayment(reference);
    assert.equal(created.status, 201, created.text);
    const found = await byReference('payments', reference);
    assert.equal(found.status, 200);
    assert.deepEqual(found.body, (await t.call('bank', 'GET', `/bank/v1/payments/${created.body.payment_id}`)).body);
    assert.equal((await t.call('bank', 'POST', `/bank/v1/payments/${created.body.payment_id}/cancel`)).status, 200);
    const later = await byReference('payments', reference);
    assert.equal(later.body.payment_id, created.body.payment_id);
    assert.equal(later.body.status, 'CANCELLED');
  });

  test('a payout is found by its merchant_reference, and follows it to PAID', async () => {
    const reference = unique('wd');
    const created = await t.call('bank', 'POST', '/bank/v1/payouts', {
      amount: '40.00',
      currency: 'USD',
      merchant_reference: reference,
      bank_account: { holder_name: 'Ada', account_number: '000123456789', routing_number: '110000000' },
    });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual((await byReference('payouts', reference)).body, created.body);
    t.advance(HOUR);
    const paid = await byReference('payouts', reference);
    assert.equal(paid.body.payout_id, created.body.payout_id);
    assert.equal(paid.body.status, 'PAID');
  });

  test('an unknown reference is 404 NOT_FOUND; payments and payouts are looked up apart', async () => {
    const reference = unique('dep');
    await createPayment(reference);
    for (const missing of [await byReference('payments', unique('nobody')), await byReference('payouts', reference)]) {
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error_code, 'NOT_FOUND');
      assert.match(missing.body.trace_id, /^trc_/);
    }
  });

  test('a reference used for two payments finds the latest', async () => {
    const reference = unique('dep');
    await createPayment(reference, '25.00', unique('key'));
    const second = await createPayment(reference, '26.00', unique('key'));
    assert.equal((await byReference('payments', reference)).body.payment_id, second.body.payment_id);
  });

  test('a create that failed (…03 answers 500) left nothing to find', async () => {
    const reference = unique('dep');
    assert.equal((await createPayment(reference, '4.03')).status, 500);
    assert.equal((await byReference('payments', reference)).status, 404);
  });
});

describe('cards: payments, ACH debits and payouts by the idempotency key they were created under', () => {
  const create = (collection: string, body: unknown, idempotencyKey?: string) =>
    t.call('cards', 'POST', `/cards/v1/${collection}`, body, idempotencyKey ? { idempotencyKey } : {});
  const byKey = (collection: string, key: string) =>
    t.call('cards', 'GET', `/cards/v1/${collection}/by_idempotency_key/${encodeURIComponent(key)}`);
  const cardPayment = (number: string) => ({
    amount: 2500,
    currency: 'usd',
    payment_method: { type: 'card', card: { number, exp_month: 12, exp_year: 2099, cvc: '123' } },
  });
  const creates: [collection: string, body: unknown][] = [
    ['payments', cardPayment('4242424242424242')],
    ['ach_debits', { amount: 2500, currency: 'usd', bank_account: BANK_ACCOUNT }],
    ['payouts', { amount: 4000, currency: 'usd', destination: { type: 'bank_account', bank_account: BANK_ACCOUNT } }],
  ];

  for (const [collection, body] of creates) {
    test(`${collection}: found by the key, the same as by its id, and not by another key`, async () => {
      const key = unique('key');
      const created = await create(collection, body, key);
      assert.equal(created.status, 201, created.text);
      const found = await byKey(collection, key);
      assert.equal(found.status, 200);
      assert.deepEqual(found.body, (await t.call('cards', 'GET', `/cards/v1/${collection}/${created.body.id}`)).body);
      const missing = await byKey(collection, unique('key'));
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.type, 'invalid_request_error');
      assert.equal(missing.body.error.code, 'resource_missing');
    });
  }

  test('a payment declined at create (402) exists, so it is found, failed', async () => {
    const key = unique('key');
    const declined = await create('payments', cardPayment('4000000000000002'), key);
    assert.equal(declined.status, 402);
    const found = await byKey('payments', key);
    assert.equal(found.body.id, declined.body.error.payment.id);
    assert.equal(found.body.status, 'failed');
  });

  test('a key finds only in the collection it created in', async () => {
    const key = unique('key');
    await create('payments', cardPayment('4242424242424242'), key);
    assert.equal((await byKey('ach_debits', key)).status, 404);
    assert.equal((await byKey('payouts', key)).status, 404);
  });

  test('an ACH debit is followed to settled', async () => {
    const key = unique('key');
    const created = await create('ach_debits', creates[1]![1], key);
    t.advance(HOUR);
    const settled = await byKey('ach_debits', key);
    assert.equal(settled.body.id, created.body.id);
    assert.equal(settled.body.status, 'settled');
  });
});

describe('crypto: deposit watches and withdrawals by reference, orders by customer_ref', () => {
  const call = (method: string, path: string, body?: unknown) => t.call('crypto', method, path, body);
  const EVM = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';

  test('a deposit watch is found by its reference, the same as by its id', async () => {
    const reference = unique('dep');
    const created = await call('POST', '/crypto/v1/deposit-watches', {
      address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
      asset: 'USDT',
      network: 'TRC20',
      expected_amount: '100.00',
      reference,
    });
    assert.equal(created.status, 201, created.text);
    const found = await call('GET', `/crypto/v1/deposit-watches/by-reference/${reference}`);
    assert.equal(found.status, 200);
    assert.equal(found.body.success, true);
    assert.deepEqual(
      found.body.data,
      (await call('GET', `/crypto/v1/deposit-watches/${created.body.data.watch_id}`)).body.data,
    );
  });

  test('a withdrawal is found by its reference and followed to broadcast', async () => {
    const reference = unique('wd');
    const created = await call('POST', '/crypto/v1/withdrawals', {
      asset: 'USDT',
      network: 'ERC20',
      address: EVM,
      amount: '30.00',
      reference,
    });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(
      (await call('GET', `/crypto/v1/withdrawals/by-reference/${reference}`)).body.data,
      created.body.data,
    );
    t.advance(HOUR);
    const broadcast = (await call('GET', `/crypto/v1/withdrawals/by-reference/${reference}`)).body.data;
    assert.equal(broadcast.withdrawal_id, created.body.data.withdrawal_id);
    assert.equal(broadcast.status, 'broadcast');
  });

  test('an order is found by its customer_ref, the same as by its id', async () => {
    const customerRef = unique('sell');
    const quote = await call('POST', '/crypto/v1/quotes', {
      side: 'sell',
      asset: 'USDT',
      network: 'TRC20',
      crypto_amount: '20',
    });
    const order = await call('POST', '/crypto/v1/orders', {
      quote_id: quote.body.data.quote_id,
      customer_ref: customerRef,
    });
    assert.equal(order.status, 201, order.text);
    const found = await call('GET', `/crypto/v1/orders/by-customer-ref/${customerRef}`);
    assert.equal(found.status, 200);
    assert.deepEqual(found.body.data, (await call('GET', `/crypto/v1/orders/${order.body.data.order_id}`)).body.data);
  });

  test('an unknown reference is 404 code 40401 in the envelope, for each of them', async () => {
    for (const path of ['deposit-watches/by-reference', 'withdrawals/by-reference', 'orders/by-customer-ref']) {
      const missing = await call('GET', `/crypto/v1/${path}/${unique('nobody')}`);
      assert.equal(missing.status, 404, path);
      assert.deepEqual(
        { success: missing.body.success, code: missing.body.code, data: missing.body.data },
        { success: false, code: 40401, data: null },
      );
    }
  });
});

describe('lookups are API endpoints like the others', () => {
  const LOOKUP: Record<Exclude<Provider, 'kyc'>, string> = {
    bank: '/bank/v1/payments/by_reference/dep_1',
    cards: '/cards/v1/payments/by_idempotency_key/key_1',
    crypto: '/crypto/v1/deposit-watches/by-reference/dep_1',
  };
  const UNAUTHORIZED = {
    bank: (body: { error_code: string }) => body.error_code === 'UNAUTHORIZED',
    cards: (body: { error: { type: string } }) => body.error.type === 'authentication_error',
    crypto: (body: { code: number }) => body.code === 40101,
  };
  const UNAVAILABLE = {
    bank: (body: { error_code: string }) => body.error_code === 'SERVICE_UNAVAILABLE',
    cards: (body: { error: { code: string } }) => body.error.code === 'service_unavailable',
    crypto: (body: { code: number }) => body.code === 50301,
  };

  for (const provider of ['bank', 'cards', 'crypto'] as const) {
    test(`${provider}: without the API key it is 401 in the provider's format`, async () => {
      const answer = await t.call(provider, 'GET', LOOKUP[provider], undefined, { auth: false });
      assert.equal(answer.status, 401);
      assert.ok(UNAUTHORIZED[provider](answer.body), answer.text);
    });

    test(`${provider}: a fault aimed at it strikes it, in the provider's format`, async () => {
      const rule = t.sim.admin.addFault({ provider, kind: 'error', status: 503, path: LOOKUP[provider], count: 1 });
      try {
        const answer = await t.call(provider, 'GET', LOOKUP[provider]);
        assert.equal(answer.status, 503);
        assert.equal(answer.headers.get('retry-after'), '1');
        assert.ok(UNAVAILABLE[provider](answer.body), answer.text);
        assert.deepEqual(t.sim.admin.requests({ provider }).at(-1)!.faults, ['error']);
      } finally {
        t.sim.admin.removeFault(rule.id);
      }
    });
  }
});
