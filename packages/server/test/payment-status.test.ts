import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { errorOf, startTestApp } from './harness.ts';
import { CARD_3DS, createPayment, openForPayments, passChallenge, waitForStatus } from './payment-fixtures.ts';
import { widgetCall, widgetSession } from './widget-fixtures.ts';

/** A message of the payment stream. */
interface Message {
  type: string;
  payment?: { status: string };
  error?: { code: string };
}

/** Collects the JSON messages of a WebSocket until `done` says enough. */
function collect(socket: WebSocket, done: (messages: Message[]) => boolean) {
  const messages: Message[] = [];
  return new Promise<typeof messages>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${JSON.stringify(messages)}`)), 10_000);
    socket.on('message', (data) => {
      messages.push(JSON.parse(String(data)));
      if (done(messages)) {
        clearTimeout(timer);
        resolve(messages);
      }
    });
    socket.on('error', reject);
  });
}

describe('payment status by WebSocket and through the widget', async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);

  test('a WebSocket stream sends the current status, then every change, with the REST status enum', async () => {
    const payment = (
      await createPayment(t, {
        user_id: 'ws',
        amount: '20.00',
        instrument: CARD_3DS,
      })
    ).json();
    const socket = new WebSocket(`${t.url!.replace('http', 'ws')}/v1/payments/stream?payment_id=${payment.id}`, {
      headers: t.auth,
    });
    const received = collect(socket, (m) => m.some((x) => x.payment?.status === 'completed'));
    await new Promise((resolve) => socket.once('open', resolve));
    await new Promise((r) => setTimeout(r, 100));
    await passChallenge(payment);
    const messages = await received;
    socket.close();
    assert.equal(messages[0]!.payment!.status, 'pending');
    assert.equal(messages.at(-1)!.payment!.status, 'completed');
    assert.ok(messages.every((m) => m.type === 'payment.status'));
  });

  test('a WebSocket stream ends once the key it was opened with is revoked: nothing more reaches it', async () => {
    const issued = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: t.auth, payload: {} });
    assert.equal(issued.statusCode, 201, issued.body);
    const { key, secret } = issued.json() as { key: { id: string }; secret: string };
    const socket = new WebSocket(`${t.url!.replace('http', 'ws')}/v1/payments/stream?user_id=revoked-stream`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    const received: Message[] = [];
    socket.on('message', (data) => received.push(JSON.parse(String(data))));
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    await new Promise((resolve) => socket.once('open', resolve));
    await new Promise((r) => setTimeout(r, 100));
    const revoked = await t.app.inject({ method: 'POST', url: `/v1/keys/${key.id}/revoke`, headers: t.auth });
    assert.equal(revoked.statusCode, 200, revoked.body);
    // The user's next payment, made with another key, changes status: the stream is closed, not told.
    const payment = (
      await createPayment(t, { user_id: 'revoked-stream', amount: '21.00', instrument: CARD_3DS })
    ).json();
    await passChallenge(payment);
    await waitForStatus(t, payment.id, ['completed']);
    const stillOpen = new Promise<string>((r) => setTimeout(() => r('still open'), 5_000));
    assert.equal(await Promise.race([closed, stillOpen]), 1008);
    socket.close();
    assert.deepEqual(
      received.map((m) => [m.type, m.error?.code ?? m.payment?.status]),
      [['error', 'token_revoked']],
    );
  });

  test('a WebSocket without a valid key is refused', async () => {
    const socket = new WebSocket(`${t.url!.replace('http', 'ws')}/v1/payments/stream?user_id=x`);
    const status = await new Promise<number>((resolve) =>
      socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
    );
    assert.equal(status, 401);
  });

  test('the widget cannot set the operator’s own reference or metadata', async () => {
    const { widget } = await widgetSession(t, { user_id: 'squatter', operation: 'deposit' });
    for (const [field, value] of [
      ['reference', 'order-9'],
      ['metadata', { bonus: 'yes' }],
    ] as const) {
      const response = await widgetCall(t, widget, '/widget/v1/payments', {
        method: 'bank',
        amount: '12.00',
        currency: 'USD',
        [field]: value,
      });
      assert.equal(response.statusCode, 400, response.body);
      assert.equal(errorOf(response).code, 'validation_error');
      assert.match(JSON.stringify(errorOf(response).details['issues']), new RegExp(field));
    }
  });

  test('a deposit started in the widget that has not completed answers deposit_not_completed on finalize', async () => {
    const { widget } = await widgetSession(t, {
      user_id: 'widget-user',
      operation: 'deposit',
      currency: 'USD',
      amount: '30.00',
      locks: { amount: true },
      redirect_url: 'https://operator.example/done',
    });
    const locked = await widgetCall(t, widget, '/widget/v1/payments', {
      method: 'bank',
      amount: '31.00',
      currency: 'USD',
    });
    assert.equal(errorOf(locked).code, 'invalid_value', 'the operator locked the amount');
    const elsewhere = await widgetCall(t, widget, '/widget/v1/payments', {
      method: 'bank',
      amount: '30.00',
      currency: 'USD',
      return_url: 'https://phish.example/back',
    });
    assert.equal(elsewhere.statusCode, 422, elsewhere.body);
    assert.deepEqual(
      [errorOf(elsewhere).code, errorOf(elsewhere).details['field']],
      ['invalid_value', 'return_url'],
      'the provider sends the user back only to the operator’s origin',
    );
    const started = await widgetCall(t, widget, '/widget/v1/payments', {
      method: 'bank',
      amount: '30.00',
      currency: 'USD',
      return_url: 'https://operator.example/back',
    });
    assert.equal(started.statusCode, 201, started.body);
    const payment = started.json();
    assert.equal(payment.status, 'pending');
    assert.match(payment.next_action.url, /\/bank\/authorize\//);
    const early = await widgetCall(t, widget, `/widget/v1/payments/${payment.id}/finalize`);
    assert.equal(early.statusCode, 409);
    const error = errorOf(early);
    assert.equal(error.code, 'deposit_not_completed');
    assert.equal(error.retryable, false);

    // The user approves at the (fake) bank; the bank settles; the widget finalizes.
    const bank = await fetch(payment.next_action.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=ada&password=pw&decision=approve',
      redirect: 'manual',
    });
    assert.equal(bank.status, 303);
    await waitForStatus(t, payment.id, ['completed']);
    const final = await widgetCall(t, widget, `/widget/v1/payments/${payment.id}/finalize`);
    assert.equal(final.statusCode, 200);
    assert.equal(final.json().status, 'completed');
  });

  test('a deposit the user declines at the bank answers deposit_failed on finalize', async () => {
    const { widget } = await widgetSession(t, { user_id: 'decliner', operation: 'deposit' });
    const payment = (
      await widgetCall(t, widget, '/widget/v1/payments', { method: 'bank', amount: '12.00', currency: 'USD' })
    ).json();
    await fetch(payment.next_action.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'decision=decline',
      redirect: 'manual',
    });
    await waitForStatus(t, payment.id, ['failed']);
    const response = await widgetCall(t, widget, `/widget/v1/payments/${payment.id}/finalize`);
    assert.equal(response.statusCode, 402);
    assert.equal(errorOf(response).code, 'deposit_failed');
  });

  test('the widget cannot read another session’s payment', async () => {
    const mine = (await createPayment(t, { user_id: 'someone', amount: '5.00' })).json();
    const { widget } = await widgetSession(t, { user_id: 'someone' });
    const response = await t.app.inject({ method: 'GET', url: `/widget/v1/payments/${mine.id}`, headers: widget });
    assert.equal(response.statusCode, 404);
    assert.equal(errorOf(response).code, 'payment_not_found');
  });
});
