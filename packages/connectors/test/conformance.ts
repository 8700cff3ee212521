/**
 * One suite of behaviours every payment connector must show, run against the
 * simulator over real HTTP. A connector joins by describing itself as a
 * `ConformanceSubject`; the behaviours are the same for all.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import {
  ACTIONS,
  type Action,
  PAYMENT_METHODS,
  type PaymentMethod,
  type PaymentProvider,
  type ProviderNotice,
  type ProviderOutcome,
  type ProviderRequest,
  type WebhookSource,
} from '@rampart/core';
import { isRampartError, type RampartError } from '@rampart/errors';
import {
  DEFAULT_WEBHOOK_SECRETS,
  type FaultRuleInput,
  type Provider,
  signatureHeader,
} from '../../simulator/src/index.ts';
import { CircuitBreaker } from '../src/circuit-breaker.ts';
import { type Delivery, type People, type Sandbox, thrownBy } from './sandbox.ts';

export type Connector = PaymentProvider & WebhookSource;

type Combination = [kind: Action, method: PaymentMethod, currency: string, network: string | null];

export interface ConformanceSubject {
  /** The connector's id, e.g. `simcard`. */
  name: string;
  /** The simulator provider it talks to. */
  provider: Provider;
  /** Path prefix of the call that creates a pay-in at the provider (where faults are aimed). */
  payInPath: string;
  /** Path prefix of the call `lookup()` makes for a pay-in (where its faults are aimed). */
  lookupPath: string;
  /**
   * A fresh connector (own circuit breaker), optionally with a short timeout, a given
   * breaker or another base URL.
   */
  connector(options?: { timeoutMs?: number; breaker?: CircuitBreaker; baseUrl?: () => string }): Connector;
  /** A pay-in the provider accepts and that does not fail, with its own idempotency key. */
  payIn(): Promise<ProviderRequest>;
  /**
   * One request, with its own payment id, per kind of resource the connector creates at
   * the provider (payment, payout, ACH debit, order …), named for test titles. Each is
   * accepted by the provider (it may decline it: a declined card payment still exists).
   */
  creates: Record<string, () => Promise<ProviderRequest>>;
  supported: Combination[];
  unsupported: Combination[];
}

let sequence = 0;
/** Unique per run: the simulator and the database outlive a single test. */
export function uniqueId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${(++sequence).toString(36)}${randomBytes(3).toString('hex')}`;
}

/** A request in USD of a new user of `people`, as payments make one, under a new payment id. */
export async function providerRequest(
  people: People,
  spec: Pick<ProviderRequest, 'kind' | 'method' | 'amount' | 'instrument' | 'returnUrl'>,
): Promise<ProviderRequest> {
  const paymentId = uniqueId('pay');
  return {
    ...spec,
    paymentId,
    operatorId: people.operatorId,
    currency: 'USD',
    network: null,
    user: await people.user(uniqueId('user')),
    idempotencyKey: paymentId,
  };
}

/** Sends a request as payments do: withdrawals and sells go out, the rest come in. */
function send(connector: Connector, request: ProviderRequest): Promise<ProviderOutcome> {
  return request.kind === 'withdrawal' || request.kind === 'sell'
    ? connector.payOut(request)
    : connector.payIn(request);
}

async function refusal(work: Promise<unknown>): Promise<RampartError> {
  try {
    await work;
  } catch (error) {
    if (isRampartError(error)) return error;
    throw error;
  }
  assert.fail('expected the call to be refused with a RampartError');
}

/** Faults and what each must become: a distinct, retryable catalog error. */
const FAULTS: { name: string; rule: Omit<FaultRuleInput, 'provider'>; code: string; timeout?: boolean }[] = [
  { name: 'a 500 answer', rule: { kind: 'error', status: 500 }, code: 'upstream_error' },
  { name: 'a 503 answer', rule: { kind: 'error', status: 503 }, code: 'upstream_error' },
  {
    name: 'a truncated JSON body',
    rule: { kind: 'garbage', body: 'truncated_json' },
    code: 'upstream_invalid_response',
  },
  { name: 'an HTML error page', rule: { kind: 'garbage', body: 'html' }, code: 'upstream_invalid_response' },
  { name: 'a connection reset', rule: { kind: 'reset' }, code: 'upstream_unavailable' },
  {
    name: 'an outage that resets connections',
    rule: { kind: 'outage', duration_ms: 60_000, mode: 'reset' },
    code: 'upstream_unavailable',
  },
  // An outage that answers 503 is an error answer from a reachable provider.
  { name: 'an outage that answers 503', rule: { kind: 'outage', duration_ms: 60_000 }, code: 'upstream_error' },
  { name: 'no answer in time', rule: { kind: 'timeout', hold_ms: 5_000 }, code: 'upstream_timeout', timeout: true },
];

export function conformance(sandbox: () => Sandbox, subject: ConformanceSubject): void {
  const { name, provider } = subject;
  const requestsFor = (key: string) => sandbox().sim.admin.requests({ provider, idempotency_key: key });

  /** Every webhook delivered for `providerRef`, verified and mapped, in delivery order. */
  async function noticesFor(
    connector: Connector,
    providerRef: string,
  ): Promise<{ delivery: Delivery; notice: ProviderNotice }[]> {
    await sandbox().webhooksDelivered();
    return sandbox()
      .deliveries(provider)
      .map((delivery) => ({ delivery, notice: connector.readWebhook(delivery.headers, delivery.raw) }))
      .filter(({ notice }) => notice.subject.type === 'payment' && notice.subject.providerRef === providerRef);
  }

  async function paidIn(connector: Connector): Promise<{ request: ProviderRequest; outcome: ProviderOutcome }> {
    const request = await subject.payIn();
    return { request, outcome: await connector.payIn(request) };
  }

  describe(`${name} conformance`, () => {
    test('supports() takes its own pay-in, the combinations it declares, and refuses the rest', async () => {
      const connector = subject.connector();
      const request = await subject.payIn();
      assert.equal(connector.supports(request.kind as Action, request.method, request.currency, request.network), true);
      for (const combination of subject.supported)
        assert.equal(connector.supports(...combination), true, combination.join(' '));
      for (const combination of subject.unsupported)
        assert.equal(connector.supports(...combination), false, combination.join(' '));
      for (const kind of ACTIONS) {
        for (const method of PAYMENT_METHODS) {
          assert.equal(
            connector.supports(kind, method, 'XXX', null),
            false,
            `${kind} ${method} of an unknown currency`,
          );
          // The answer depends on its arguments alone.
          for (const [, , currency, network] of subject.supported) {
            assert.equal(
              connector.supports(kind, method, currency, network),
              connector.supports(kind, method, currency, network),
            );
          }
        }
      }
    });

    test('a pay-in the provider accepts reaches a non-failed outcome with the provider id', async () => {
      const { outcome } = await paidIn(subject.connector());
      assert.notEqual(outcome.status, 'failed', JSON.stringify(outcome));
      assert.equal(outcome.failure, undefined);
      assert.ok(outcome.providerRef.length > 0);
    });

    test('the same idempotency key twice creates one provider resource and answers the same outcome', async () => {
      const connector = subject.connector();
      const request = await subject.payIn();
      const first = await connector.payIn(request);
      const second = await connector.payIn(request);
      assert.deepEqual(second, first);
      const log = requestsFor(request.idempotencyKey);
      const created = log.map((entry) => entry.created_id).filter((id) => id !== null);
      assert.deepEqual(created, [first.providerRef], 'exactly one resource, the one answered');
      assert.equal(log.length, 2);
      assert.equal(log[1]!.replayed, true);
    });

    test('cancel() answers the provider’s view after asking: failed if it cancelled, else as fetch() says', async () => {
      const connector = subject.connector();
      const { request, outcome } = await paidIn(connector);
      const after = await connector.cancel(outcome.providerRef, request.kind, request.method);
      assert.equal(after.providerRef, outcome.providerRef);
      const view = await connector.fetch(outcome.providerRef, request.kind, request.method);
      assert.equal(after.status, view.status, 'the answer is the provider’s own view');
      if (after.status !== 'failed') assert.equal(after.status, outcome.status, 'refused: nothing changed');
    });

    for (const fault of FAULTS) {
      test(`${fault.name} becomes ${fault.code}, retryable, with nothing created`, async () => {
        const rule = sandbox().sim.admin.addFault({ provider, path: subject.payInPath, ...fault.rule });
        try {
          const connector = subject.connector(fault.timeout ? { timeoutMs: 250 } : {});
          const request = await subject.payIn();
          const error = await refusal(connector.payIn(request));
          assert.equal(error.code, fault.code, error.message);
          assert.equal(error.entry.retryable, true);
          assert.equal(error.details['provider'], name);
          assert.ok(requestsFor(request.idempotencyKey).every((entry) => entry.created_id === null));
        } finally {
          sandbox().sim.admin.removeFault(rule.id);
        }
      });
    }

    test('after a fault that strikes once the provider acted, a retry with the same key gets that resource: no second one', async () => {
      const rule = sandbox().sim.admin.addFault({
        provider,
        path: subject.payInPath,
        kind: 'garbage',
        phase: 'after',
        count: 1,
      });
      try {
        const connector = subject.connector();
        const request = await subject.payIn();
        const error = await refusal(connector.payIn(request));
        assert.equal(error.code, 'upstream_invalid_response');
        const outcome = await connector.payIn(request);
        assert.notEqual(outcome.status, 'failed');
        const created = requestsFor(request.idempotencyKey)
          .map((entry) => entry.created_id)
          .filter((id) => id !== null);
        assert.deepEqual(created, [outcome.providerRef]);
      } finally {
        sandbox().sim.admin.removeFault(rule.id);
      }
    });

    test('a provider that keeps failing is not called while its circuit is open', async () => {
      const rule = sandbox().sim.admin.addFault({ provider, path: subject.payInPath, kind: 'error', status: 500 });
      try {
        const connector = subject.connector({ breaker: new CircuitBreaker({ threshold: 2, openMs: 60_000 }) });
        assert.equal((await refusal(connector.payIn(await subject.payIn()))).code, 'upstream_error');
        assert.equal((await refusal(connector.payIn(await subject.payIn()))).code, 'upstream_error');
        const calls = sandbox().sim.admin.requests({ provider }).length;
        const open = await refusal(connector.payIn(await subject.payIn()));
        assert.equal(open.code, 'upstream_unavailable');
        assert.equal(open.details['reason'], 'circuit_open');
        assert.equal(sandbox().sim.admin.requests({ provider }).length, calls, 'no request left while open');
      } finally {
        sandbox().sim.admin.removeFault(rule.id);
      }
    });

    describe('lookup() by the payment id, for a create call whose answer was lost', () => {
      for (const [resource, create] of Object.entries(subject.creates)) {
        test(`${resource}: after the create, lookup() answers what fetch() by the provider id does`, async () => {
          const connector = subject.connector();
          const request = await create();
          const created = await send(connector, request);
          const fetched = await connector.fetch(created.providerRef, request.kind, request.method);
          const found = await connector.lookup(request.paymentId, request.kind, request.method);
          assert.deepEqual(found, fetched);
          assert.equal(found?.providerRef, created.providerRef, 'the resource the create call made');
        });

        test(`${resource}: lookup() of a payment id that was never sent is null`, async () => {
          const connector = subject.connector();
          // Another payment of the same kind exists: the lookup must not find that one.
          await send(connector, await create());
          const never = await create();
          assert.equal(await connector.lookup(never.paymentId, never.kind, never.method), null);
          const calls = sandbox()
            .sim.admin.requests({ provider })
            .filter((entry) => entry.path.includes(never.paymentId));
          assert.deepEqual(
            calls.map((entry) => entry.method),
            ['GET'],
            'the provider was asked, once',
          );
        });
      }

      test('a 404 that is not "no such payment" (an unknown route) rejects: never null', async () => {
        const request = await subject.payIn();
        await send(subject.connector(), request);
        // The provider's own "unknown route" answer, as from a wrong base URL or an older API.
        const misrouted = subject.connector({ baseUrl: () => `${sandbox().sim.url}/${provider}/v0` });
        await refusal(misrouted.lookup(request.paymentId, request.kind, request.method));
      });

      for (const fault of FAULTS) {
        test(`${fault.name} becomes ${fault.code}, retryable: never null`, async () => {
          const request = await subject.payIn();
          await send(subject.connector(), request);
          const rule = sandbox().sim.admin.addFault({ provider, path: subject.lookupPath, ...fault.rule });
          try {
            const connector = subject.connector(fault.timeout ? { timeoutMs: 250 } : {});
            const error = await refusal(connector.lookup(request.paymentId, request.kind, request.method));
            assert.equal(error.code, fault.code, error.message);
            assert.equal(error.entry.retryable, true);
            assert.equal(error.details['provider'], name);
          } finally {
            sandbox().sim.admin.removeFault(rule.id);
          }
        });
      }
    });

    describe('webhooks', () => {
      let connector: Connector;
      let request: ProviderRequest;
      let outcome: ProviderOutcome;
      let notices: { delivery: Delivery; notice: ProviderNotice }[];
      let genuine: Delivery;
      let lastNotice: ProviderNotice;

      before(async () => {
        connector = subject.connector();
        ({ request, outcome } = await paidIn(connector));
        notices = await noticesFor(connector, outcome.providerRef);
        assert.ok(notices.length > 0, 'the provider sent at least one webhook for the pay-in');
        ({ delivery: genuine, notice: lastNotice } = notices.at(-1)!);
      });

      test('a validly signed webhook maps to a notice whose providerRef is the pay-in', () => {
        for (const { delivery, notice } of notices) {
          assert.equal(notice.subject.type, 'payment');
          assert.ok(notice.eventId.length > 0);
          assert.ok(delivery.raw.includes(`"${notice.eventId}"`), 'the event id is the one in the body');
        }
      });

      test('a tampered signature is invalid_token', () => {
        const header = String(genuine.headers['x-sim-signature']);
        const flipped = header.replace(/v1=([0-9a-f])/, (_, c: string) => `v1=${c === '0' ? '1' : '0'}`);
        assert.notEqual(flipped, header);
        const error = thrownBy(() =>
          connector.readWebhook({ ...genuine.headers, 'x-sim-signature': flipped }, genuine.raw),
        );
        assert.equal(error.code, 'invalid_token');
      });

      test('a body changed after signing is invalid_token', () => {
        const error = thrownBy(() => connector.readWebhook(genuine.headers, `${genuine.raw} `));
        assert.equal(error.code, 'invalid_token');
      });

      test('a correctly signed but stale webhook is invalid_token', () => {
        const stale = Math.floor(Date.now() / 1000) - 3600;
        const header = signatureHeader(DEFAULT_WEBHOOK_SECRETS[provider], stale, genuine.raw);
        const error = thrownBy(() =>
          connector.readWebhook({ ...genuine.headers, 'x-sim-signature': header }, genuine.raw),
        );
        assert.equal(error.code, 'invalid_token');
        assert.equal(error.details['reason'], 'timestamp_outside_tolerance');
      });

      test('a webhook without a signature is missing_token', () => {
        const { 'x-sim-signature': _, ...unsigned } = genuine.headers;
        assert.equal(thrownBy(() => connector.readWebhook(unsigned, genuine.raw)).code, 'missing_token');
      });

      test('fetch() answers the status the latest webhook reported', async () => {
        assert.equal(lastNotice.subject.type, 'payment');
        if (lastNotice.subject.type !== 'payment') return;
        const fetched = await connector.fetch(outcome.providerRef, request.kind, request.method);
        assert.equal(fetched.providerRef, lastNotice.subject.providerRef);
        assert.equal(fetched.status, lastNotice.subject.outcome.status);
        assert.deepEqual(fetched.failure, lastNotice.subject.outcome.failure);
      });
    });
  });
}
