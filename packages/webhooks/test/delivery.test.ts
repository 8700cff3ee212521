import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createIdGenerator, type Database, EventLog, type EventType, systemClock } from '@rampart/core';
import pg from 'pg';
import {
  DeliveryQueue,
  defaultWebhookConfig,
  FanOut,
  insertDeliveries,
  purgeDeliveryLogs,
  SecretBox,
  type WebhookConfig,
  WebhookDeliveries,
  WebhookEndpoints,
  WebhookWorker,
} from '../src/index.ts';
import { createOperator, createTestDatabase } from './fixtures/database.ts';
import { type Answer, eventually, TestReceiver } from './fixtures/receiver.ts';

const ids = createIdGenerator();
const clock = systemClock;

/** Retries in tens of milliseconds, so schedules play out within a test. */
const fast: WebhookConfig = {
  ...defaultWebhookConfig,
  retrySchedule: [0, 30, 30, 30, 30],
  timeoutMs: 2_000,
  pollIntervalMs: 20,
  concurrency: 16,
};

async function world(config: Partial<WebhookConfig> = {}) {
  const { db } = await createTestDatabase();
  const operatorId = await createOperator(db);
  const secrets = SecretBox.forWebhookSecrets(Buffer.alloc(32, 7));
  const merged = { ...fast, ...config };
  const endpoints = new WebhookEndpoints({ db, ids, clock, secrets, config: merged });
  const deliveries = new WebhookDeliveries({ db, ids, clock, endpoints });
  const events = new EventLog(db, ids, clock);
  const receiver = await new TestReceiver().start();
  const caller = { operatorId, allowPrivate: true };
  const workers: WebhookWorker[] = [];
  after(() => Promise.all(workers.map((worker) => worker.stop())));
  return {
    db,
    operatorId,
    endpoints,
    deliveries,
    events,
    receiver,
    caller,
    /** A worker more each call, as on another node. */
    startWorker(options: { leaseMarginMs?: number } = {}) {
      const worker = new WebhookWorker({ db, ids, clock, config: merged, secrets, devServer: true, ...options });
      workers.push(worker.start());
      return worker;
    },
    record(type: EventType, subjectId: string, data: Record<string, unknown> = {}) {
      return db.transaction((tx) => events.record(tx, { operatorId, type, subjectId, data }));
    },
  };
}

async function eventsOfType(db: Database, type: string) {
  const { rows } = await db.query<{ subject_id: string; data: Record<string, unknown> }>(
    'SELECT subject_id, data FROM events WHERE type = $1 ORDER BY id',
    [type],
  );
  return rows;
}

const settle = (ms = 250) => new Promise((r) => setTimeout(r, ms));

/** What an attempt answered with `statusCode` reports. */
const answer = (statusCode: number) => ({
  statusCode,
  latencyMs: 1,
  excerpt: null,
  error: null,
  retryAfter: undefined,
});

describe('delivery', () => {
  test('a receiver failing the first 3 attempts gets the event once as a success, validly signed every time', async () => {
    const w = await world();
    const { endpoint, secret } = await w.endpoints.create(w.caller, { url: w.receiver.url });
    w.receiver.secrets = [secret];
    w.receiver.respond = (_, index) => (index < 3 ? { status: 500, body: `boom ${index}` } : { status: 204 });
    const event = await w.record('payment.completed', 'pay_1', { payment_id: 'pay_1', amount: 1000 });
    w.startWorker();

    await eventually(
      'one success',
      () => w.receiver.successes().length,
      (n) => n === 1,
    );
    await settle();
    assert.equal(w.receiver.received.length, 4, 'three failures, one success, nothing after');
    assert.equal(w.receiver.successes().length, 1);
    for (const request of w.receiver.received) {
      assert.deepEqual(request.verifiedWith, [0], 'signature valid per standardwebhooks on every attempt');
      assert.equal(request.webhookId, event.id, 'webhook-id is stable across retries');
      assert.equal(request.event.id, event.id);
      assert.equal(request.event.sequence, 1);
      assert.equal(request.headers['content-type'], 'application/json');
    }

    const [logged] = await w.deliveries.listForEndpoint(w.operatorId, endpoint.id);
    const delivery = await w.deliveries.get(w.operatorId, logged!.id);
    assert.equal(delivery.status, 'succeeded');
    assert.equal(delivery.attempt_count, 4);
    assert.deepEqual(
      delivery.attempts.map((a) => [a.attempt, a.status_code, a.succeeded, a.response_excerpt]),
      [
        [1, 500, false, 'boom 0'],
        [2, 500, false, 'boom 1'],
        [3, 500, false, 'boom 2'],
        [4, 204, true, null],
      ],
    );
    assert.ok(delivery.attempts.every((a) => a.latency_ms >= 0 && a.error === null));
    assert.equal((await w.endpoints.get(w.operatorId, endpoint.id)).failing_since, null, 'success clears failures');
  });

  test('Retry-After pushes the retry later, clamped to the configured maximum', async () => {
    const w = await world({ retryAfterMaxMs: 800 });
    const { secret } = await w.endpoints.create(w.caller, { url: w.receiver.url });
    w.receiver.secrets = [secret];
    w.receiver.respond = (_, index) =>
      index === 0 ? { status: 429, headers: { 'retry-after': '3600' } } : { status: 200 };
    await w.record('payment.created', 'pay_ra');
    w.startWorker();
    await eventually(
      'success',
      () => w.receiver.successes().length,
      (n) => n === 1,
    );
    const [first, second] = w.receiver.received;
    const gap = second!.at - first!.at;
    assert.ok(gap >= 750, `waited for Retry-After (${gap} ms)`);
    assert.ok(gap < 3_000, `but no longer than the clamp (${gap} ms)`);
  });

  test('after the last scheduled attempt the delivery is exhausted and an event says so', async () => {
    const w = await world({ retrySchedule: [0, 20, 20] });
    const { endpoint, secret } = await w.endpoints.create(w.caller, { url: w.receiver.url });
    const { endpoint: watcher } = await w.endpoints.create(w.caller, {
      url: `${w.receiver.url}?watcher`,
      enabled_events: ['webhook.delivery_exhausted'],
    });
    w.receiver.secrets = [secret];
    w.receiver.respond = (request) =>
      request.event.type === 'webhook.delivery_exhausted' ? { status: 200 } : { status: 503, body: 'down' };
    const event = await w.record('payment.failed', 'pay_x');
    w.startWorker();

    const [notice] = await eventually(
      'exhaustion event',
      () => eventsOfType(w.db, 'webhook.delivery_exhausted'),
      (rows) => rows.length === 1,
    );
    assert.equal(notice!.subject_id, endpoint.id);
    assert.equal(notice!.data['event_id'], event.id);
    assert.equal(notice!.data['attempts'], 3);
    assert.equal(notice!.data['last_status_code'], 503);
    const [delivery] = await w.deliveries.listForEndpoint(w.operatorId, endpoint.id);
    assert.equal(delivery!.status, 'exhausted');
    assert.equal(delivery!.attempt_count, 3);
    assert.ok(delivery!.completed_at);

    // The notice reaches the endpoint that subscribes to it, and never the failing one itself.
    await eventually(
      'notice delivered',
      () => w.receiver.successes().length,
      (n) => n === 1,
    );
    await settle();
    const toFailing = w.receiver.received.filter((r) => r.event.id === event.id);
    assert.equal(toFailing.length, 3, 'three attempts, then no more');
    assert.equal(w.receiver.successes()[0]!.event.type, 'webhook.delivery_exhausted');
    assert.equal((await w.deliveries.listForEndpoint(w.operatorId, watcher.id)).length, 1);
    assert.equal((await w.deliveries.listForEndpoint(w.operatorId, endpoint.id)).length, 1);
  });

  test('a success beside a failure in one batch ends the failure record: an endpoint that mostly succeeds is never disabled', async () => {
    const w = await world({ disableAfterMs: 86_400_000 });
    const { endpoint } = await w.endpoints.create(w.caller, { url: w.receiver.url });
    for (const subject of ['pay_mixed_1', 'pay_mixed_2']) await w.record('payment.created', subject);
    const fanOut = new FanOut({ db: w.db, ids, clock });
    while ((await fanOut.dispatchBatch()) > 0);
    let now = new Date();
    const queue = new DeliveryQueue({
      db: w.db,
      ids,
      clock: { now: () => now },
      config: { ...fast, disableAfterMs: 86_400_000 },
    });
    // Failing for two days already.
    await w.db.query('UPDATE webhook_endpoints SET failing_since = $2 WHERE id = $1', [
      endpoint.id,
      new Date(now.getTime() - 2 * 86_400_000),
    ]);
    const result = (statusCode: number) => ({
      statusCode,
      latencyMs: 1,
      excerpt: null,
      error: null,
      retryAfter: undefined,
    });
    const [first, second] = await queue.claim(10, 60_000);
    await queue.complete([
      { delivery: first!, startedAt: now, result: result(200), endpointAtFault: true },
      { delivery: second!, startedAt: now, result: result(500), endpointAtFault: true },
    ]);
    const after = await w.endpoints.get(w.operatorId, endpoint.id);
    assert.equal(after.status, 'enabled');
    assert.equal(after.failing_since?.getTime(), now.getTime(), 'a new failure record, from this batch');
    // Its retry fails an hour later: the record is an hour old, far from the day it takes.
    now = new Date(now.getTime() + 3_600_000);
    await w.db.query('UPDATE webhook_deliveries SET next_attempt_at = $2 WHERE id = $1', [second!.id, now]);
    const [retry] = await queue.claim(10, 60_000);
    await queue.complete([{ delivery: retry!, startedAt: now, result: result(500), endpointAtFault: true }]);
    assert.equal((await w.endpoints.get(w.operatorId, endpoint.id)).status, 'enabled');
  });

  test('an endpoint failing every delivery for the configured period is disabled, with an event; enabling resumes', async () => {
    const w = await world({ retrySchedule: [0, 60, 60, 60, 60, 60, 60, 60, 60, 60], disableAfterMs: 200 });
    const { endpoint, secret } = await w.endpoints.create(w.caller, { url: w.receiver.url });
    w.receiver.secrets = [secret];
    w.receiver.respond = () => ({ status: 500 });
    await w.record('payment.pending', 'pay_d');
    w.startWorker();

    const disabled = await eventually(
      'endpoint disabled',
      () => w.endpoints.get(w.operatorId, endpoint.id),
      (e) => e.status === 'disabled',
    );
    assert.equal(disabled.disabled_reason, 'failing');
    assert.ok(disabled.failing_since);
    const [notice] = await eventually(
      'disabled event',
      () => eventsOfType(w.db, 'webhook_endpoint.disabled'),
      (rows) => rows.length === 1,
    );
    assert.equal(notice!.subject_id, endpoint.id);
    assert.equal(notice!.data['reason'], 'failing');
    assert.ok(w.receiver.received.length >= 3, 'it failed for the whole period first');
    assert.ok(
      w.receiver.received.at(-1)!.at - w.receiver.received[0]!.at >= 150,
      'failures spanned the disabling period',
    );

    const seen = w.receiver.received.length;
    await settle(300);
    assert.equal(w.receiver.received.length, seen, 'no attempts while disabled');
    const [pending] = await w.deliveries.listForEndpoint(w.operatorId, endpoint.id);
    assert.equal(pending!.status, 'pending', 'the delivery waits, it is not dropped');

    w.receiver.respond = () => ({ status: 200 });
    const enabled = await w.endpoints.update(w.caller, endpoint.id, { status: 'enabled' });
    assert.equal(enabled.failing_since, null);
    assert.equal(enabled.disabled_reason, null);
    await eventually(
      'resumed delivery',
      () => w.receiver.successes().length,
      (n) => n === 1,
    );
  });

  test('a failing delivery holds back later events of its subject only, which then arrive in sequence order', async () => {
    const w = await world();
    const { secret } = await w.endpoints.create(w.caller, { url: w.receiver.url });
    w.receiver.secrets = [secret];
    let failuresLeft = 3;
    w.receiver.respond = (request) => {
      if (request.event.subject_id === 'pay_a' && request.event.sequence === 1 && failuresLeft > 0) {
        failuresLeft--;
        return { status: 500 };
      }
      return { status: 200 };
    };
    for (let i = 0; i < 3; i++) await w.record('payment.processing', 'pay_a');
    await w.record('payment.created', 'pay_b');
    w.startWorker();

    await eventually(
      'all four delivered',
      () => w.receiver.successes().length,
      (n) => n === 4,
    );
    const a = w.receiver.received.filter((r) => r.event.subject_id === 'pay_a');
    assert.deepEqual(
      a.map((r) => [r.event.sequence, r.status]),
      [
        [1, 500],
        [1, 500],
        [1, 500],
        [1, 200],
        [2, 200],
        [3, 200],
      ],
      'sequence 2 was not sent before 1 succeeded',
    );
    const bAt = w.receiver.received.findIndex((r) => r.event.subject_id === 'pay_b');
    const aDoneAt = w.receiver.received.findIndex((r) => r.event.subject_id === 'pay_a' && r.status === 200);
    assert.ok(bAt < aDoneAt, 'another subject was not held back');
  });

  test('a delivery to be tried again holds the later ones of its subject back until its retry, so no pass of the claim meets them blocked', async () => {
    const w = await world({ retrySchedule: [0, 3_600_000] });
    const { endpoint } = await w.endpoints.create(w.caller, { url: w.receiver.url });
    for (let i = 0; i < 3; i++) await w.record('payment.processing', 'pay_held');
    await w.record('payment.created', 'pay_free');
    const fanOut = new FanOut({ db: w.db, ids, clock });
    while ((await fanOut.dispatchBatch()) > 0);
    const queue = new DeliveryQueue({ db: w.db, ids, clock, config: { ...fast, retrySchedule: [0, 3_600_000] } });
    const claimed = await queue.claim(10, 60_000);
    assert.deepEqual(
      claimed.map((d) => [d.subject_id, d.sequence]).sort(),
      [
        ['pay_free', 1n],
        ['pay_held', 1n],
      ],
      'only the first of each subject',
    );
    const first = claimed.find((d) => d.subject_id === 'pay_held')!;
    await queue.complete([{ delivery: first, startedAt: new Date(), result: answer(500), endpointAtFault: true }]);
    const pending = (await w.deliveries.listForEndpoint(w.operatorId, endpoint.id)).filter(
      (d) => d.subject_id === 'pay_held',
    );
    const retryAt = pending.find((d) => d.sequence === 1n)!.next_attempt_at!.getTime();
    assert.ok(retryAt > Date.now() + 3_000_000, 'the first is tried again in an hour');
    assert.deepEqual(
      pending.filter((d) => d.sequence > 1n).map((d) => d.next_attempt_at?.getTime()),
      [retryAt, retryAt],
      'the later ones wait for it',
    );
    assert.deepEqual(await queue.claim(10, 60_000), [], 'nothing is due');
  });

  test('disabling an endpoint parks its pending deliveries out of the claim’s way; enabling makes them due at once, in order', async () => {
    const w = await world();
    const { endpoint, secret } = await w.endpoints.create(w.caller, { url: w.receiver.url });
    w.receiver.secrets = [secret];
    for (let i = 0; i < 3; i++) await w.record('payment.processing', 'pay_parked');
    const fanOut = new FanOut({ db: w.db, ids, clock });
    while ((await fanOut.dispatchBatch()) > 0);
    const queue = new DeliveryQueue({ db: w.db, ids, clock, config: fast });
    const [inFlight] = await queue.claim(10, 60_000);
    await w.endpoints.update(w.caller, endpoint.id, { status: 'disabled' });
    // The one in flight when the endpoint was disabled fails: it is parked with the others.
    await queue.complete([{ delivery: inFlight!, startedAt: new Date(), result: answer(503), endpointAtFault: true }]);
    const parked = await w.deliveries.listForEndpoint(w.operatorId, endpoint.id);
    assert.deepEqual(
      parked.map((d) => [d.status, d.next_attempt_at]),
      [
        ['pending', null],
        ['pending', null],
        ['pending', null],
      ],
    );
    const { rows } = await w.db.query(
      `SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= 'infinity'`,
    );
    assert.equal(rows.length, 0, 'none is in the range the claim reads');

    w.receiver.respond = () => ({ status: 200 });
    await w.endpoints.update(w.caller, endpoint.id, { status: 'enabled' });
    w.startWorker();
    await eventually(
      'all three delivered',
      () => w.receiver.successes().map((r) => r.event.sequence),
      (sequences) => sequences.length === 3,
    );
    assert.deepEqual(
      w.receiver.successes().map((r) => r.event.sequence),
      [1, 2, 3],
    );
  });

  test('a delivery in flight when its endpoint is disabled and enabled again keeps its lease: it is not sent twice', async () => {
    const w = await world();
    const { endpoint } = await w.endpoints.create(w.caller, { url: w.receiver.url });
    await w.record('payment.created', 'pay_in_flight');
    await w.record('payment.created', 'pay_waiting');
    const fanOut = new FanOut({ db: w.db, ids, clock });
    while ((await fanOut.dispatchBatch()) > 0);
    const queue = new DeliveryQueue({ db: w.db, ids, clock, config: fast });
    const [inFlight] = await queue.claim(1, 60_000);
    await w.endpoints.update(w.caller, endpoint.id, { status: 'disabled' });
    const byId = async () =>
      new Map((await w.deliveries.listForEndpoint(w.operatorId, endpoint.id)).map((d) => [d.id, d.next_attempt_at]));
    const parked = await byId();
    assert.ok(parked.get(inFlight!.id)! > new Date(), 'the one in flight keeps its lease');
    assert.equal([...parked.values()].filter((at) => at === null).length, 1, 'the other is parked');

    await w.endpoints.update(w.caller, endpoint.id, { status: 'enabled' });
    const claimed = await queue.claim(10, 60_000);
    assert.deepEqual(
      claimed.map((d) => d.subject_id),
      ['pay_waiting'],
      'only the parked one is due; the one in flight is not sent a second time',
    );
    await queue.complete([{ delivery: inFlight!, startedAt: new Date(), result: answer(200), endpointAtFault: true }]);
    const done = (await w.deliveries.listForEndpoint(w.operatorId, endpoint.id)).find((d) => d.id === inFlight!.id);
    assert.equal(done!.status, 'succeeded');
  });

  test('enabling an endpoint while a late attempt of one of its deliveries is being logged unparks that one too', async () => {
    const w = await world({ retrySchedule: [0, 60_000, 60_000] });
    const { endpoint } = await w.endpoints.create(w.caller, { url: w.receiver.url });
    await w.record('payment.created', 'pay_late_log');
    await w.record('payment.completed', 'pay_late_log');
    while ((await new FanOut({ db: w.db, ids, clock }).dispatchBatch()) > 0);
    let now = new Date();
    const queue = new DeliveryQueue({
      db: w.db,
      ids,
      clock: { now: () => now },
      config: { ...fast, retrySchedule: [0, 60_000, 60_000] },
    });
    const [first] = await queue.claim(1, 1_000); // a worker whose lease lapses
    now = new Date(now.getTime() + 5_000);
    const [retry] = await queue.claim(1, 1_000); // another worker tries it again, and fails
    await queue.complete([{ delivery: retry!, startedAt: now, result: answer(500), endpointAtFault: true }]);
    await w.endpoints.update(w.caller, endpoint.id, { status: 'disabled' });
    // The first worker's late result is being logged (a key-share lock on the delivery) as the endpoint is enabled.
    const logging = new pg.Client({ connectionString: w.db.connectionString });
    await logging.connect();
    try {
      await logging.query('BEGIN');
      await logging.query(
        `INSERT INTO webhook_attempts (delivery_id, attempt, started_at, latency_ms, status_code, succeeded)
         VALUES ($1, 1, now(), 1, 200, true)`,
        [first!.id],
      );
      await w.endpoints.update(w.caller, endpoint.id, { status: 'enabled' });
      await logging.query('COMMIT');
    } finally {
      await logging.end();
    }
    const parked = await w.db.query('SELECT 1 FROM webhook_deliveries WHERE next_attempt_at IS NULL');
    assert.equal(parked.rows.length, 0, 'nothing stays parked behind an enabled endpoint');
    now = new Date(Date.now() + 3_600_000);
    assert.deepEqual(
      (await queue.claim(10, 1_000)).map((d) => d.sequence),
      [1n],
      'due again, its subject’s next one still behind it',
    );
  });

  test('a late result for a delivery already purged changes nothing, and fails none of its batch', async () => {
    const w = await world();
    await w.endpoints.create(w.caller, { url: w.receiver.url });
    await w.record('payment.created', 'pay_purged');
    await w.record('payment.created', 'pay_kept');
    while ((await new FanOut({ db: w.db, ids, clock }).dispatchBatch()) > 0);
    const queue = new DeliveryQueue({ db: w.db, ids, clock, config: fast });
    const [gone, kept] = await queue.claim(2, 60_000);
    await w.db.query('DELETE FROM webhook_deliveries WHERE id = $1', [gone!.id]);
    await queue.complete([
      { delivery: gone!, startedAt: new Date(), result: answer(200), endpointAtFault: true },
      { delivery: kept!, startedAt: new Date(), result: answer(200), endpointAtFault: true },
    ]);
    const [left] = await w.deliveries.listForEndpoint(w.operatorId, kept!.endpoint_id);
    assert.deepEqual([left!.id, left!.status], [kept!.id, 'succeeded']);
  });

  test('deliveries that ended before the retention go with their attempt logs; pending and later ones stay', async () => {
    const w = await world();
    const { endpoint } = await w.endpoints.create(w.caller, { url: w.receiver.url });
    for (const subject of ['pay_old_ok', 'pay_old_failed', 'pay_late', 'pay_pending'])
      await w.record('payment.created', subject);
    const fanOut = new FanOut({ db: w.db, ids, clock });
    while ((await fanOut.dispatchBatch()) > 0);
    const DAY = 86_400_000;
    let now = new Date();
    const queue = new DeliveryQueue({
      db: w.db,
      ids,
      clock: { now: () => now },
      config: { ...fast, retrySchedule: [0] },
    });
    const claimed = await queue.claim(3, 60_000);
    const bySubject = (subject: string) => claimed.find((d) => d.subject_id === subject)!;
    await queue.complete([
      { delivery: bySubject('pay_old_ok'), startedAt: now, result: answer(200), endpointAtFault: true },
      { delivery: bySubject('pay_old_failed'), startedAt: now, result: answer(500), endpointAtFault: true },
    ]);
    now = new Date(now.getTime() + 2 * DAY);
    await queue.complete([
      { delivery: bySubject('pay_late'), startedAt: now, result: answer(200), endpointAtFault: true },
    ]);

    // 91 days on, with 90 days kept: the first two ended 91 days ago, the third 89. One
    // at a time: batches until one comes back short.
    const purged = await purgeDeliveryLogs(w.db, new Date(Date.now() + 91 * DAY), 90 * DAY, { batch: 1 });
    assert.equal(purged, 2);
    const left = await w.deliveries.listForEndpoint(w.operatorId, endpoint.id);
    assert.deepEqual(left.map((d) => [d.subject_id, d.status]).sort(), [
      ['pay_late', 'succeeded'],
      ['pay_pending', 'pending'],
    ]);
    const { rows } = await w.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM webhook_attempts WHERE delivery_id = ANY($1)',
      [[bySubject('pay_old_ok').id, bySubject('pay_old_failed').id]],
    );
    assert.equal(rows[0]!.n, 0, 'their attempt logs went with them');
    assert.equal(await purgeDeliveryLogs(w.db, new Date(Date.now() + 91 * DAY), 90 * DAY), 0);
  });

  test('after a rotation both signatures are sent during the overlap, then only the new one', async () => {
    const w = await world();
    const created = await w.endpoints.create(w.caller, { url: w.receiver.url });
    const rotated = await w.endpoints.rotateSecret(w.operatorId, created.endpoint.id, 3_600_000);
    assert.notEqual(rotated.secret, created.secret);
    assert.match(rotated.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.ok(rotated.endpoint.previous_secret_expires_at! > new Date());
    w.receiver.secrets = [created.secret, rotated.secret];
    await w.record('session.created', 'ses_1');
    w.startWorker();

    const [first] = await eventually(
      'delivered',
      () => w.receiver.successes(),
      (r) => r.length === 1,
    );
    assert.equal(first!.signatures.length, 2);
    assert.ok(first!.signatures.every((s) => s.startsWith('v1,')));
    assert.deepEqual(first!.verifiedWith, [0, 1], 'verifies with the old secret and with the new one');

    const again = await w.endpoints.rotateSecret(w.operatorId, created.endpoint.id, 0);
    w.receiver.secrets = [created.secret, rotated.secret, again.secret];
    await w.record('session.created', 'ses_2');
    const [, second] = await eventually(
      'delivered',
      () => w.receiver.successes(),
      (r) => r.length === 2,
    );
    assert.equal(second!.signatures.length, 1);
    assert.deepEqual(second!.verifiedWith, [2], 'only the newest secret without an overlap');
  });

  test('the SSRF guard refuses private addresses at connection time when the endpoint may not use them', async () => {
    const w = await world({ retrySchedule: [0] });
    const literal = await w.endpoints.create(w.caller, { url: w.receiver.url });
    const named = await w.endpoints.create(w.caller, { url: w.receiver.url.replace('127.0.0.1', 'localhost') });
    // As if both had been registered by a live key, and DNS then moved to loopback.
    await w.db.query('UPDATE webhook_endpoints SET allow_private = false');
    await w.record('payment.created', 'pay_ssrf');
    w.startWorker();

    for (const endpoint of [literal.endpoint, named.endpoint]) {
      const [delivery] = await eventually(
        'exhausted',
        () => w.deliveries.listForEndpoint(w.operatorId, endpoint.id),
        (rows) => rows[0]?.status === 'exhausted',
      );
      const attempts = (await w.deliveries.get(w.operatorId, delivery!.id)).attempts;
      assert.equal(attempts[0]!.status_code, null);
      assert.match(attempts[0]!.error ?? '', /not a public address|may not reach/);
    }
    assert.equal(w.receiver.received.length, 0, 'nothing reached the loopback receiver');
  });

  test('an attempt retried on a connection reset late still ends within its lease: no other worker sends the delivery while it is open', async () => {
    const timeoutMs = 1_000;
    const w = await world({ timeoutMs, retrySchedule: [0, 0, 0] });
    const { endpoint, secret } = await w.endpoints.create(w.caller, { url: w.receiver.url });
    w.receiver.secrets = [secret];
    // The first request leaves a kept-alive connection. The delivery's request, sent on it, is
    // reset after most of the timeout, so the transport tries again on a fresh connection; that
    // one is held past any timeout. The next attempt is answered.
    const answers: Answer[] = [
      { status: 200 },
      { status: 0, reset: true, delayMs: 0.9 * timeoutMs },
      { status: 0, delayMs: 3 * timeoutMs },
    ];
    w.receiver.respond = (_, index) => answers[index] ?? { status: 200 };
    await w.record('payment.created', 'pay_warm_up');
    const leaseMarginMs = 200;
    w.startWorker({ leaseMarginMs });
    await eventually(
      'a kept-alive connection',
      () => w.receiver.successes().length,
      (n) => n === 1,
    );
    const event = await w.record('payment.created', 'pay_reset');
    await eventually(
      'the delivery sent',
      () => w.receiver.received.length,
      (n) => n === 2,
    );
    // Another node, there to claim the delivery the moment its lease lapses.
    w.startWorker({ leaseMarginMs });
    const [delivery] = await eventually(
      'delivered',
      () => w.deliveries.listForEndpoint(w.operatorId, endpoint.id, { eventId: event.id }),
      (rows) => rows[0]?.status === 'succeeded',
    );

    await eventually(
      'every request ended',
      () => w.receiver.received.every((r) => r.endedAt !== undefined),
      (ended) => ended,
    );
    const sends = w.receiver.received.filter((r) => r.webhookId === event.id);
    assert.equal(sends.length, 3, 'reset, its retry on a fresh connection, the next attempt');
    assert.ok(
      sends[1]!.endedAt! - sends[0]!.at < timeoutMs + leaseMarginMs,
      `the attempt, its retry included, ended within its lease (${sends[1]!.endedAt! - sends[0]!.at} ms)`,
    );
    for (let i = 1; i < sends.length; i++)
      assert.ok(sends[i]!.at >= sends[i - 1]!.endedAt!, `send ${i + 1} began after send ${i} had ended`);
    const { attempts } = await w.deliveries.get(w.operatorId, delivery!.id);
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.status_code, a.error?.split(':')[0] ?? null]),
      [
        [1, null, 'timeout'],
        [2, 200, null],
      ],
    );
  });

  test('an endpoint receives only the event types it subscribes to', async () => {
    const w = await world();
    const { secret } = await w.endpoints.create(w.caller, {
      url: w.receiver.url,
      enabled_events: ['payment.completed'],
    });
    w.receiver.secrets = [secret];
    await w.record('payment.created', 'pay_f');
    await w.record('payment.completed', 'pay_f');
    w.startWorker();
    await eventually(
      'delivered',
      () => w.receiver.successes().length,
      (n) => n === 1,
    );
    await settle();
    assert.deepEqual(
      w.receiver.received.map((r) => [r.event.type, r.event.sequence]),
      [['payment.completed', 2]],
    );
  });
});

describe('test sends, and endpoints deleted while deliveries are made for them', () => {
  test('a test send after an earlier failed one goes out at once: test sends are not ordered behind each other', async () => {
    const w = await world({ retrySchedule: [0, 3_600_000, 3_600_000] });
    const queue = new DeliveryQueue({ db: w.db, ids, clock, config: { ...fast, retrySchedule: [0, 3_600_000] } });
    const { endpoint } = await w.endpoints.create(w.caller, { url: 'http://127.0.0.1:9/hooks' });
    const first = await w.deliveries.sendTest(w.operatorId, endpoint.id);
    const [claimed] = await queue.claim(10, 60_000);
    assert.equal(claimed!.id, first.id);
    // The receiver was down: the first test is tried again in an hour.
    await queue.complete([{ delivery: claimed!, startedAt: new Date(), result: answer(500), endpointAtFault: true }]);
    // The operator fixes the receiver and sends another test: it goes now.
    const second = await w.deliveries.sendTest(w.operatorId, endpoint.id);
    assert.deepEqual(
      (await queue.claim(10, 60_000)).map((d) => d.id),
      [second.id],
    );
  });

  test('a redelivery to an endpoint deleted meanwhile makes nothing: endpoint not found, no delivery left pending', async () => {
    const w = await world();
    const { endpoint } = await w.endpoints.create(w.caller, { url: 'http://127.0.0.1:9/hooks' });
    const event = await w.record('payment.created', 'pay_deleted_meanwhile');
    await w.db.query('DELETE FROM webhook_fanout_queue');
    // The operator's delete commits between the redelivery's check of the endpoint and its insert.
    const racing = Object.create(w.endpoints) as WebhookEndpoints;
    racing.get = async (operatorId: string, id: string) => {
      const found = await w.endpoints.get(operatorId, id);
      await w.endpoints.delete(operatorId, id);
      return found;
    };
    const deliveries = new WebhookDeliveries({ db: w.db, ids, clock, endpoints: racing });
    await assert.rejects(deliveries.redeliver(w.operatorId, event.id, endpoint.id), /webhook_endpoint not found/);
    const { rows } = await w.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'",
      [endpoint.id],
    );
    assert.equal(rows[0]!.n, 0);
  });

  test('a delete waiting for deliveries being made for its endpoint cancels them too', async () => {
    const w = await world();
    const { endpoint } = await w.endpoints.create(w.caller, { url: 'http://127.0.0.1:9/hooks' });
    const event = await w.record('payment.created', 'pay_deleted_after');
    await w.db.query('DELETE FROM webhook_fanout_queue');
    let deleting: Promise<unknown> | undefined;
    await w.db.transaction(async (tx) => {
      await insertDeliveries(
        tx,
        ids,
        [
          {
            operatorId: w.operatorId,
            endpointId: endpoint.id,
            eventId: event.id,
            subjectId: event.subject_id,
            sequence: event.sequence,
          },
        ],
        'redeliver',
        new Date(),
      );
      // The delete comes while the deliveries are not yet committed: it waits for them.
      deleting = w.endpoints.delete(w.operatorId, endpoint.id);
      await settle(200);
    });
    await deleting;
    const { rows } = await w.db.query<{ status: string }>(
      'SELECT status FROM webhook_deliveries WHERE endpoint_id = $1',
      [endpoint.id],
    );
    assert.deepEqual(
      rows.map((r) => r.status),
      ['cancelled'],
    );
  });
});
