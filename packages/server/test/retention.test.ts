/**
 * Log retention: provider webhooks applied, and webhook deliveries ended, longer ago than
 * the configured periods are purged by this node's jobs; everything still to do is kept.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startTestApp } from './harness.ts';
import { cardWebhook, createPayment, openForPayments, travellingClock } from './payment-fixtures.ts';

const DAY = 86_400;

describe('retention', async () => {
  const clock = travellingClock();
  const t = await startTestApp({ sandbox: true, clock, env: { RAMPART_PROVIDER_EVENT_RETENTION: '30d' } });
  await openForPayments(t);
  const job = (name: string) => t.app.jobs.find((j) => j.name === name);
  const recorded = async () =>
    (await t.db.query<{ event_id: string }>('SELECT event_id FROM provider_events ORDER BY seq')).rows.map(
      (r) => r.event_id,
    );

  test('provider webhooks applied more than the period ago are purged; one set aside stays', async () => {
    const deposit = await createPayment(t, { user_id: 'kept-briefly', amount: '10.00' });
    assert.equal(deposit.json().status, 'completed', deposit.body);
    // The processor sends one more webhook, which (made to be about no payment) is set aside after its tries.
    const { deliver } = await cardWebhook(t, deposit.json().id, 'evt_set_aside');
    await deliver();
    await job('process-provider-events')!.run(); // settles the webhooks the create's answer had already applied
    await t.db.query(
      `UPDATE provider_events SET processed_at = NULL, attempts = 20, last_error = 'payment_not_found'
        WHERE event_id = 'evt_set_aside'`,
    );

    const purge = job('purge-provider-events')!;
    assert.equal(await purge.run(), 0, 'nothing is old enough yet');
    clock.advance(31 * DAY);
    const before = await recorded();
    assert.ok(before.length >= 2, 'the create’s webhook, and the one set aside');
    assert.equal(await purge.run(), before.length - 1);
    assert.deepEqual(await recorded(), ['evt_set_aside']);
  });

  test('the webhook log purge runs with the 90 days kept by default; 0 keeps both logs for good', async () => {
    assert.ok(job('purge-webhook-logs'));
    const forever = await startTestApp({
      database: t.db,
      env: { RAMPART_PROVIDER_EVENT_RETENTION: '0', RAMPART_WEBHOOK_LOG_RETENTION: '0' },
    });
    assert.deepEqual(
      forever.app.jobs
        .filter((j) => ['purge-webhook-logs', 'purge-provider-events'].includes(j.name))
        .map((j) => j.name),
      [],
    );
  });
});
