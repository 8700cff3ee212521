/**
 * Payment figures for `npm run bench`: creating a card deposit (idempotency key,
 * limits, gates, a real HTTP call to the sandbox card processor, the state change,
 * the ledger posting and the outbox events, all committed) beside the raw PostgreSQL
 * round trip of the same run; and polling a payment beside the hello-world server.
 */
import assert from 'node:assert/strict';
import type { Figure } from './run.ts';
import { load, withCpu } from './run.ts';

export async function benchPayments(options: {
  apiUrl: string;
  auth: Record<string, string>;
  helloRps: number;
  pgRps: number;
  /** The processes whose CPU a create is charged with, besides PostgreSQL and the load generator. */
  pids: Record<string, number>;
}): Promise<Figure[]> {
  const headers = { ...options.auth, 'content-type': 'application/json' };
  const configured = await fetch(`${options.apiUrl}/v1/operator/settings`, {
    method: 'PATCH',
    headers,
    body: JSON.stringify({
      required_gates: { terms: false, email: false, phone: false, kyc: 'none', geo: false },
      providers: { deposit: [{ provider: 'simcard', blocked_jurisdictions: [] }] },
      limits: { deposit: { USD: { min: '1.00', max: '100000.00' } } },
    }),
  });
  assert.equal(configured.status, 200, await configured.text());
  const body = JSON.stringify({
    user_id: '__USER__',
    kind: 'deposit',
    method: 'card',
    amount: '25.00',
    currency: 'USD',
    instrument: { card_number: '4242424242424242', exp_month: 12, exp_year: 2030, cvc: '123' },
  });
  // Polling first, on an otherwise idle system like its baseline: the create load leaves
  // background work (provider webhooks, event fan-out) that would be measured with it.
  const one = await fetch(`${options.apiUrl}/v1/payments`, {
    method: 'POST',
    headers,
    body: body.replace('__USER__', 'poller'),
  });
  const payment = (await one.json()) as { id: string };
  const poll = await load({ url: `${options.apiUrl}/v1/payments/${payment.id}`, headers: options.auth });
  const create = await withCpu(options.pids, () =>
    load({
      url: `${options.apiUrl}/v1/payments`,
      method: 'POST',
      headers,
      body,
      uniqueIdempotencyKey: true,
      users: 500,
      connections: 32,
    }),
  );
  return [
    {
      name: 'POST /v1/payments (card deposit, completed)',
      rps: create.rps,
      p99: create.p99,
      baseline: 'raw PostgreSQL SELECT 1',
      baselineRps: options.pgRps,
      target: '>= 1500/s, p99 <= 50 ms',
      cpuPerRequest: create.cpuPerRequest,
    },
    {
      name: 'GET /v1/payments/{id} (polling)',
      rps: poll.rps,
      p99: poll.p99,
      baseline: 'fastify hello-world',
      baselineRps: options.helloRps,
      target: '>= 0.40 of hello-world',
    },
  ];
}
