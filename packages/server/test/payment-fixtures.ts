/** Steps shared by payment tests: an operator configured for payments and helpers to drive them. */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after } from 'node:test';
import type { Clock } from '@rampart/core';
import { startTestApp, type TestApp } from './harness.ts';
import { eventually } from './webhooks-fixtures.ts';

export const CARD_OK = { card_number: '4242424242424242', exp_month: 12, exp_year: 2030, cvc: '123' };
/** A card whose issuer asks for 3-D Secure: the payment waits, pending, for the challenge. */
export const CARD_3DS = { ...CARD_OK, card_number: '4000000000003220' };

/** Passes a pending card payment's 3-D Secure challenge on the processor's page, as its user would. */
export function passChallenge(payment: { next_action: { url: string } }): Promise<Response> {
  return fetch(payment.next_action.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'result=pass',
    redirect: 'manual',
  });
}
/** BIP32 test vector 1, m/0'/1/2'/2 (public): a real extended public key for deposit addresses, never a private one. */
export const WALLET_XPUB =
  'xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5';

/** A bank account the sandbox bank pays out to. */
export const BANK_ACCOUNT = {
  account_holder_name: 'Ada Lovelace',
  account_number: '000123456789',
  routing_number: '021000021',
};

/** An account whose ACH debit settles, then comes back returned R01 (insufficient funds) days later. */
export const ACH_RETURNED_R01 = { ...BANK_ACCOUNT, account_number: 'R01000000001' };

/** Gates off (other tests cover them) so payment rules are what is exercised; in the mode of `auth`'s key. */
export async function openForPayments(t: TestApp, extra: Record<string, unknown> = {}, auth = t.auth) {
  const response = await t.app.inject({
    method: 'PATCH',
    url: '/v1/operator/settings',
    headers: auth,
    payload: {
      required_gates: { terms: false, email: false, phone: false, kyc: 'none', geo: false },
      providers: {
        deposit: [
          { provider: 'simcard', blocked_jurisdictions: [] },
          { provider: 'simbank', blocked_jurisdictions: [] },
        ],
        withdrawal: [
          { provider: 'simbank', blocked_jurisdictions: [] },
          { provider: 'simcard', blocked_jurisdictions: [] },
        ],
      },
      ...extra,
    },
  });
  assert.equal(response.statusCode, 200, response.body);
}

export function createPayment(t: TestApp, payload: Record<string, unknown>, headers: Record<string, string> = {}) {
  return t.app.inject({
    method: 'POST',
    url: '/v1/payments',
    headers: { ...t.auth, ...headers },
    payload: { user_id: 'payer', kind: 'deposit', method: 'card', currency: 'USD', instrument: CARD_OK, ...payload },
  });
}

/** Polls the payment until its status is one of `statuses` (webhooks arrive asynchronously). */
export async function waitForStatus(t: TestApp, id: string, statuses: string[], timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const payment = (await t.app.inject({ method: 'GET', url: `/v1/payments/${id}`, headers: t.auth })).json();
    if (statuses.includes(payment.status)) return payment;
    if (Date.now() > deadline) assert.fail(`payment ${id} is ${payment.status}, expected ${statuses.join('|')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function userAccount(t: TestApp, userId: string, currency: string) {
  const { rows } = await t.db.query(
    "SELECT posted, pending_debits FROM ledger_accounts WHERE operator_id = $1 AND kind = 'user' AND owner_ref = $2 AND currency = $3",
    [t.operatorId, userId, currency],
  );
  return rows[0] as { posted: string; pending_debits: string } | undefined;
}

/** The user's posted balance in the ledger, in minor units (0 when there is no account yet). */
export async function balance(t: TestApp, userId: string, currency = 'USD'): Promise<bigint> {
  return BigInt((await userAccount(t, userId, currency))?.posted ?? 0);
}

/** What withdrawals in progress hold of the user's balance, in minor units. */
export async function held(t: TestApp, userId: string, currency = 'USD'): Promise<bigint> {
  return BigInt((await userAccount(t, userId, currency))?.pending_debits ?? 0);
}

/** The user's balance in `currency` as `GET /v1/users/{id}/balances` shows it (undefined: none yet). */
export async function balanceShown(
  t: TestApp,
  userId: string,
  currency: string,
): Promise<Record<string, string | null> | undefined> {
  const response = await t.app.inject({ method: 'GET', url: `/v1/users/${userId}/balances`, headers: t.auth });
  assert.equal(response.statusCode, 200, response.body);
  return response.json().data.find((b: { currency: string }) => b.currency === currency);
}

/** A completed card deposit, so the user has money to withdraw. */
export async function fund(t: TestApp, userId: string, amount: string) {
  const response = await createPayment(t, { user_id: userId, amount });
  assert.equal(response.statusCode, 201, response.body);
  assert.equal(response.json().status, 'completed');
}

/**
 * A test app whose sandbox chain pays a watched address only after a simulated minute
 * (nothing arrives until the test moves the clock or sends it), open for crypto deposits
 * and withdrawals through the ramp on TRC20 by default; `extra` settings on top.
 */
export async function startCryptoApp(extra: Record<string, unknown> = {}): Promise<TestApp> {
  const t = await startTestApp({ sandbox: { settleDelayMs: 60_000 } });
  await openForPayments(t, {
    crypto_xpubs: { TRC20: WALLET_XPUB },
    providers: {
      deposit: [{ provider: 'simcrypto', blocked_jurisdictions: [] }],
      withdrawal: [{ provider: 'simcrypto', blocked_jurisdictions: [] }],
    },
    ...extra,
  });
  return t;
}

/** What the operator's fees accounts hold in `currency`, in minor units. */
export async function feesEarned(t: TestApp, currency = 'USD'): Promise<bigint> {
  const { rows } = await t.db.query<{ total: string }>(
    "SELECT coalesce(sum(posted), 0)::text AS total FROM ledger_accounts WHERE operator_id = $1 AND kind = 'fees' AND currency = $2",
    [t.operatorId, currency],
  );
  return BigInt(rows[0]!.total);
}

/** A bank withdrawal of `amount`, waited for until its bank has paid it out. */
export async function paidOut(t: TestApp, userId: string, amount: string) {
  const response = await createPayment(t, {
    user_id: userId,
    kind: 'withdrawal',
    method: 'bank',
    amount,
    instrument: BANK_ACCOUNT,
  });
  assert.equal(response.statusCode, 201, response.body);
  return waitForStatus(t, response.json().id, ['completed']);
}

/** Moves the sandbox providers' clock (settlements, ACH returns, disputes come due). */
export async function advanceSimulator(t: TestApp, seconds: number) {
  const response = await fetch(`${t.simulator!.url}/admin/clock/advance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ seconds }),
  });
  assert.ok(response.ok, await response.text());
}

/** Real time plus what the test skipped: reconciliation sees payments age, webhook signatures stay fresh. */
export function travellingClock(): Clock & { advance(seconds: number): void } {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    advance: (seconds) => {
      offset += seconds * 1000;
    },
  };
}

/** How many things a simulated provider (`cards`, `bank`…) made under this payment's id (Rampart's idempotency key). */
export async function madeAt(t: TestApp, provider: string, paymentId: string): Promise<number> {
  const log = await fetch(`${t.simulator!.url}/admin/requests?provider=${provider}&idempotency_key=${paymentId}`);
  return ((await log.json()) as { requests: { created_id: string | null }[] }).requests.filter((r) => r.created_id)
    .length;
}

/** Adds a fault rule to the test app's simulator (see the simulator's README, "Fault injection"). */
export async function simulatorFault(t: TestApp, rule: Record<string, unknown>) {
  const response = await fetch(`${t.simulator!.url}/admin/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(rule),
  });
  assert.equal(response.status, 201, await response.text());
}

/**
 * A webhook of the card processor about a payment (or, with a payout status, a payout)
 * Rampart sent it, by default `payment.succeeded`, and a fresh signature for it: what
 * the processor would send, or what a processor contradicting itself would.
 */
export async function cardWebhook(
  t: TestApp,
  paymentId: string,
  eventId: string,
  status: 'succeeded' | 'failed' | 'processing' | 'requires_action' | 'canceled' | 'paid' = 'succeeded',
) {
  const requests = await fetch(`${t.simulator!.url}/admin/requests?provider=cards&idempotency_key=${paymentId}`);
  const id = ((await requests.json()) as { requests: { created_id: string }[] }).requests[0]!.created_id;
  const failed = status === 'failed';
  const payout = id.startsWith('po_');
  const body = JSON.stringify({
    id: eventId,
    object: 'event',
    type: `${payout ? 'payout' : 'payment'}.${status}`,
    data: {
      object: payout
        ? { id, object: 'payout', status, failure_code: failed ? 'could_not_process' : null }
        : {
            id,
            object: 'payment',
            status,
            metadata: { rampart_payment_id: paymentId },
            next_action: null,
            failure_code: failed ? 'card_declined' : null,
            decline_code: failed ? 'generic_decline' : null,
            failure_message: failed ? 'Your card was declined.' : null,
          },
    },
  });
  return signedCardEvent(t, body);
}

/** Sends the card processor's webhook about `paymentId` and waits until Rampart has applied it. */
export async function processorSays(
  t: TestApp,
  paymentId: string,
  eventId: string,
  status: Parameters<typeof cardWebhook>[3],
) {
  const { deliver } = await cardWebhook(t, paymentId, eventId, status);
  assert.equal((await deliver()).received, true);
  await eventually(
    `${eventId} applied`,
    async () =>
      (await t.db.query('SELECT processed_at IS NOT NULL AS done FROM provider_events WHERE event_id = $1', [eventId]))
        .rows[0],
    (row) => row?.done === true,
  );
}

/** The sandbox's public webhook secrets, by the connector receiving them. */
const SANDBOX_SECRETS = { simcard: 'whsec_sim_cards', simcrypto: 'whsec_sim_crypto' } as const;

/** A sandbox provider's event `body`, signed as the simulator signs (afresh on each send). */
export function signedProviderEvent(t: TestApp, connector: keyof typeof SANDBOX_SECRETS, body: string) {
  const sign = () => {
    const ts = Math.floor(Date.now() / 1000);
    return `t=${ts},v1=${createHmac('sha256', SANDBOX_SECRETS[connector]).update(`${ts}.${body}`).digest('hex')}`;
  };
  /** Sends it to Rampart, freshly signed; Rampart must answer 200. */
  const deliver = async (): Promise<{ received: boolean; duplicate: boolean }> => {
    const response = await fetch(`${t.url}/v1/provider-webhooks/${connector}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sim-signature': sign() },
      body,
    });
    assert.equal(response.status, 200);
    return (await response.json()) as { received: boolean; duplicate: boolean };
  };
  return { body, sign, deliver };
}

/** A card-processor event `body`, signed as the processor signs. */
export function signedCardEvent(t: TestApp, body: string) {
  return signedProviderEvent(t, 'simcard', body);
}

/** Sessions of the test's database waiting for a lock (to see a forced interleaving in place). */
export async function waitingForLocks(t: TestApp): Promise<number> {
  const { rows } = await t.db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
  );
  return rows[0]!.n;
}

/** The operator's approval endpoint: answers with whatever the test sets, and keeps what it was sent. */
export async function approvalEndpoint(): Promise<{
  url: string;
  answer: { status: number; body: unknown };
  /** While set, answers wait for it: the operator still deciding. */
  deciding: Promise<void> | undefined;
  seen: { headers: Record<string, unknown>; body: string }[];
}> {
  const state = {
    answer: { status: 200, body: { approved: true } as unknown },
    deciding: undefined as Promise<void> | undefined,
    seen: [] as { headers: Record<string, unknown>; body: string }[],
  };
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (c: Buffer) => (body += c));
    request.on('end', async () => {
      state.seen.push({ headers: request.headers, body });
      await state.deciding;
      response.writeHead(state.answer.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(state.answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}/approve`,
    get answer() {
      return state.answer;
    },
    set answer(value) {
      state.answer = value;
    },
    get deciding() {
      return state.deciding;
    },
    set deciding(value) {
      state.deciding = value;
    },
    seen: state.seen,
  };
}

/** The card processor's id of a Rampart payment (the create it got carried Rampart's id as its key). */
export async function processorIdOf(t: TestApp, paymentId: string, provider = 'cards'): Promise<string> {
  const requests = await fetch(`${t.simulator!.url}/admin/requests?provider=${provider}&idempotency_key=${paymentId}`);
  return ((await requests.json()) as { requests: { created_id: string }[] }).requests[0]!.created_id;
}

/** A withdrawal of `amount` to a bank account (by default the one the sandbox bank pays out to). */
export function withdraw(
  t: TestApp,
  userId: string,
  amount: string,
  {
    instrument = BANK_ACCOUNT,
    headers = {},
  }: { instrument?: Record<string, unknown>; headers?: Record<string, string> } = {},
) {
  return createPayment(t, { user_id: userId, kind: 'withdrawal', method: 'bank', amount, instrument }, headers);
}

/** The user approves a pay-by-bank payment on the (sandbox) bank's page. */
export function approveAtBank(url: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=ada&password=pw&decision=approve',
    redirect: 'manual',
  });
}

/** The sandbox bank settles a payment a minute (its own clock) after the user approves it. */
export const BANK_SETTLE_SECONDS = 60;

/** A pay-by-bank deposit its user approves at the bank, completed once the bank settles it. */
export async function bankDeposit(t: TestApp, userId: string, amount: string): Promise<string> {
  const response = await createPayment(t, { user_id: userId, method: 'bank', amount, instrument: {} });
  assert.equal(response.statusCode, 201, response.body);
  const pending = response.json();
  assert.deepEqual([pending.status, pending.provider], ['pending', 'simbank']);
  assert.equal((await approveAtBank(pending.next_action.url)).status, 303);
  await waitForStatus(t, pending.id, ['processing']);
  await advanceSimulator(t, BANK_SETTLE_SECONDS);
  await waitForStatus(t, pending.id, ['completed']);
  return pending.id;
}

/** A sandbox bank API call with any key, as the bank's dashboard (or a test) would make it. */
export async function atBank(t: TestApp, method: string, path: string, body?: unknown) {
  const response = await fetch(`${t.simulator!.url}${path}`, {
    method,
    headers: { 'x-bank-api-key': 'sk_dashboard', 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Asks the simulated card network to open (of `amount`, by default all of it), or decide, a dispute of the payment. */
export async function cardNetwork(
  t: TestApp,
  paymentId: string,
  action: 'open' | 'won' | 'lost',
  reason = 'fraudulent',
  amount?: number,
) {
  const id = await processorIdOf(t, paymentId);
  const path = action === 'open' ? 'dispute' : 'dispute/close';
  const response = await fetch(`${t.simulator!.url}/admin/cards/payments/${id}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(action === 'open' ? { reason, ...(amount ? { amount } : {}) } : { status: action }),
  });
  assert.ok(response.ok, await response.text());
}

/** Waits until the payment's dispute, as `GET /v1/payments/{id}` shows it, has `status`. */
export function disputeOf(t: TestApp, id: string, status: string) {
  return eventually(
    `dispute ${status}`,
    async () => (await t.app.inject({ method: 'GET', url: `/v1/payments/${id}`, headers: t.auth })).json(),
    (payment) => payment.dispute?.status === status,
  );
}
