import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createIdGenerator, EventLog, systemClock } from '@rampart/core';
import { DeliveryQueue, defaultWebhookConfig, FanOut } from '@rampart/webhooks';
import type { InjectOptions } from 'fastify';
import { errorOf } from './harness.ts';
import { waitingForLocks } from './payment-fixtures.ts';
import { eventually, listedEvents, startReceiver, startWebhookApp, startWorker } from './webhooks-fixtures.ts';

const ids = createIdGenerator();

describe('webhook endpoints API', async () => {
  const t = await startWebhookApp();
  const receiver = await startReceiver();
  const post = (url: string, payload?: Record<string, unknown>, headers = t.auth) => {
    const options: InjectOptions = { method: 'POST', url, headers };
    if (payload !== undefined) options.payload = payload;
    return t.app.inject(options);
  };
  const get = (url: string, headers = t.auth) => t.app.inject({ method: 'GET', url, headers });
  const record = (type: 'payment.created' | 'payment.completed', subjectId: string, clock = systemClock) =>
    t.db.transaction((tx) =>
      new EventLog(t.db, ids, clock).record(tx, {
        operatorId: t.operatorId,
        type,
        subjectId,
        data: { payment_id: subjectId },
      }),
    );

  test('register, read, list, change and delete an endpoint; the secret is shown only on creation', async () => {
    const created = await post('/v1/webhook_endpoints', {
      url: receiver.url,
      enabled_events: ['payment.completed', 'payment.failed'],
      description: 'ledger sync',
    });
    assert.equal(created.statusCode, 201);
    const endpoint = created.json();
    assert.match(endpoint.id, /^we_/);
    assert.equal(endpoint.object, 'webhook_endpoint');
    assert.equal(endpoint.status, 'enabled');
    assert.match(endpoint.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.deepEqual(endpoint.enabled_events, ['payment.completed', 'payment.failed']);

    const fetched = (await get(`/v1/webhook_endpoints/${endpoint.id}`)).json();
    assert.equal(fetched.secret, undefined, 'never shown again');
    assert.equal(fetched.description, 'ledger sync');
    const { rows } = await t.db.query<{ secret: Buffer }>('SELECT secret FROM webhook_endpoints WHERE id = $1', [
      endpoint.id,
    ]);
    assert.ok(!rows[0]!.secret.toString('latin1').includes(endpoint.secret.slice(6)), 'encrypted at rest');

    const listed = (await get('/v1/webhook_endpoints')).json();
    assert.equal(listed.object, 'list');
    assert.ok(listed.data.some((e: { id: string }) => e.id === endpoint.id));

    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/v1/webhook_endpoints/${endpoint.id}`,
      headers: t.auth,
      payload: { enabled_events: ['*'], description: null, status: 'disabled' },
    });
    assert.equal(patched.statusCode, 200);
    assert.deepEqual(patched.json().enabled_events, ['*']);
    assert.equal(patched.json().description, null);
    assert.equal(patched.json().status, 'disabled');
    assert.equal(patched.json().disabled_reason, 'operator');

    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/v1/webhook_endpoints/${endpoint.id}`,
      headers: t.auth,
    });
    assert.deepEqual(deleted.json(), { id: endpoint.id, object: 'webhook_endpoint', deleted: true });
    const gone = await get(`/v1/webhook_endpoints/${endpoint.id}`);
    assert.equal(gone.statusCode, 404);
    assert.equal(errorOf(gone).code, 'resource_not_found');
  });

  test('unknown event types and bad URLs are refused with invalid_value', async () => {
    const badType = await post('/v1/webhook_endpoints', { url: receiver.url, enabled_events: ['payment.teleported'] });
    assert.equal(badType.statusCode, 422);
    assert.equal(errorOf(badType).code, 'invalid_value');
    assert.equal(errorOf(badType).details['field'], 'enabled_events[0]');
    const badUrl = await post('/v1/webhook_endpoints', { url: 'ftp://example.com/hook' });
    assert.equal(errorOf(badUrl).code, 'invalid_value');
    assert.equal(errorOf(badUrl).details['field'], 'url');
    const missing = await post('/v1/webhook_endpoints', {});
    assert.equal(errorOf(missing).code, 'missing_parameter');
    // 422 characters as given, 2422 once percent-encoded as it would be stored.
    const long = await post('/v1/webhook_endpoints', { url: `${receiver.url}/${'é'.repeat(400)}` });
    assert.deepEqual(
      [long.statusCode, errorOf(long).code, errorOf(long).details['field']],
      [422, 'invalid_value', 'url'],
    );
  });

  test('a live key cannot register private, loopback or link-local URLs (SSRF); a test key can', async () => {
    const live = await t.operators.keys.issue(t.operatorId, { mode: 'live', scope: 'full' });
    const liveAuth = { authorization: `Bearer ${live.secret}` };
    for (const url of [receiver.url, 'http://localhost:8080/x', 'http://169.254.169.254/latest', 'http://[::1]/x']) {
      const refused = await post('/v1/webhook_endpoints', { url }, liveAuth);
      assert.equal(refused.statusCode, 422, url);
      assert.equal(errorOf(refused).code, 'invalid_value');
      assert.equal(errorOf(refused).details['field'], 'url');
    }
    const created = await post('/v1/webhook_endpoints', { url: receiver.url });
    assert.equal(created.statusCode, 201, 'test mode may use 127.0.0.1');
    const metadata = await post('/v1/webhook_endpoints', { url: 'http://169.254.169.254/latest/meta-data' });
    assert.equal(errorOf(metadata).code, 'invalid_value', 'but not link-local, where cloud metadata lives');
    const moved = await t.app.inject({
      method: 'PATCH',
      url: `/v1/webhook_endpoints/${created.json().id}`,
      headers: liveAuth,
      payload: { url: 'http://10.0.0.8/hook' },
    });
    assert.equal(errorOf(moved).code, 'invalid_value', 'changing the URL is checked too');
  });

  test('off a development server, a test key gets no private URL either (it would reach into the server’s network)', async () => {
    const register = async (env: Record<string, string>) => {
      const app = await startWebhookApp(env);
      return app.app.inject({
        method: 'POST',
        url: '/v1/webhook_endpoints',
        headers: app.auth,
        payload: { url: 'http://10.0.0.5:8080/internal' },
      });
    };
    const refused = await register({ RAMPART_DEV_TOOLS: 'false' });
    assert.equal(refused.statusCode, 422, refused.body);
    assert.equal(errorOf(refused).details['field'], 'url');
    assert.equal((await register({})).statusCode, 201, 'the same request on a development server');
  });

  test('a test endpoint on a private address is delivered to only while its node is a development server', async () => {
    // By name: the address is found, and refused, when the connection is made.
    const byName = receiver.url.replace('127.0.0.1', 'localhost');
    const endpoint = (await post('/v1/webhook_endpoints', { url: `${byName}?dev-only` })).json();
    receiver.secret.value = endpoint.secret;
    const before = receiver.received.length;
    const delivery = (await post(`/v1/webhook_endpoints/${endpoint.id}/test`)).json();
    const production = startWorker(t.db, false);
    const refused = await eventually(
      'the attempt refused',
      async () => (await get(`/v1/deliveries/${delivery.id}`)).json(),
      (d) => d.attempts.length > 0,
    );
    await production.stop();
    assert.equal(refused.attempts[0].status_code, null);
    assert.match(refused.attempts[0].error, /localhost resolves to an address this endpoint may not reach/);
    assert.ok(!refused.attempts[0].error.includes('127.0.0.1'), 'what the name resolves to is not told');
    assert.equal(receiver.received.length, before, 'nothing reached the private address');
    const development = startWorker(t.db);
    await eventually(
      'delivered by a development server',
      async () => (await get(`/v1/deliveries/${delivery.id}`)).json(),
      (d) => d.status === 'succeeded',
    );
    await development.stop();
  });

  test('the allow flag lets live keys register private URLs', async () => {
    const open = await startWebhookApp({ RAMPART_WEBHOOK_ALLOW_PRIVATE_URLS: 'true' });
    const live = await open.operators.keys.issue(open.operatorId, { mode: 'live', scope: 'full' });
    const created = await open.app.inject({
      method: 'POST',
      url: '/v1/webhook_endpoints',
      headers: { authorization: `Bearer ${live.secret}` },
      payload: { url: 'http://10.1.2.3/hook' },
    });
    assert.equal(created.statusCode, 201);
  });

  test('send test event: recorded, delivered signed to that endpoint alone, attempts in the delivery log', async () => {
    const endpoint = (await post('/v1/webhook_endpoints', { url: `${receiver.url}?test` })).json();
    receiver.secret.value = endpoint.secret;
    const queued = await post(`/v1/webhook_endpoints/${endpoint.id}/test`);
    assert.equal(queued.statusCode, 201);
    const delivery = queued.json();
    assert.equal(delivery.object, 'webhook_delivery');
    assert.equal(delivery.reason, 'test');
    assert.equal(delivery.event_type, 'webhook.test');
    assert.equal(delivery.status, 'pending');

    const before = receiver.received.length;
    const worker = startWorker(t.db);
    const done = await eventually(
      'test delivered',
      async () => (await get(`/v1/deliveries/${delivery.id}`)).json(),
      (d) => d.status === 'succeeded',
    );
    await worker.stop();
    assert.equal(done.attempts.length, 1);
    assert.equal(done.attempts[0].status_code, 200);
    assert.equal(done.attempts[0].response_excerpt, 'thanks');
    assert.ok(done.attempts[0].latency_ms >= 0);
    const arrived = receiver.received.slice(before);
    assert.equal(arrived.length, 1, 'only to this endpoint');
    assert.equal(arrived[0]!.path, '/webhooks?test');
    assert.equal(arrived[0]!.event.type, 'webhook.test');
    assert.equal(arrived[0]!.event.id, delivery.event_id);
    assert.ok(arrived[0]!.valid, 'verifies with standardwebhooks');

    const events = await listedEvents(t, { type: 'webhook.test' });
    assert.ok(
      events.some((e: { id: string }) => e.id === delivery.event_id),
      'listed in /v1/events',
    );
    const log = (await get(`/v1/webhook_endpoints/${endpoint.id}/deliveries`)).json();
    assert.deepEqual(
      log.data.map((d: { id: string }) => d.id),
      [delivery.id],
    );
  });

  test('replay queues exactly the events of the time range, in order; a reversed range is refused', async () => {
    const at = (iso: string) => ({ now: () => new Date(iso) });
    const early = await record('payment.created', 'pay_replay', at('2026-03-01T10:00:00Z'));
    const inside = await record('payment.completed', 'pay_replay', at('2026-03-01T11:00:00Z'));
    const late = await record('payment.created', 'pay_replay_2', at('2026-03-01T12:00:00Z'));
    // Fanned out before the endpoint exists: nobody got them.
    while ((await new FanOut({ db: t.db, ids, clock: systemClock }).dispatchBatch()) > 0);

    const endpoint = (await post('/v1/webhook_endpoints', { url: `${receiver.url}?replay` })).json();
    receiver.secret.value = endpoint.secret;
    const replay = await post(`/v1/webhook_endpoints/${endpoint.id}/replay`, {
      from: '2026-03-01T10:00:00Z',
      to: '2026-03-01T12:00:00Z',
    });
    assert.equal(replay.statusCode, 202);
    assert.equal(replay.json().deliveries, 2);

    const before = receiver.received.length;
    const worker = startWorker(t.db);
    const toReplay = () => receiver.received.slice(before).filter((r) => r.path === '/webhooks?replay');
    await eventually(
      'replayed',
      () => toReplay().length,
      (n) => n >= 2,
    );
    await new Promise((r) => setTimeout(r, 100));
    await worker.stop();
    const replayed = toReplay();
    assert.deepEqual(
      replayed.map((r) => r.event.id),
      [early.id, inside.id],
      'the range, in sequence order, and not the event after it',
    );
    assert.ok(replayed.every((r) => r.valid));
    assert.ok(!replayed.some((r) => r.event.id === late.id));
    const log = (await get(`/v1/webhook_endpoints/${endpoint.id}/deliveries?status=succeeded`)).json();
    assert.deepEqual(
      log.data.map((d: { reason: string }) => d.reason),
      ['replay', 'replay'],
    );

    const reversed = await post(`/v1/webhook_endpoints/${endpoint.id}/replay`, {
      from: '2026-03-01T12:00:00Z',
      to: '2026-03-01T10:00:00Z',
    });
    assert.equal(errorOf(reversed).code, 'invalid_value');
    assert.equal(errorOf(reversed).details['field'], 'to');
    // Date-times the schema takes that are no time here: an offset of hours alone, a leap second.
    for (const [range, field] of [
      [{ from: '2026-03-01T10:00:00Z', to: '2026-03-02T00:00:00+01' }, 'to'],
      [{ from: '2026-12-31T23:59:60Z', to: '2027-01-02T00:00:00Z' }, 'from'],
    ] as const) {
      const odd = await post(`/v1/webhook_endpoints/${endpoint.id}/replay`, range);
      assert.deepEqual(
        [odd.statusCode, errorOf(odd).code, errorOf(odd).details['field']],
        [422, 'invalid_value', field],
      );
    }
  });

  test('redeliver sends an event again with the same webhook-id, to one endpoint or to all that want it', async () => {
    const endpoint = (await post('/v1/webhook_endpoints', { url: `${receiver.url}?redeliver` })).json();
    receiver.secret.value = endpoint.secret;
    const event = await record('payment.completed', 'pay_redeliver');
    const one = await post(`/v1/events/${event.id}/redeliver`, { endpoint_id: endpoint.id });
    assert.equal(one.statusCode, 201);
    assert.equal(one.json().data.length, 1);
    assert.equal(one.json().data[0].reason, 'redeliver');
    const before = receiver.received.length;
    const worker = startWorker(t.db);
    await eventually(
      'redelivered',
      () =>
        receiver.received
          .slice(before)
          .filter((r) => r.path === '/webhooks?redeliver' && r.headers['webhook-id'] === event.id && r.valid).length,
      (n) => n >= 2,
    );
    await worker.stop();
    const all = await post(`/v1/events/${event.id}/redeliver`);
    assert.equal(all.statusCode, 201);
    assert.ok(all.json().data.every((d: { event_id: string }) => d.event_id === event.id));
    assert.ok(all.json().data.some((d: { endpoint_id: string }) => d.endpoint_id === endpoint.id));
  });

  test('rotating the secret returns a new one and keeps the old one signing for the overlap', async () => {
    const endpoint = (await post('/v1/webhook_endpoints', { url: receiver.url })).json();
    const rotated = await post(`/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, { overlap_seconds: 600 });
    assert.equal(rotated.statusCode, 200);
    assert.notEqual(rotated.json().secret, endpoint.secret);
    const overlapEnds = Date.parse(rotated.json().previous_secret_expires_at);
    assert.ok(Math.abs(overlapEnds - (Date.now() + 600_000)) < 10_000);
    const immediate = await post(`/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, { overlap_seconds: 0 });
    assert.equal(immediate.json().previous_secret_expires_at, null);
    const byDefault = await post(`/v1/webhook_endpoints/${endpoint.id}/rotate_secret`);
    assert.ok(Date.parse(byDefault.json().previous_secret_expires_at) > Date.now() + 23 * 3_600_000, '24 h default');
  });

  test('a disabled endpoint refuses test, replay and targeted redelivery with illegal_state_transition', async () => {
    const endpoint = (await post('/v1/webhook_endpoints', { url: receiver.url })).json();
    await t.app.inject({
      method: 'PATCH',
      url: `/v1/webhook_endpoints/${endpoint.id}`,
      headers: t.auth,
      payload: { status: 'disabled' },
    });
    const event = await record('payment.created', 'pay_disabled');
    for (const [url, payload] of [
      [`/v1/webhook_endpoints/${endpoint.id}/test`, undefined],
      [`/v1/webhook_endpoints/${endpoint.id}/replay`, { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' }],
      [`/v1/events/${event.id}/redeliver`, { endpoint_id: endpoint.id }],
    ] as const) {
      const refused = await post(url, payload);
      assert.equal(refused.statusCode, 412, url);
      assert.equal(errorOf(refused).code, 'illegal_state_transition');
      assert.equal(errorOf(refused).details['from'], 'disabled');
    }
  });

  test("another operator's endpoints, deliveries and events are not found (404), never revealed", async () => {
    const endpoint = (await post('/v1/webhook_endpoints', { url: receiver.url })).json();
    const delivery = (await post(`/v1/webhook_endpoints/${endpoint.id}/test`)).json();
    const event = await record('payment.created', 'pay_private');
    const other = await t.operators.create({ name: 'Someone Else' });
    const theirs = { authorization: `Bearer ${other.key.secret}` };
    const attempts = [
      t.app.inject({ method: 'GET', url: `/v1/webhook_endpoints/${endpoint.id}`, headers: theirs }),
      t.app.inject({
        method: 'PATCH',
        url: `/v1/webhook_endpoints/${endpoint.id}`,
        headers: theirs,
        payload: { description: 'mine now' },
      }),
      t.app.inject({ method: 'DELETE', url: `/v1/webhook_endpoints/${endpoint.id}`, headers: theirs }),
      post(`/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, undefined, theirs),
      post(`/v1/webhook_endpoints/${endpoint.id}/test`, undefined, theirs),
      get(`/v1/webhook_endpoints/${endpoint.id}/deliveries`, theirs),
      post(
        `/v1/webhook_endpoints/${endpoint.id}/replay`,
        { from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' },
        theirs,
      ),
      get(`/v1/deliveries/${delivery.id}`, theirs),
      get(`/v1/events/${event.id}`, theirs),
      post(`/v1/events/${event.id}/redeliver`, undefined, theirs),
    ];
    for (const response of await Promise.all(attempts)) {
      assert.equal(response.statusCode, 404, response.body);
      assert.equal(errorOf(response).code, 'resource_not_found');
    }
    const list = (await get('/v1/webhook_endpoints', theirs)).json();
    assert.equal(list.data.length, 0);
    assert.equal((await get(`/v1/webhook_endpoints/${endpoint.id}`)).json().description, null, 'unchanged');
  });
});

describe('an endpoint written while a worker records its deliveries', async () => {
  const t = await startWebhookApp();
  const create = async (path: string) =>
    (
      await t.app.inject({
        method: 'POST',
        url: '/v1/webhook_endpoints',
        headers: t.auth,
        payload: { url: `http://127.0.0.1:9/${path}` },
      })
    ).json();
  const queue = new DeliveryQueue({ db: t.db, ids, clock: systemClock, config: defaultWebhookConfig });
  /** An event fanned out to every endpoint, its deliveries claimed by a worker. */
  const claimedAfterAnEvent = async (subjectId: string) => {
    await t.db.transaction((tx) =>
      new EventLog(t.db, ids, systemClock).record(tx, {
        operatorId: t.operatorId,
        type: 'payment.created',
        subjectId,
        data: {},
      }),
    );
    while ((await new FanOut({ db: t.db, ids, clock: systemClock }).dispatchBatch()) > 0);
    const claimed = await queue.claim(10, 60_000);
    return (endpoint: { id: string }) => claimed.find((d) => d.endpoint_id === endpoint.id)!;
  };
  /** Another session holding a row lock (`sql`) until `release`d. */
  const holding = async (sql: string, values: unknown[]) => {
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = () => {};
    const locked = new Promise<void>((resolve) => (held = resolve));
    const holder = t.db.transaction(async (tx) => {
      await tx.query(sql, values);
      held();
      await released;
    });
    await locked;
    return () => {
      release();
      return holder;
    };
  };
  const waiting = (what: string, n: number) =>
    eventually(
      what,
      () => waitingForLocks(t),
      (waiters) => waiters === n,
    );

  test('a delete racing a success that ends the endpoint’s failure record waits for it: 200, never a deadlock (500); the other endpoint’s delivery is recorded once', async () => {
    const deleted = await create('deleted');
    const other = await create('other');
    const to = await claimedAfterAnEvent('pay_delete_race');
    // A failure earlier: the success being recorded ends the record, a write to the endpoint's row.
    await t.db.query('UPDATE webhook_endpoints SET failing_since = now() WHERE id = $1', [deleted.id]);

    // Another session holds the other endpoint's delivery, so the worker's write of the
    // results waits in the middle, having written what comes before it.
    const release = await holding('SELECT 1 FROM webhook_deliveries WHERE id = $1 FOR SHARE', [to(other).id]);
    const success = { statusCode: 200, latencyMs: 1, excerpt: null, error: null, retryAfter: undefined };
    const completing = queue.complete(
      [deleted, other].map((e) => ({ delivery: to(e), startedAt: new Date(), result: success, endpointAtFault: true })),
    );
    await waiting('the results waiting', 1);
    const deleting = t.app.inject({ method: 'DELETE', url: `/v1/webhook_endpoints/${deleted.id}`, headers: t.auth });
    await waiting('the delete waiting', 2);
    await release();
    const [response] = await Promise.all([deleting, completing]);

    assert.equal(response.statusCode, 200, response.body);
    assert.equal(
      (await t.app.inject({ method: 'GET', url: `/v1/webhook_endpoints/${deleted.id}`, headers: t.auth })).statusCode,
      404,
    );
    const { rows } = await t.db.query<{ endpoint_id: string; status: string; attempts: number }>(
      `SELECT d.endpoint_id, d.status, (SELECT count(*)::int FROM webhook_attempts a WHERE a.delivery_id = d.id) AS attempts
         FROM webhook_deliveries d WHERE d.id = ANY($1) ORDER BY d.endpoint_id = $2`,
      [[to(deleted).id, to(other).id], other.id],
    );
    assert.deepEqual(rows, [
      { endpoint_id: deleted.id, status: 'succeeded', attempts: 1 },
      { endpoint_id: other.id, status: 'succeeded', attempts: 1 },
    ]);
  });

  test('a test send racing the worker disabling its endpoint waits for it: never a deadlock (500)', async () => {
    const endpoint = await create('test-send');
    const delivery = (await claimedAfterAnEvent('pay_test_send_race'))(endpoint);
    // Failing for longer than the endpoint may: this failure disables it, with a notice in its sequence.
    await t.db.query("UPDATE webhook_endpoints SET failing_since = now() - interval '30 days' WHERE id = $1", [
      endpoint.id,
    ]);

    // Another session holds the endpoint: the worker queues for it first, then the test send.
    const release = await holding('SELECT 1 FROM webhook_endpoints WHERE id = $1 FOR UPDATE', [endpoint.id]);
    const failure = { statusCode: 500, latencyMs: 1, excerpt: null, error: null, retryAfter: undefined };
    const completing = queue.complete([{ delivery, startedAt: new Date(), result: failure, endpointAtFault: true }]);
    await waiting('the results waiting', 1);
    const sending = t.app.inject({ method: 'POST', url: `/v1/webhook_endpoints/${endpoint.id}/test`, headers: t.auth });
    await waiting('the test send waiting', 2);
    await release();
    const [response] = await Promise.all([sending, completing]);

    // The worker went first: the test send finds the endpoint disabled, and says so.
    assert.equal(response.statusCode, 412, response.body);
    assert.deepEqual(errorOf(response).details, {
      from: 'disabled',
      to: 'test',
      resource: 'webhook_endpoint',
      id: endpoint.id,
    });
    const disabled = await t.app.inject({
      method: 'GET',
      url: `/v1/webhook_endpoints/${endpoint.id}`,
      headers: t.auth,
    });
    assert.equal(disabled.json().status, 'disabled');
  });
});
