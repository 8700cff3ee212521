import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { contradicts, PAYMENT_STATUSES } from '@rampart/core';
import { errorOf, startTestApp, type TestApp } from './harness.ts';
import {
  BANK_ACCOUNT,
  balance,
  CARD_OK,
  createPayment,
  fund,
  openForPayments,
  processorSays,
  waitForStatus,
} from './payment-fixtures.ts';
import { listedEvents } from './webhooks-fixtures.ts';

async function get(t: TestApp, url: string, auth = t.auth) {
  const response = await t.app.inject({ method: 'GET', url, headers: auth });
  return { status: response.statusCode, body: response.json(), response };
}

async function eventTypes(t: TestApp, paymentId: string): Promise<string[]> {
  return (await listedEvents(t, { subject_id: paymentId })).map((e) => e.type);
}

function resolve(t: TestApp, id: string, payload: unknown, key: string, auth = t.auth) {
  return t.app.inject({
    method: 'POST',
    url: `/v1/discrepancies/${id}/resolve`,
    headers: { ...auth, 'idempotency-key': key },
    payload: payload as Record<string, unknown>,
  });
}

test('a contradiction is news that neither follows nor precedes the status, unless both ends moved nothing', () => {
  const found = PAYMENT_STATUSES.flatMap((recorded) =>
    PAYMENT_STATUSES.filter((reported) => contradicts(recorded, reported)).map(
      (reported) => `${recorded}<>${reported}`,
    ),
  );
  assert.deepEqual(found.sort(), [
    'cancelled<>completed',
    'cancelled<>processing',
    'cancelled<>reversed',
    'completed<>cancelled',
    'completed<>failed',
    'failed<>completed',
    'failed<>reversed',
    'processing<>cancelled',
    'reversed<>cancelled',
    'reversed<>failed',
  ]);
});

describe('payment discrepancies: a provider contradicting how a payment ended', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);

  /** A card deposit the processor declined: Rampart failed it and credited nothing. */
  async function declined(userId: string): Promise<string> {
    const response = await createPayment(t, {
      user_id: userId,
      amount: '40.00',
      instrument: { ...CARD_OK, card_number: '4000000000000002' },
    });
    assert.equal(errorOf(response).code, 'deposit_failed');
    return errorOf(response).details['payment_id'] as string;
  }

  test('the processor paying a deposit Rampart failed: recorded once, announced, no money moved', async () => {
    const paymentId = await declined('dsc-failed');
    await processorSays(t, paymentId, `evt_dsc_paid_${paymentId}`, 'succeeded');

    const payment = (await get(t, `/v1/payments/${paymentId}`)).body;
    assert.equal(payment.status, 'failed', 'news that contradicts an end does not move the payment');
    assert.equal(await balance(t, 'dsc-failed'), 0n, 'and credits nothing');
    const entry = payment.timeline.at(-1);
    assert.match(entry.cause, /^discrepancy: simcard reports completed/);
    assert.equal(entry.from, 'failed');
    assert.equal(entry.to, 'failed');

    const list = (await get(t, `/v1/discrepancies?payment_id=${paymentId}`)).body;
    assert.equal(list.data.length, 1);
    const discrepancy = list.data[0];
    assert.match(discrepancy.id, /^dsc_/);
    assert.deepEqual(
      {
        object: discrepancy.object,
        payment_id: discrepancy.payment_id,
        provider: discrepancy.provider,
        recorded_status: discrepancy.recorded_status,
        reported_status: discrepancy.reported_status,
        status: discrepancy.status,
        resolved_at: discrepancy.resolved_at,
        resolution: discrepancy.resolution,
      },
      {
        object: 'payment_discrepancy',
        payment_id: paymentId,
        provider: 'simcard',
        recorded_status: 'failed',
        reported_status: 'completed',
        status: 'open',
        resolved_at: null,
        resolution: null,
      },
    );
    assert.match(discrepancy.source, new RegExp(`evt_dsc_paid_${paymentId}`));
    const { rows: recorded } = await t.db.query(
      'SELECT data FROM payment_transitions WHERE payment_id = $1 ORDER BY seq DESC LIMIT 1',
      [paymentId],
    );
    assert.deepEqual(recorded[0]!.data, { discrepancy_id: discrepancy.id }, 'the timeline entry names it');

    const events = await listedEvents(t, { subject_id: paymentId, type: 'payment.discrepancy' });
    assert.equal(events.length, 1);
    assert.equal(events[0].data.discrepancy.id, discrepancy.id);
    assert.equal(events[0].data.payment.status, 'failed');

    // The same news again, under another event id: nothing new is recorded or announced.
    await processorSays(t, paymentId, `evt_dsc_paid_again_${paymentId}`, 'succeeded');
    assert.equal((await get(t, `/v1/discrepancies?payment_id=${paymentId}`)).body.data.length, 1);
    assert.equal((await eventTypes(t, paymentId)).filter((type) => type === 'payment.discrepancy').length, 1);
    assert.equal(await balance(t, 'dsc-failed'), 0n);
  });

  test('the processor failing a deposit Rampart completed: recorded, and the credit stays until the operator acts', async () => {
    const response = await createPayment(t, { user_id: 'dsc-completed', amount: '30.00' });
    assert.equal(response.statusCode, 201, response.body);
    const paymentId = response.json().id as string;
    assert.equal(response.json().status, 'completed');

    // Late news of earlier steps is no contradiction: nothing is recorded for it.
    await processorSays(t, paymentId, `evt_dsc_late_${paymentId}`, 'processing');
    await processorSays(t, paymentId, `evt_dsc_late3ds_${paymentId}`, 'requires_action');
    assert.equal((await get(t, `/v1/discrepancies?payment_id=${paymentId}`)).body.data.length, 0);

    await processorSays(t, paymentId, `evt_dsc_undone_${paymentId}`, 'failed');
    const payment = (await get(t, `/v1/payments/${paymentId}`)).body;
    assert.equal(payment.status, 'completed');
    assert.equal(await balance(t, 'dsc-completed'), 3000n);
    const [discrepancy] = (await get(t, `/v1/discrepancies?payment_id=${paymentId}`)).body.data;
    assert.equal(discrepancy.recorded_status, 'completed');
    assert.equal(discrepancy.reported_status, 'failed');
    assert.deepEqual(
      (await eventTypes(t, paymentId)).filter((type) => type.startsWith('payment.')),
      ['payment.created', 'payment.completed', 'payment.discrepancy'],
    );
  });

  test('a payout the processor reports paid after it failed: recorded, and the freed money is not taken back', async () => {
    await fund(t, 'dsc-payout', '50.00');
    // 5 cents: the processor accepts the payout, then fails it.
    const response = await createPayment(t, {
      user_id: 'dsc-payout',
      kind: 'withdrawal',
      method: 'bank',
      provider: 'simcard',
      amount: '20.05',
      instrument: BANK_ACCOUNT,
    });
    assert.equal(response.statusCode, 201, response.body);
    const paymentId = response.json().id as string;
    await waitForStatus(t, paymentId, ['failed']);
    assert.equal(await balance(t, 'dsc-payout'), 5000n, 'the failed payout debited nothing');

    await processorSays(t, paymentId, `evt_dsc_payout_${paymentId}`, 'paid');
    assert.equal((await get(t, `/v1/payments/${paymentId}`)).body.status, 'failed');
    assert.equal(await balance(t, 'dsc-payout'), 5000n);
    const [discrepancy] = (await get(t, `/v1/discrepancies?payment_id=${paymentId}`)).body.data;
    assert.deepEqual(
      [discrepancy.recorded_status, discrepancy.reported_status, discrepancy.provider],
      ['failed', 'completed', 'simcard'],
    );
    const events = await listedEvents(t, { subject_id: paymentId, type: 'payment.discrepancy' });
    assert.equal(events[0].data.payment.kind, 'withdrawal');
  });

  test('a processor cancelling a payment Rampart failed is no discrepancy: neither moved money', async () => {
    const paymentId = await declined('dsc-both-ended');
    await processorSays(t, paymentId, `evt_dsc_canceled_${paymentId}`, 'canceled');
    assert.equal((await get(t, `/v1/discrepancies?payment_id=${paymentId}`)).body.data.length, 0);
  });

  test('the operator lists open ones, resolves each once with a note, and sees it resolved', async () => {
    const first = await declined('dsc-queue-1');
    const second = await declined('dsc-queue-2');
    await processorSays(t, first, `evt_dsc_q1_${first}`, 'succeeded');
    await processorSays(t, second, `evt_dsc_q2_${second}`, 'succeeded');

    const page = (await get(t, '/v1/discrepancies?status=open&limit=1')).body;
    assert.equal(page.data.length, 1);
    assert.equal(page.has_more, true);
    assert.equal(page.data[0].payment_id, second, 'newest first');
    const next = (await get(t, `/v1/discrepancies?status=open&limit=1&starting_after=${page.next_cursor}`)).body;
    assert.equal(next.data[0].payment_id, first);
    const target = page.data[0];

    const resolved = await resolve(t, target.id, { resolution: '  Refunded at the processor, ref R-1.  ' }, 'res-1');
    assert.equal(resolved.statusCode, 200, resolved.body);
    assert.equal(resolved.json().status, 'resolved');
    assert.equal(resolved.json().resolution, 'Refunded at the processor, ref R-1.');
    assert.ok(Date.parse(resolved.json().resolved_at) >= Date.parse(target.detected_at));
    const fetched = (await get(t, `/v1/discrepancies/${target.id}`)).body;
    assert.equal(fetched.status, 'resolved');

    const open = (await get(t, '/v1/discrepancies?status=open&limit=100')).body.data as { id: string }[];
    assert.ok(!open.some((d) => d.id === target.id));
    const done = (await get(t, '/v1/discrepancies?status=resolved&limit=100')).body.data as { id: string }[];
    assert.ok(done.some((d) => d.id === target.id));
    const events = await listedEvents(t, { subject_id: second, type: 'payment.discrepancy_resolved' });
    assert.equal(events.length, 1);
    assert.equal(events[0].data.discrepancy.resolution, 'Refunded at the processor, ref R-1.');

    // A replay of the same request answers the same; a second resolution is refused.
    const replay = await resolve(t, target.id, { resolution: '  Refunded at the processor, ref R-1.  ' }, 'res-1');
    assert.equal(replay.statusCode, 200);
    assert.equal(replay.json().resolved_at, resolved.json().resolved_at);
    const again = await resolve(t, target.id, { resolution: 'Something else.' }, 'res-2');
    assert.equal(again.statusCode, 412);
    const error = errorOf(again);
    assert.equal(error.code, 'illegal_state_transition');
    assert.equal(error.retryable, false);
    assert.deepEqual(error.details, { resource: 'discrepancy', from: 'resolved', to: 'resolved' });
    assert.equal(
      (await get(t, `/v1/discrepancies/${target.id}`)).body.resolution,
      'Refunded at the processor, ref R-1.',
    );
  });

  test('bad input, an unknown id, a read-only key and another operator get catalog errors', async () => {
    const paymentId = await declined('dsc-guard');
    await processorSays(t, paymentId, `evt_dsc_guard_${paymentId}`, 'succeeded');
    const [discrepancy] = (await get(t, `/v1/discrepancies?payment_id=${paymentId}`)).body.data;

    const missing = await resolve(t, discrepancy.id, {}, 'bad-missing');
    assert.equal(missing.statusCode, 400);
    assert.equal(errorOf(missing).code, 'missing_parameter');
    assert.match(JSON.stringify(errorOf(missing).details), /resolution/);
    for (const payload of [
      { resolution: '' },
      { resolution: '   ' },
      { resolution: 'x'.repeat(501) },
      { resolution: 7 },
    ]) {
      const response = await resolve(t, discrepancy.id, payload, `bad-${JSON.stringify(payload).length}`);
      assert.equal(response.statusCode, 400, JSON.stringify(payload));
      assert.equal(errorOf(response).code, 'validation_error');
    }
    const listBad = await get(t, '/v1/discrepancies?status=closed');
    assert.equal(listBad.status, 400);
    assert.equal(errorOf(listBad.response).code, 'validation_error');

    const unknown = await get(t, '/v1/discrepancies/dsc_nope');
    assert.equal(unknown.status, 404);
    assert.deepEqual(errorOf(unknown.response).details, { resource: 'discrepancy' });
    assert.equal(errorOf(await resolve(t, 'dsc_nope', { resolution: 'x' }, 'res-unknown')).code, 'resource_not_found');

    const readOnly = (
      await t.app.inject({ method: 'POST', url: '/v1/keys', headers: t.auth, payload: { scope: 'read_only' } })
    ).json().secret as string;
    const readOnlyAuth = { authorization: `Bearer ${readOnly}` };
    assert.equal((await get(t, `/v1/discrepancies/${discrepancy.id}`, readOnlyAuth)).status, 200);
    const refused = await resolve(t, discrepancy.id, { resolution: 'x' }, 'res-ro', readOnlyAuth);
    assert.equal(refused.statusCode, 403);
    assert.equal(errorOf(refused).code, 'insufficient_scope');

    const other = await t.operators.create({ name: 'Other Operator' });
    const otherAuth = { authorization: `Bearer ${other.key.secret}` };
    assert.equal((await get(t, '/v1/discrepancies', otherAuth)).body.data.length, 0);
    const hidden = await get(t, `/v1/discrepancies/${discrepancy.id}`, otherAuth);
    assert.equal(hidden.status, 404);
    assert.equal(errorOf(hidden.response).code, 'resource_not_found');
    const notTheirs = await resolve(t, discrepancy.id, { resolution: 'x' }, 'res-other', otherAuth);
    assert.equal(notTheirs.statusCode, 404);
    assert.equal((await get(t, `/v1/discrepancies/${discrepancy.id}`)).body.status, 'open');
  });
});
