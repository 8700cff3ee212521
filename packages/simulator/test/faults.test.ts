import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Provider } from '../src/index.ts';
import { AUTH, eventually, startTestSimulator } from './harness.ts';

const t = await startTestSimulator();

/** A cheap read on each provider that answers 200 when no fault is set. */
const PROBE: Record<Provider, string> = {
  bank: '/bank/lightbox.js',
  cards: '/cards/v1/payments/pay_missing',
  crypto: '/crypto/v1/assets',
  kyc: '/kyc/v1/applicants/apl_missing',
};

function probe(provider: Provider, signal?: AbortSignal) {
  return fetch(`${t.url}${PROBE[provider]}`, {
    headers: AUTH[provider],
    signal: signal ?? AbortSignal.timeout(10_000),
  });
}

async function addFault(rule: Record<string, unknown>) {
  const answer = await t.admin('POST', '/admin/faults', rule);
  assert.equal(answer.status, 201, answer.text);
  return answer.body;
}

describe('fault injection', () => {
  test('latency delays the answer by roughly the configured time', async () => {
    const rule = await addFault({ provider: 'crypto', kind: 'latency', ms: 300, count: 1 });
    const started = Date.now();
    const response = await probe('crypto');
    assert.equal(response.status, 200);
    assert.ok(Date.now() - started >= 250, `answered after ${Date.now() - started} ms`);
    assert.deepEqual(t.sim.admin.requests({ provider: 'crypto' }).at(-1)!.faults, ['latency']);
    assert.ok(!t.sim.admin.faults().some((f) => f.id === rule.id), 'a count of 1 is spent by one request');
  });

  test('timeout: the request is accepted and never answered until the client gives up', async () => {
    await addFault({ provider: 'cards', kind: 'timeout', count: 1 });
    const started = Date.now();
    await assert.rejects(probe('cards', AbortSignal.timeout(200)), { name: 'TimeoutError' });
    assert.ok(Date.now() - started < 5000);
    const entry = t.sim.admin.requests({ provider: 'cards' }).at(-1)!;
    assert.deepEqual(entry.faults, ['timeout']);
    assert.equal(entry.status, null);
  });

  test('timeout is bounded: after hold_ms the connection is dropped', async () => {
    await addFault({ provider: 'cards', kind: 'timeout', hold_ms: 100, count: 1 });
    await assert.rejects(probe('cards', AbortSignal.timeout(5000)), (error: Error) => error.name === 'TypeError');
  });

  for (const provider of ['bank', 'cards', 'crypto', 'kyc'] as const) {
    test(`${provider}: error answers the configured 5xx in the provider's format for count requests, then recovers`, async () => {
      await addFault({ provider, kind: 'error', status: 502, count: 2 });
      for (let i = 0; i < 2; i++) {
        const response = await probe(provider);
        assert.equal(response.status, 502);
        const body = (await response.json()) as Record<string, unknown>;
        const shape = {
          bank: () => body['error_code'] === 'INTERNAL_ERROR',
          cards: () => (body['error'] as { type: string }).type === 'api_error',
          crypto: () => body['success'] === false && body['code'] === 50001,
          kyc: () => body['errorName'] === 'internal_error',
        }[provider];
        assert.ok(shape(), JSON.stringify(body));
      }
      assert.notEqual((await probe(provider)).status, 502);
    });
  }

  test('a probability below 1 strikes only when the random draw is under it', async () => {
    const local = await startTestSimulator({ random: () => 0.7 });
    local.sim.admin.addFault({ provider: 'crypto', kind: 'error', probability: 0.5 });
    assert.equal((await local.call('crypto', 'GET', '/crypto/v1/assets')).status, 200);
    local.sim.admin.clearFaults();
    local.sim.admin.addFault({ provider: 'crypto', kind: 'error', probability: 0.8 });
    assert.equal((await local.call('crypto', 'GET', '/crypto/v1/assets')).status, 500);
  });

  test('garbage html: a 200 whose body is an HTML error page that JSON.parse rejects', async () => {
    await addFault({ provider: 'kyc', kind: 'garbage', body: 'html', count: 1 });
    const response = await probe('kyc');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /text\/html/);
    const text = await response.text();
    assert.throws(() => JSON.parse(text), SyntaxError);
  });

  test('garbage truncated_json after the work: half of the real answer, unparseable, and the work was done', async () => {
    await addFault({ provider: 'bank', kind: 'garbage', body: 'truncated_json', phase: 'after', count: 1 });
    const response = await fetch(`${t.url}/bank/v1/payments`, {
      method: 'POST',
      headers: { ...AUTH.bank, 'content-type': 'application/json' },
      body: JSON.stringify({
        amount: '9.00',
        currency: 'USD',
        merchant_reference: 'g',
        return_url: 'https://o.example/r',
      }),
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /application\/json/);
    const text = await response.text();
    assert.throws(() => JSON.parse(text), SyntaxError);
    assert.match(text, /^\{"payment_id":"bpay_/);
    const created = t.sim.admin.requests({ provider: 'bank' }).at(-1)!.created_id!;
    assert.equal((await t.call('bank', 'GET', `/bank/v1/payments/${created}`)).body.status, 'PENDING_AUTHORIZATION');
  });

  test('reset: the connection is destroyed and fetch fails with a socket error', async () => {
    await addFault({ provider: 'crypto', kind: 'reset', count: 1 });
    await assert.rejects(probe('crypto'), (error: Error & { cause?: { code?: string } }) => {
      assert.equal(error.name, 'TypeError');
      assert.match(String(error.cause?.code), /UND_ERR_SOCKET|ECONNRESET/);
      return true;
    });
    assert.equal((await probe('crypto')).status, 200);
  });

  test('outage (503): every request fails with 503 and Retry-After until the window ends', async () => {
    await addFault({ provider: 'kyc', kind: 'outage', duration_ms: 400, mode: '503' });
    const during = await probe('kyc');
    assert.equal(during.status, 503);
    assert.ok(Number(during.headers.get('retry-after')) >= 1);
    assert.equal(((await during.json()) as { errorName: string }).errorName, 'service_unavailable');
    const after = await eventually(async () => {
      const response = await probe('kyc');
      return response.status !== 503 && response;
    }, 3000);
    assert.equal(after.status, 404);
  });

  test('outage (reset): connections are dropped until the window ends; time travel ends it too', async () => {
    await addFault({ provider: 'bank', kind: 'outage', duration_ms: 60_000, mode: 'reset' });
    await assert.rejects(probe('bank'), { name: 'TypeError' });
    await assert.rejects(probe('bank'), { name: 'TypeError' });
    t.advance(61);
    assert.equal((await probe('bank')).status, 200);
  });

  test('method and path narrow a rule to one endpoint', async () => {
    await addFault({ provider: 'cards', kind: 'error', method: 'POST', path: '/cards/v1/payouts', count: 1 });
    assert.equal((await probe('cards')).status, 404);
    const payout = await t.call('cards', 'POST', '/cards/v1/payouts', { amount: 1000 });
    assert.equal(payout.status, 500);
  });

  test('rules are listed, removed one by one, or cleared; bad rules are 400', async () => {
    const rule = await addFault({ provider: 'cards', kind: 'latency', ms: 1000 });
    assert.ok((await t.admin('GET', '/admin/faults')).body.faults.some((f: { id: string }) => f.id === rule.id));
    assert.equal((await t.admin('DELETE', `/admin/faults/${rule.id}`)).status, 204);
    assert.equal((await t.admin('DELETE', `/admin/faults/${rule.id}`)).status, 404);
    await addFault({ provider: 'kyc', kind: 'reset' });
    assert.equal((await t.admin('DELETE', '/admin/faults?provider=kyc')).status, 204);
    assert.equal((await probe('kyc')).status, 404);
    for (const bad of [
      { provider: 'paypal', kind: 'error' },
      { provider: 'cards' },
      { provider: 'cards', kind: 'error', status: 404 },
      { provider: 'cards', kind: 'outage' },
      { provider: 'cards', kind: 'timeout', hold_ms: 600_000 },
      { provider: 'cards', kind: 'error', probability: 2 },
    ]) {
      const answer = await t.admin('POST', '/admin/faults', bad);
      assert.equal(answer.status, 400, JSON.stringify(bad));
      assert.equal(typeof answer.body.error.message, 'string');
    }
  });

  test('faults never touch the admin API', async () => {
    await addFault({ provider: 'bank', kind: 'reset' });
    assert.equal((await t.admin('GET', '/admin/clock')).status, 200);
    t.sim.admin.clearFaults('bank');
  });
});
