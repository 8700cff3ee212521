/**
 * `GET /metrics`: Prometheus text for the people who run the deployment, behind a token of
 * its own; this process's figures and the deployment's backlogs, read when scraped.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createIdGenerator, Database, EventLog, systemClock } from '@rampart/core';
import { FanOut } from '@rampart/webhooks';
import { buildApp, loadConfig } from '../src/index.ts';
import { errorOf, startTestApp } from './harness.ts';
import { CARD_3DS, createPayment, openForPayments } from './payment-fixtures.ts';
import { startReceiver } from './webhooks-fixtures.ts';

const TOKEN = 'metrics-token-0123456789';

/** The value of `name` (with its labels as written, e.g. `{state="parked"}`) in a scrape. */
function metric(scrape: string, name: string): number {
  const line = scrape.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in the scrape`);
  return Number(line.slice(name.length + 1));
}

describe('GET /metrics', async () => {
  const t = await startTestApp({ sandbox: true, env: { RAMPART_METRICS_TOKEN: TOKEN } });
  const scrape = async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return response.body;
  };

  test('answers only its own token: not a secret key, not a wrong one, not none', async () => {
    const none = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.deepEqual([none.statusCode, errorOf(none).code], [401, 'missing_token']);
    for (const authorization of ['Bearer not-the-token', `Bearer ${TOKEN}x`, TOKEN, t.auth.authorization]) {
      const refused = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization } });
      assert.deepEqual([refused.statusCode, errorOf(refused).code], [401, 'invalid_token'], authorization);
    }
  });

  test('a deployment without a token serves no metrics', async () => {
    const plain = await startTestApp({ database: t.db });
    const response = await plain.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(response.statusCode, 404);
  });

  test('with the database down, a scrape still answers the process’s figures, and says the backlogs are missing', async () => {
    const unreachable = new Database({ connectionString: 'postgres://nobody:x@127.0.0.1:1/none' });
    const app = await buildApp({
      config: loadConfig({ LOG_LEVEL: 'silent', RAMPART_METRICS_TOKEN: TOKEN }),
      db: unreachable,
      clock: systemClock,
      ids: createIdGenerator(),
    });
    try {
      const response = await app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(metric(response.body, 'rampart_backlog_up'), 0);
      assert.ok(metric(response.body, 'process_cpu_user_seconds_total') >= 0);
      assert.ok(!response.body.includes('rampart_webhook_deliveries{'), 'no stale or made-up backlog figures');
    } finally {
      await app.close();
      await unreachable.close();
    }
  });

  test('the process’s own figures, and every backlog gauge', async () => {
    const body = await scrape();
    for (const name of [
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'rampart_webhook_deliveries{state="due"}',
      'rampart_webhook_deliveries{state="scheduled"}',
      'rampart_webhook_deliveries{state="parked"}',
      'rampart_webhook_fanout_queue',
      'rampart_provider_events{state="waiting"}',
      'rampart_provider_events{state="set_aside"}',
      'rampart_payments_open{status="created"}',
      'rampart_payments_open{status="pending"}',
      'rampart_payments_open{status="processing"}',
      'rampart_withdrawals_in_review',
      'rampart_discrepancies_open',
      'rampart_oldest_write_transaction_seconds',
      'rampart_backlog_up',
    ])
      assert.ok(Number.isFinite(metric(body, name)), name);
  });

  test('the backlogs are what the deployment holds: events to fan out, parked deliveries, open payments', async () => {
    const before = await scrape();
    const receiver = await startReceiver();
    const endpoint = (
      await t.app.inject({
        method: 'POST',
        url: '/v1/webhook_endpoints',
        headers: t.auth,
        payload: { url: receiver.url },
      })
    ).json();
    const events = new EventLog(t.db, createIdGenerator(), systemClock);
    for (const subject of ['pay_m1', 'pay_m2', 'pay_m3'])
      await t.db.transaction((tx) =>
        events.record(tx, { operatorId: t.operatorId, type: 'payment.created', subjectId: subject, data: {} }),
      );
    assert.equal(
      metric(await scrape(), 'rampart_webhook_fanout_queue') - metric(before, 'rampart_webhook_fanout_queue'),
      3,
    );
    while ((await new FanOut({ db: t.db, ids: createIdGenerator(), clock: systemClock }).dispatchBatch()) > 0);
    const disabled = await t.app.inject({
      method: 'PATCH',
      url: `/v1/webhook_endpoints/${endpoint.id}`,
      headers: t.auth,
      payload: { status: 'disabled' },
    });
    assert.equal(disabled.statusCode, 200, disabled.body);
    const after = await scrape();
    assert.equal(metric(after, 'rampart_webhook_fanout_queue'), 0);
    assert.equal(metric(after, 'rampart_webhook_deliveries{state="parked"}'), 3);

    await openForPayments(t);
    const pending = metric(after, 'rampart_payments_open{status="pending"}');
    assert.equal(
      (await createPayment(t, { user_id: 'metered', amount: '10.00', instrument: CARD_3DS })).statusCode,
      201,
    );
    assert.equal(metric(await scrape(), 'rampart_payments_open{status="pending"}'), pending + 1, 'a 3-D Secure card');
  });

  test('the oldest write transaction’s age: what holds GET /v1/events back', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    const writing = t.db.transaction(async (tx) => {
      await tx.query('SELECT pg_current_xact_id()');
      started = true;
      await held;
    });
    try {
      while (!started) await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      assert.ok(metric(await scrape(), 'rampart_oldest_write_transaction_seconds') >= 1);
    } finally {
      release();
      await writing;
    }
    assert.ok(metric(await scrape(), 'rampart_oldest_write_transaction_seconds') < 1);
  });
});
