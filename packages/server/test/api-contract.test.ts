/**
 * The API contract across routes: Idempotency-Key (replays, conflicts, keys per principal),
 * concurrent writes of one resource, operator and mode isolation of every id and list,
 * and the error envelope for odd ids and query parameters.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorOf, startTestApp } from './harness.ts';

describe('idempotency keys and concurrent writes', async () => {
  const t = await startTestApp();
  const live = await t.operators.keys.issue(t.operatorId, { mode: 'live', scope: 'full' });
  const liveAuth = { authorization: `Bearer ${live.secret}` };
  const post = (url: string, key: string | undefined, payload: object = {}, auth: object = t.auth) =>
    t.app.inject({
      method: 'POST',
      url,
      headers: { ...auth, ...(key === undefined ? {} : { 'idempotency-key': key }) },
      payload,
    });

  /** How many `user.created` events the user has. */
  const creationsOf = async (userId: string) => {
    const { rows } = await t.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM events WHERE operator_id = $1 AND type = 'user.created' AND data->>'user_id' = $2",
      [t.operatorId, userId],
    );
    return rows[0]!.n;
  };

  test('a replayed error answer is the first byte for byte, and names the request it replays (Original-Request-Id)', async () => {
    const first = await post('/v1/keys/key_doesnotexist/revoke', 'replayed-404');
    assert.equal(first.statusCode, 404, first.body);
    errorOf(first);
    const again = await post('/v1/keys/key_doesnotexist/revoke', 'replayed-404');
    assert.equal(again.statusCode, 404, again.body);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.body, first.body);
    assert.equal(again.headers['original-request-id'], first.headers['x-request-id']);
    assert.notEqual(again.headers['x-request-id'], first.headers['x-request-id'], 'the replay is a request of its own');
    // The envelope's check: the body's request_id names the request it answers.
    errorOf(again);
  });

  test('the same key on two routes: idempotency_conflict, not the other route’s answer', async () => {
    const first = await post('/v1/keys', 'two-routes', {});
    assert.equal(first.statusCode, 201, first.body);
    const other = await post('/v1/webhook_endpoints', 'two-routes', { url: 'https://example.com/hook' });
    assert.equal(other.statusCode, 409, other.body);
    assert.equal(errorOf(other).code, 'idempotency_conflict');
  });

  test('a test key and a live key of one operator with the same Idempotency-Key each run', async () => {
    const a = await post('/v1/keys', 'mode-shared', {});
    const b = await post('/v1/keys', 'mode-shared', {}, liveAuth);
    assert.equal(a.statusCode, 201);
    assert.equal(b.statusCode, 201);
    assert.equal(b.headers['idempotent-replayed'], undefined);
    assert.equal(b.json().key.mode, 'live');
    assert.notEqual(a.json().secret, b.json().secret);
  });

  test('concurrent PUTs creating one user: it is created once (one 201, one user.created)', async () => {
    const responses = await Promise.all(
      Array.from({ length: 10 }, () =>
        t.app.inject({ method: 'PUT', url: '/v1/users/racer', headers: t.auth, payload: { first_name: 'Ada' } }),
      ),
    );
    for (const r of responses) assert.ok([200, 201].includes(r.statusCode), r.body);
    const created = responses.filter((r) => r.statusCode === 201).length;
    assert.deepEqual([created, await creationsOf('racer')], [1, 1], 'one creation reported and recorded');
  });

  test('concurrent PUTs creating one new user: one creation answered (201) and one user.created event', async () => {
    const [a, b] = await Promise.all([
      t.app.inject({ method: 'PUT', url: '/v1/users/twice-new', headers: t.auth, payload: { first_name: 'Ada' } }),
      t.app.inject({ method: 'PUT', url: '/v1/users/twice-new', headers: t.auth, payload: { last_name: 'Lovelace' } }),
    ]);
    assert.deepEqual(
      [[a.statusCode, b.statusCode].filter((s) => s === 201).length, await creationsOf('twice-new')],
      [1, 1],
    );
  });

  test('PUT merges the fields given (sequential control)', async () => {
    await t.app.inject({ method: 'PUT', url: '/v1/users/seq', headers: t.auth, payload: { first_name: 'Ada' } });
    await t.app.inject({ method: 'PUT', url: '/v1/users/seq', headers: t.auth, payload: { last_name: 'Lovelace' } });
    const user = (await t.app.inject({ method: 'GET', url: '/v1/users/seq', headers: t.auth })).json();
    assert.deepEqual([user.first_name, user.last_name], ['Ada', 'Lovelace']);
  });

  test('concurrent PUTs of different fields of a new user: neither update is lost', async () => {
    const [a, b] = await Promise.all([
      t.app.inject({ method: 'PUT', url: '/v1/users/merge-me', headers: t.auth, payload: { first_name: 'Ada' } }),
      t.app.inject({ method: 'PUT', url: '/v1/users/merge-me', headers: t.auth, payload: { last_name: 'Lovelace' } }),
    ]);
    assert.ok(a.statusCode < 300 && b.statusCode < 300);
    const user = (await t.app.inject({ method: 'GET', url: '/v1/users/merge-me', headers: t.auth })).json();
    assert.deepEqual([user.first_name, user.last_name], ['Ada', 'Lovelace']);
  });
});

describe('the error envelope for odd ids and query parameters', async () => {
  const t = await startTestApp();
  const routes: { method: string; url: string }[] = [];
  const weirdIds = [
    'x'.repeat(64),
    '%F0%9F%92%A9',
    '%C3%A9t%C3%A9',
    '%20',
    '%2F',
    '%25',
    '..',
    '%E2%80%AE',
    '0',
    '-1',
    '1e309',
    'null',
    '%EF%BF%BF',
  ];
  const paths = [
    ['GET', '/v1/users/:id'],
    ['GET', '/v1/users/:id/kyc'],
    ['GET', '/v1/users/:id/balances'],
    ['GET', '/v1/users/:id/balance_transactions'],
    ['GET', '/v1/users/:id/limits'],
    ['PATCH', '/v1/users/:id/limits'],
    ['PUT', '/v1/users/:id'],
    ['POST', '/v1/users/:id/block'],
    ['POST', '/v1/users/:id/unblock'],
    ['POST', '/v1/users/:id/reverification'],
    ['POST', '/v1/users/:id/kyc'],
    ['POST', '/v1/users/:id/balance_adjustments'],
    ['GET', '/v1/payments/:id'],
    ['GET', '/v1/payments/by_reference/:id'],
    ['POST', '/v1/payments/:id/cancel'],
    ['POST', '/v1/payments/:id/approve'],
    ['POST', '/v1/payments/:id/decline'],
    ['POST', '/v1/payments/:id/refunds'],
    ['GET', '/v1/sessions/:id'],
    ['POST', '/v1/sessions/:id/cancel'],
    ['GET', '/v1/events/:id'],
    ['POST', '/v1/events/:id/redeliver'],
    ['GET', '/v1/webhook_endpoints/:id'],
    ['PATCH', '/v1/webhook_endpoints/:id'],
    ['DELETE', '/v1/webhook_endpoints/:id'],
    ['POST', '/v1/webhook_endpoints/:id/rotate_secret'],
    ['POST', '/v1/webhook_endpoints/:id/test'],
    ['GET', '/v1/webhook_endpoints/:id/deliveries'],
    ['GET', '/v1/deliveries/:id'],
    ['GET', '/v1/discrepancies/:id'],
    ['POST', '/v1/discrepancies/:id/resolve'],
    ['POST', '/v1/keys/:id/rotate'],
    ['POST', '/v1/keys/:id/revoke'],
    ['POST', '/v1/signing_keys/:id/revoke'],
  ] as const;
  for (const [method, path] of paths) routes.push(...weirdIds.map((id) => ({ method, url: path.replace(':id', id) })));

  const queries = [
    '/v1/events?limit=0',
    '/v1/events?limit=1&limit=2',
    '/v1/events?after=' + 'z'.repeat(64),
    '/v1/events?after=%00',
    '/v1/events?subject_id=%F0%9F%92%A9',
    '/v1/events?type=nope',
    '/v1/payments?created_from=2024-02-30T00:00:00Z',
    '/v1/payments?created_from=0000-01-01T00:00:00Z',
    '/v1/payments?created_from=9999-12-31T23:59:59-23:59',
    '/v1/payments?created_from=2016-12-31T23:59:60Z',
    '/v1/payments?created_to=1970-01-01T00:00:00.123456789Z',
    '/v1/payments?starting_after=%E2%80%AE',
    '/v1/payments?currency=%C3%9F',
    '/v1/payments?currency=%EF%AC%80',
    '/v1/payments?limit=100&limit=1',
    '/v1/payments?user_id[]=a',
    '/v1/payments/quote?kind=deposit&amount=1e999&currency=USD',
    '/v1/payments/quote?kind=deposit&amount=1.00&currency=%C3%9F',
    '/v1/payments/quote?kind=deposit&amount=1.00&currency=usd&network=%F0%9F%92%A9',
    '/v1/payments/quote?kind=deposit&amount=-0&currency=USD',
    '/v1/payments/quote?kind=deposit&amount=%EF%BC%91&currency=USD',
    '/v1/discrepancies?starting_after=' + 'z'.repeat(64),
    '/v1/users/ada/balance_transactions?starting_after=999999999999999999',
    '/v1/users/ada/balance_transactions?currency=%C3%9F',
    '/v1/users/ada/balance_transactions?currency=usd',
    '/v1/webhook_endpoints?after=%00',
    '/v1/webhook_endpoints/x/deliveries?status=nope',
  ];
  for (const url of queries) routes.push({ method: 'GET', url });

  test('no route answers 5xx or a body outside the catalog envelope for odd ids and query parameters', async () => {
    await t.app.inject({ method: 'PUT', url: '/v1/users/ada', headers: t.auth, payload: {} });
    const bad: string[] = [];
    for (const { method, url } of routes) {
      const response = await t.app.inject({
        method: method as 'GET',
        url,
        headers: t.auth,
        ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }),
      });
      if (response.statusCode >= 500)
        bad.push(`${method} ${url} -> ${response.statusCode} ${response.body.slice(0, 200)}`);
      else if (response.statusCode >= 400) {
        try {
          errorOf(response);
        } catch (error) {
          bad.push(`${method} ${url} -> ${response.statusCode} not an envelope: ${(error as Error).message}`);
        }
      }
    }
    assert.deepEqual(bad, []);
  });
});

describe('isolation of test-mode and other operators’ resources', async () => {
  const t = await startTestApp();
  const live = await t.operators.keys.issue(t.operatorId, { mode: 'live', scope: 'full' });
  const liveAuth = { authorization: `Bearer ${live.secret}` };
  const other = await t.operators.create({ name: 'Other' });
  const otherAuth = { authorization: `Bearer ${other.key.secret}` };
  const call = (method: string, url: string, auth: object, payload?: object) =>
    t.app.inject({
      method: method as 'GET',
      url,
      headers: { ...auth },
      ...(payload ? { payload } : method === 'POST' || method === 'PATCH' ? { payload: {} } : {}),
    });

  test('no id made with a test key is reachable with a live key or another operator’s key', async () => {
    const endpoint = await call('POST', '/v1/webhook_endpoints', t.auth, { url: 'http://127.0.0.1:9/hook' });
    assert.equal(endpoint.statusCode, 201, endpoint.body);
    const endpointId = endpoint.json().id as string;
    const tested = await call('POST', `/v1/webhook_endpoints/${endpointId}/test`, t.auth);
    assert.equal(tested.statusCode, 201, tested.body);
    const deliveryId = tested.json().id as string;
    const eventId = tested.json().event_id as string;
    const session = await call('POST', '/v1/sessions', t.auth, { user_id: 'iso', operation: 'deposit' });
    assert.equal(session.statusCode, 201, session.body);
    const sessionId = session.json().id as string;
    const key = await call('POST', '/v1/keys', t.auth, {});
    const keyId = key.json().key.id as string;
    assert.ok((await call('PUT', '/v1/users/iso', t.auth, { email: 'iso@example.com' })).statusCode < 300);
    const probes: [string, string, object?][] = [
      ['GET', `/v1/webhook_endpoints/${endpointId}`],
      ['PATCH', `/v1/webhook_endpoints/${endpointId}`, { description: 'x' }],
      ['POST', `/v1/webhook_endpoints/${endpointId}/rotate_secret`],
      ['POST', `/v1/webhook_endpoints/${endpointId}/test`],
      ['GET', `/v1/webhook_endpoints/${endpointId}/deliveries`],
      [
        'POST',
        `/v1/webhook_endpoints/${endpointId}/replay`,
        { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' },
      ],
      ['GET', `/v1/deliveries/${deliveryId}`],
      ['GET', `/v1/events/${eventId}`],
      ['POST', `/v1/events/${eventId}/redeliver`],
      ['GET', `/v1/sessions/${sessionId}`],
      ['POST', `/v1/sessions/${sessionId}/cancel`],
      ['POST', `/v1/keys/${keyId}/rotate`],
      ['POST', `/v1/keys/${keyId}/revoke`],
      ['GET', '/v1/users/iso'],
      ['GET', '/v1/users/iso/kyc'],
      ['GET', '/v1/users/iso/limits'],
      ['GET', '/v1/users/iso/balances'],
      ['GET', '/v1/users/iso/balance_transactions'],
      ['POST', '/v1/users/iso/block'],
      ['POST', '/v1/users/iso/kyc', { status: 'verified' }],
      ['POST', '/v1/users/iso/reverification'],
      ['DELETE', `/v1/webhook_endpoints/${endpointId}`],
    ];
    const leaks: string[] = [];
    for (const [who, auth] of [
      ['live', liveAuth],
      ['other', otherAuth],
    ] as const) {
      for (const [method, url, payload] of probes) {
        const response = await call(method, url, auth, payload);
        if (response.statusCode !== 404)
          leaks.push(`${who} ${method} ${url} -> ${response.statusCode} ${response.body.slice(0, 160)}`);
        else errorOf(response);
      }
      const lists = [
        '/v1/webhook_endpoints',
        '/v1/events',
        `/v1/events?subject_id=${endpointId}`,
        `/v1/events?after=${eventId}`,
        '/v1/keys',
        '/v1/payments',
        '/v1/discrepancies',
        '/v1/signing_keys',
      ];
      for (const url of lists) {
        const body = (await call('GET', url, auth)).body;
        for (const id of [endpointId, deliveryId, eventId, sessionId, keyId])
          if (body.includes(id)) leaks.push(`${who} GET ${url} shows ${id}`);
      }
    }
    assert.deepEqual(leaks, []);
    // And the test tenant still has all of it, untouched.
    const mine = (await call('GET', `/v1/webhook_endpoints/${endpointId}`, t.auth)).json();
    assert.equal(mine.description, null);
    assert.equal((await call('GET', '/v1/users/iso', t.auth)).json().blocked, false);
  });
});

describe('operator settings changed at once', async () => {
  const t = await startTestApp();
  const patch = (payload: unknown) =>
    t.app.inject({ method: 'PATCH', url: '/v1/operator/settings', headers: t.auth, payload: payload as object });

  test('concurrent PATCHes of different settings fields: neither change is lost', async () => {
    for (let round = 0; round < 5; round++) {
      const [a, b] = await Promise.all([
        patch({ session_ttl_seconds: 600 + round }),
        patch({ limit_increase_delay_hours: 5 + round }),
      ]);
      assert.equal(a.statusCode, 200, a.body);
      assert.equal(b.statusCode, 200, b.body);
      // As stored, not as a cache reads it.
      const { rows } = await t.db.query<{ settings: Record<string, unknown> }>(
        'SELECT settings FROM operators WHERE id = $1',
        [t.operatorId],
      );
      const settings = rows[0]!.settings;
      assert.deepEqual(
        [settings.session_ttl_seconds, settings.limit_increase_delay_hours],
        [600 + round, 5 + round],
        `round ${round}`,
      );
    }
  });

  test('odd settings values are refused in the envelope, never a 5xx', async () => {
    const odd: unknown[] = [
      { required_gates: [] },
      { required_gates: 'x' },
      { fees: { deposit: { ß: { percent: '1' } } } },
      { fees: { deposit: { USD: null } } },
      { fees: { deposit: { USD: [] } } },
      { fees: { deposit: { USD: { percent: '1e400' } } } },
      { currencies: null },
      { currencies: [{}] },
      { currencies: [null] },
      { currencies: 'USD' },
      { providers: null },
      { providers: { deposit: [null] } },
      { providers: { deposit: 'simcard' } },
      { providers: { deposit: [{ provider: 'simcard', blocked_jurisdictions: null }] } },
      { jurisdictions: null },
      { approval: null },
      { approval: { url: 5 } },
      { approval: { url: 'http://[::1' } },
      { approval: 'x' },
      { messages: [] },
      { crypto_xpubs: null },
      { crypto_xpubs: { BTC: 5 } },
      { crypto_xpubs: { BTC: 'xpub' } },
      { session_ttl_seconds: 1e308 },
      { limit_increase_delay_hours: -0 },
      { constructor: { prototype: { polluted: true } } },
      { toString: 1 },
      { hasOwnProperty: 1 },
      { limits: { deposit: { USD: { day: 'ß' } } } },
      { daily_limits: null },
      { withdrawal_review: null },
    ];
    const bad: string[] = [];
    for (const body of odd) {
      const response = await patch(body);
      if (response.statusCode >= 500) bad.push(`${JSON.stringify(body)} -> ${response.statusCode}`);
      else if (response.statusCode >= 400) {
        try {
          errorOf(response);
        } catch (error) {
          bad.push(`${JSON.stringify(body)} -> ${(error as Error).message}`);
        }
      }
    }
    const after = await t.app.inject({ method: 'GET', url: '/v1/operator/settings', headers: t.auth });
    if (after.statusCode !== 200)
      bad.push(`GET settings afterwards -> ${after.statusCode} ${after.body.slice(0, 200)}`);
    assert.deepEqual(bad, []);
  });
});

describe('money-moving routes under one Idempotency-Key', async () => {
  const { createPayment, openForPayments } = await import('./payment-fixtures.ts');
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);

  test('concurrent identical refunds with one key make one refund; every answer is it or in_progress', async () => {
    const deposit = await createPayment(t, { user_id: 'refundee', amount: '50.00' });
    assert.equal(deposit.json().status, 'completed', deposit.body);
    const id = deposit.json().id as string;
    const refund = () =>
      t.app.inject({
        method: 'POST',
        url: `/v1/payments/${id}/refunds`,
        headers: { ...t.auth, 'idempotency-key': 'refund-burst' },
        payload: { amount: '10.00' },
      });
    const answers = await Promise.all(Array.from({ length: 8 }, refund));
    const ok = answers.filter((a) => a.statusCode === 201);
    for (const a of answers.filter((a) => a.statusCode !== 201))
      assert.equal(errorOf(a).code, 'idempotency_in_progress');
    assert.equal(new Set(ok.map((a) => a.json().id)).size, 1);
    const replay = await refund();
    assert.equal(replay.json().id, ok[0]!.json().id);
    const { rows } = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM payments WHERE refund_of = $1', [
      id,
    ]);
    assert.equal(rows[0]!.n, 1);
  });

  test('concurrent identical balance adjustments with one key credit once', async () => {
    await t.app.inject({ method: 'PUT', url: '/v1/users/adj', headers: t.auth, payload: {} });
    const adjust = () =>
      t.app.inject({
        method: 'POST',
        url: '/v1/users/adj/balance_adjustments',
        headers: { ...t.auth, 'idempotency-key': 'adj-burst' },
        payload: { direction: 'credit', amount: '5.00', currency: 'USD', reason: 'bonus', reference: 'bonus-1' },
      });
    const answers = await Promise.all(Array.from({ length: 8 }, adjust));
    for (const a of answers) assert.ok([201, 409].includes(a.statusCode), a.body);
    const balances = (await t.app.inject({ method: 'GET', url: '/v1/users/adj/balances', headers: t.auth })).json();
    assert.equal(balances.data[0].posted, '5.00');
  });
});
