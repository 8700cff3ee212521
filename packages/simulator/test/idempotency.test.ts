import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Provider } from '../src/index.ts';
import { AUTH, eventually, IDEMPOTENCY_HEADER, startTestSimulator } from './harness.ts';

const t = await startTestSimulator();

interface CreateCall {
  path: string;
  body: (n: number) => Record<string, unknown>;
  idOf: (body: Record<string, never>) => string;
  /** How this provider says "same key, different request". */
  conflict: (body: Record<string, never>) => unknown;
  inProgress: (body: Record<string, never>) => unknown;
}

// biome-ignore lint/suspicious/noExplicitAny: wire bodies are read field by field
type Wire = any;

const CREATES: Record<Provider, CreateCall> = {
  bank: {
    path: '/bank/v1/payments',
    body: (n) => ({
      amount: `${10 + n}.00`,
      currency: 'USD',
      merchant_reference: `r${n}`,
      return_url: 'https://o.example/r',
    }),
    idOf: (b: Wire) => b.payment_id,
    conflict: (b: Wire) => b.error_code === 'IDEMPOTENCY_CONFLICT',
    inProgress: (b: Wire) => b.error_code === 'IDEMPOTENCY_IN_PROGRESS',
  },
  cards: {
    path: '/cards/v1/payments',
    body: (n) => ({
      amount: 1000 + n * 100,
      currency: 'usd',
      payment_method: { type: 'card', card: { number: '4242424242424242', exp_month: 1, exp_year: 2099, cvc: '123' } },
    }),
    idOf: (b: Wire) => b.id,
    conflict: (b: Wire) => b.error.type === 'idempotency_error' && b.error.code === 'idempotency_key_reused',
    inProgress: (b: Wire) => b.error.type === 'idempotency_error' && b.error.code === 'idempotency_key_in_use',
  },
  crypto: {
    path: '/crypto/v1/withdrawals',
    body: (n) => ({
      asset: 'USDT',
      network: 'TRC20',
      address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
      amount: `${10 + n}.00`,
      reference: `w${n}`,
    }),
    idOf: (b: Wire) => b.data.withdrawal_id,
    conflict: (b: Wire) => b.success === false && b.code === 40901,
    inProgress: (b: Wire) => b.success === false && b.code === 40902,
  },
  kyc: {
    path: '/kyc/v1/applicants',
    body: (n) => ({
      externalUserId: `idem-${n}-${Math.random()}`,
      firstName: 'A',
      lastName: 'B',
      email: 'a@example.com',
      dob: '1990-01-01',
      country: 'US',
    }),
    idOf: (b: Wire) => b.id,
    conflict: (b: Wire) => b.errorName === 'idempotency_conflict',
    inProgress: (b: Wire) => b.errorName === 'idempotency_in_progress',
  },
};

const createdFor = (key: string) => t.sim.admin.requests({ idempotency_key: key }).filter((r) => r.created_id !== null);

for (const [provider, create] of Object.entries(CREATES) as [Provider, CreateCall][]) {
  describe(`${provider}: idempotency key (${IDEMPOTENCY_HEADER[provider]})`, () => {
    const post = (body: unknown, key?: string) =>
      t.call(provider, 'POST', create.path, body, key ? { idempotencyKey: key } : {});

    test('a replay returns the first answer byte for byte and creates one resource', async () => {
      const key = `${provider}-replay`;
      const body = create.body(1);
      const first = await post(body, key);
      const second = await post(body, key);
      assert.equal(first.status, 201);
      assert.equal(second.status, 201);
      assert.equal(second.text, first.text);
      assert.equal(second.headers.get('idempotent-replayed'), 'true');
      const created = createdFor(key);
      assert.equal(created.length, 1);
      assert.equal(created[0]!.created_id, create.idOf(first.body));
      assert.deepEqual(
        t.sim.admin.requests({ idempotency_key: key }).map((r) => r.replayed),
        [false, true],
      );
    });

    test("the same key with a different body is the provider's conflict error and creates nothing", async () => {
      const key = `${provider}-conflict`;
      await post(create.body(2), key);
      const conflict = await post(create.body(3), key);
      assert.equal(conflict.status, 409);
      assert.ok(create.conflict(conflict.body), conflict.text);
      assert.equal(createdFor(key).length, 1);
    });

    test("the same key while the first request is still running is the provider's in-progress error", async () => {
      const key = `${provider}-in-progress`;
      const body = create.body(4);
      t.sim.admin.addFault({ provider, kind: 'latency', phase: 'after', ms: 400, count: 1, path: create.path });
      const first = post(body, key);
      // Send the second only once the first has claimed the key.
      await eventually(() => t.sim.admin.requests({ idempotency_key: key }).length === 1);
      const second = await post(body, key);
      assert.equal(second.status, 409);
      assert.ok(create.inProgress(second.body), second.text);
      assert.equal((await first).status, 201);
      assert.equal((await post(body, key)).headers.get('idempotent-replayed'), 'true');
      assert.equal(createdFor(key).length, 1);
    });

    test('a retry after the answer was lost to a timeout gets the first answer: one resource, not two', async () => {
      const key = `${provider}-lost-answer`;
      const body = create.body(5);
      t.sim.admin.addFault({ provider, kind: 'timeout', phase: 'after', count: 1, path: create.path });
      const client = new AbortController();
      const lost = fetch(`${t.url}${create.path}`, {
        method: 'POST',
        headers: { ...AUTH[provider], 'content-type': 'application/json', [IDEMPOTENCY_HEADER[provider]]: key },
        body: JSON.stringify(body),
        signal: client.signal,
      });
      // The provider did the work and holds the answer; the client gives up.
      await eventually(() => createdFor(key).length === 1);
      client.abort();
      await assert.rejects(lost, { name: 'AbortError' });
      const retry = await post(body, key);
      assert.equal(retry.status, 201);
      assert.equal(retry.headers.get('idempotent-replayed'), 'true');
      const created = createdFor(key);
      assert.equal(created.length, 1);
      assert.equal(created[0]!.created_id, create.idOf(retry.body));
    });

    test('without a key, an identical request is not a replay: it is processed again', async () => {
      const body = create.body(6);
      const first = await post(body);
      const second = await post(body);
      assert.equal(first.status, 201);
      assert.equal(second.headers.get('idempotent-replayed'), null);
      if (provider === 'kyc') {
        // The KYC provider refuses a second applicant for the same user on its own.
        assert.equal(second.status, 409);
        assert.equal(second.body.errorName, 'applicant_exists');
      } else {
        assert.notEqual(create.idOf(second.body), create.idOf(first.body));
      }
    });
  });
}
