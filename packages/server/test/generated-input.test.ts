/**
 * Bad input never gets a 5xx. Every route of the partner and widget APIs (as the OpenAPI
 * document lists them) is sent generated input: writes get random JSON and valid bodies
 * with one field replaced by anything or removed, path ids and Idempotency-Keys; reads
 * get path ids and query strings. Every answer is below 500, and every error is the
 * catalog envelope with a catalog code.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { isErrorCode } from '@rampart/errors';
import fc from 'fast-check';
import { startTestApp } from './harness.ts';
import { BANK_ACCOUNT, CARD_OK, openForPayments } from './payment-fixtures.ts';
import { widgetSession } from './widget-fixtures.ts';

type Json = unknown;

const PAYMENT = {
  user_id: 'fuzz-user',
  kind: 'deposit',
  method: 'card',
  amount: '25.00',
  currency: 'USD',
  instrument: CARD_OK,
  metadata: { order: 'A-1' },
};

/** Valid bodies to mutate, by route (method and OpenAPI path). */
const VALID: Record<string, Record<string, Json>> = {
  'POST /v1/payments': PAYMENT,
  'POST /v1/sessions': { user_id: 'fuzz-user', operation: 'deposit', currency: 'USD', amount: '25.00' },
  'PATCH /v1/operator/settings': {
    limits: { deposit: { USD: { min: '1.00', max: '5000.00' } } },
    required_gates: { terms: false, email: false, phone: false, kyc: 'none', geo: false },
  },
  'PUT /v1/users/{id}': { email: 'ada@example.com', phone: '+14155550100', country: 'US', state: 'CA' },
  'POST /v1/users/{id}/balance_adjustments': { amount: '5.00', currency: 'USD', reference: 'fuzz-adj' },
  'POST /v1/webhook_endpoints': { url: 'https://hooks.example.com/rampart' },
  'POST /v1/keys': { description: 'fuzz' },
  'POST /widget/v1/payments': { method: 'card', amount: '25.00', currency: 'USD', instrument: CARD_OK },
  'POST /widget/v1/terms/accept': { version: '1' },
  'POST /widget/v1/phone/verify': { code: '123456' },
};

/** A body derived from a valid one: a field replaced by anything, a field removed, or the whole replaced. */
function bodies(route: string): fc.Arbitrary<Json> {
  const valid = VALID[route] ?? {};
  const fields = Object.keys(valid);
  const anything = fc.anything({ maxDepth: 3, withBigInt: false, withBoxedValues: false });
  const options: fc.Arbitrary<Json>[] = [anything, fc.dictionary(fc.string({ maxLength: 12 }), anything)];
  if (fields.length > 0) {
    const field = fc.constantFrom(...fields);
    options.push(
      fc.tuple(field, anything).map(([name, value]) => ({ ...valid, [name]: value })),
      field.map((name) => Object.fromEntries(Object.entries(valid).filter(([key]) => key !== name))),
      fc.tuple(field, fc.string({ maxLength: 40 })).map(([name, value]) => ({ ...valid, [name]: value })),
    );
  }
  return fc.oneof(...options);
}

describe('generated bad input to every route', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);
  const document = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
    paths: Record<string, Record<string, unknown>>;
  };
  const routesFor = (methods: string[]) =>
    Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/v1/') || path.startsWith('/widget/v1/'))
      .flatMap(([path, operations]) =>
        Object.keys(operations)
          .filter((method) => methods.includes(method))
          .map((method) => `${method.toUpperCase()} ${path}`),
      )
      .sort();
  const routes = routesFor(['post', 'put', 'patch', 'delete']);
  const pay = async (payload: Record<string, unknown>) => {
    const response = await t.app.inject({ method: 'POST', url: '/v1/payments', headers: t.auth, payload });
    assert.equal(response.statusCode, 201, response.body);
    return response.json() as { id: string };
  };
  // A real payment and user, so that some generated paths reach existing resources.
  const made = await pay(PAYMENT);
  // A bank payout (of a user the generated requests never name), for the bank's webhooks.
  await pay({ ...PAYMENT, user_id: 'payout-user' });
  await pay({
    user_id: 'payout-user',
    kind: 'withdrawal',
    method: 'bank',
    amount: '5.00',
    currency: 'USD',
    instrument: BANK_ACCOUNT,
  });
  // The widget API speaks for one session of one user, with its widget token.
  const { widget } = await widgetSession(t, { user_id: 'fuzz-user' });
  const ids = ['fuzz-user', made.id, 'pay_00000000000000000000000000', '..', '%00', 'x'.repeat(300)];

  test('the write routes are found in the OpenAPI document', () => {
    for (const route of Object.keys(VALID)) assert.ok(routes.includes(route), `${route} in ${routes.join(', ')}`);
  });

  let succeeded = 0;
  /** The contract every answer keeps, whatever was sent. */
  function expectContract(
    response: { statusCode: number; headers: Record<string, unknown>; body: string },
    sent: string,
  ) {
    const where = `${sent} → ${response.statusCode} ${response.body.slice(0, 300)}`;
    assert.ok(response.statusCode < 500, where);
    assert.ok(response.headers['x-request-id'], where);
    if (response.statusCode < 300) succeeded++;
    if (response.statusCode >= 400) {
      const error = (JSON.parse(response.body) as { error?: { code?: unknown; message?: unknown } }).error;
      assert.ok(error && isErrorCode(error.code) && typeof error.message === 'string', where);
    }
  }
  const urlOf = (path: string, id: string) => path.replace(/\{[^}]+\}/g, () => encodeURIComponent(id));
  const authFor = (path: string) => (path.startsWith('/widget/') ? widget : t.auth);
  const pathIds = fc.oneof(fc.constantFrom(...ids), fc.string({ minLength: 1, maxLength: 40 }));

  test('no generated write gets a 5xx; every error is a catalog error', { timeout: 120_000 }, async () => {
    const request = fc.record({
      route: fc.constantFrom(...routes),
      id: pathIds,
      key: fc.option(fc.oneof(fc.uuid(), fc.string({ maxLength: 300 })), { nil: undefined }),
    });
    const withBody = request.chain((r) => bodies(r.route).map((body) => ({ ...r, body })));
    succeeded = 0;
    await fc.assert(
      fc.asyncProperty(withBody, async ({ route, body, id, key }) => {
        const [method, path] = route.split(' ') as [string, string];
        const url = urlOf(path, id);
        const response = await t.app.inject({
          method: method as 'POST',
          url,
          headers: {
            ...authFor(path),
            'content-type': 'application/json',
            ...(key === undefined ? {} : { 'idempotency-key': key.replace(/[^\t\x20-\x7e]/g, '') }),
          },
          payload: JSON.stringify(body) ?? 'null',
        });
        expectContract(response, `${method} ${url} ${JSON.stringify(body)?.slice(0, 300)}`);
      }),
      { numRuns: 2000 },
    );
    assert.ok(succeeded > 0, 'some generated requests were valid and reached their handlers');
    const still = await t.app.inject({ method: 'GET', url: '/v1/operator', headers: t.auth });
    assert.equal(still.statusCode, 200, 'the fuzzing key was never locked out');
  });

  test('signed garbage from a provider is refused or recorded, never a 5xx, and moves no money wrongly', async () => {
    const templates: Record<string, unknown>[] = [];
    for (const provider of ['cards', 'bank']) {
      const { webhooks } = (await (await fetch(`${t.simulator!.url}/admin/webhooks?provider=${provider}`)).json()) as {
        webhooks: { payload: Record<string, unknown> }[];
      };
      templates.push(...webhooks.map((w) => w.payload));
    }
    assert.ok(templates.length >= 2, 'webhooks of both processors to start from');
    const anything = fc.anything({ maxDepth: 2, withBigInt: false, withBoxedValues: false });
    const mutated = fc
      .tuple(fc.constantFrom(...templates), fc.array(fc.tuple(fc.nat(), anything), { minLength: 1, maxLength: 3 }))
      .map(([template, changes]) => {
        const copy = structuredClone(template) as Record<string, unknown>;
        for (const [pick, value] of changes) {
          // Walk to a random nested object and replace (or drop) one of its fields.
          let node: Record<string, unknown> = copy;
          for (let depth = 0; depth < 3; depth++) {
            const keys = Object.keys(node);
            const key = keys[(pick + depth) % keys.length];
            const child = key === undefined ? undefined : node[key];
            if (child === null || typeof child !== 'object' || Array.isArray(child) || pick % (depth + 2) === 0) {
              if (key !== undefined) {
                if (value === undefined) delete node[key];
                else node[key] = value;
              }
              break;
            }
            node = child as Record<string, unknown>;
          }
        }
        return JSON.stringify(copy);
      });
    const body = fc.oneof(
      mutated,
      anything.map((value) => JSON.stringify(value) ?? 'null'),
      fc.string(),
    );
    const provider = fc.constantFrom(
      ['simcard', 'cards'],
      ['simbank', 'bank'],
      ['simcrypto', 'crypto'],
      ['simkyc', 'kyc'],
    );
    succeeded = 0;
    await fc.assert(
      fc.asyncProperty(provider, body, async ([route, secretName], raw) => {
        const timestamp = Math.floor(Date.now() / 1000);
        const signature = createHmac('sha256', `whsec_sim_${secretName}`).update(`${timestamp}.${raw}`).digest('hex');
        const response = await t.app.inject({
          method: 'POST',
          url: `/v1/provider-webhooks/${route}`,
          headers: { 'content-type': 'application/json', 'x-sim-signature': `t=${timestamp},v1=${signature}` },
          payload: raw,
        });
        expectContract(response, `POST /v1/provider-webhooks/${route} ${raw.slice(0, 300)}`);
      }),
      { numRuns: 2000 },
    );
    assert.ok(succeeded > 0, 'some mutated events were still well-formed and recorded');
    // Whatever was recorded is applied (or set aside with its error) without the job failing.
    await t.app.jobs.find((job) => job.name === 'process-provider-events')!.run();
    const { rows } = await t.db.query<{ currency: string; total: string }>(
      'SELECT currency, sum(posted)::text AS total FROM ledger_accounts GROUP BY currency',
    );
    for (const row of rows) assert.equal(row.total, '0', `the ledger still sums to zero in ${row.currency}`);
  });

  test('no generated read (any path id, any query string) gets a 5xx; every error is a catalog error', async () => {
    const reads = routesFor(['get']);
    const value = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.integer().map(String),
      fc.constantFrom('-1', '0', '100', '1e9'),
    );
    const query = fc.dictionary(
      fc.oneof(
        fc.constantFrom('limit', 'starting_after', 'after', 'status', 'kind', 'user_id', 'type', 'subject_id'),
        fc.string({ maxLength: 10 }),
      ),
      value,
      { maxKeys: 4 },
    );
    succeeded = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...reads), pathIds, query, async (route, id, params) => {
        const path = route.slice('GET '.length);
        const url = `${urlOf(path, id)}?${new URLSearchParams(params)}`;
        const response = await t.app.inject({ method: 'GET', url, headers: authFor(path) });
        expectContract(response, `GET ${url}`);
      }),
      { numRuns: 1500 },
    );
    assert.ok(succeeded > 0, 'some generated reads were valid');
  });
});
