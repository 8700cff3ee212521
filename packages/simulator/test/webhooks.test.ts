import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { DEFAULT_WEBHOOK_SECRETS, verifySignature } from '../src/index.ts';
import { eventually, startTestSimulator, WebhookReceiver } from './harness.ts';

const t = await startTestSimulator();

let references = 0;
/** One bank payment = one PAYMENT_STATUS_CHANGED webhook; returns its payment id. */
async function bankEvent(): Promise<string> {
  const answer = await t.call('bank', 'POST', '/bank/v1/payments', {
    amount: '10.00',
    currency: 'USD',
    merchant_reference: `wh_${++references}`,
    return_url: 'https://operator.example/r',
  });
  assert.equal(answer.status, 201);
  return answer.body.payment_id;
}
const paymentIdOf = (body: Record<string, unknown>) => (body['data'] as { payment_id: string }).payment_id;
const forPayment = (id: string) => t.receiver.received.filter((w) => w.path === '/bank' && paymentIdOf(w.body) === id);

function parseSignature(header: string): { t: number; v1: string } {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]));
  return { t: Number(parts['t']), v1: parts['v1']! };
}

describe('webhook signatures', () => {
  test('every delivery carries x-sim-signature t=…,v1=HMAC-SHA256(secret, "t.body") over the exact bytes', async () => {
    const id = await bankEvent();
    const delivery = await eventually(() => forPayment(id)[0]);
    const header = delivery.headers['x-sim-signature'] as string;
    assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
    const { t: timestamp, v1 } = parseSignature(header);
    const expected = createHmac('sha256', DEFAULT_WEBHOOK_SECRETS.bank)
      .update(`${timestamp}.${delivery.raw}`)
      .digest('hex');
    assert.equal(v1, expected);
    assert.ok(Math.abs(Date.now() / 1000 - timestamp) < 300);
    assert.equal(delivery.headers['content-type'], 'application/json');
  });

  test('the exported verifier accepts the real delivery and rejects a tampered body or another secret', async () => {
    const id = await bankEvent();
    const delivery = await eventually(() => forPayment(id)[0]);
    const header = delivery.headers['x-sim-signature'] as string;
    const nowSeconds = Math.floor(Date.now() / 1000);
    assert.equal(verifySignature(header, delivery.raw, DEFAULT_WEBHOOK_SECRETS.bank, { nowSeconds }), true);
    assert.equal(
      verifySignature(header, delivery.raw.replace('10.00', '99.00'), DEFAULT_WEBHOOK_SECRETS.bank, { nowSeconds }),
      false,
    );
    assert.equal(verifySignature(header, delivery.raw, 'whsec_other', { nowSeconds }), false);
    assert.equal(
      verifySignature(header, delivery.raw, DEFAULT_WEBHOOK_SECRETS.bank, { nowSeconds: nowSeconds + 3600 }),
      false,
    );
  });

  test('configured secrets sign each provider, and the timestamp is wall time even after time travel', async () => {
    const receiver = await new WebhookReceiver().start();
    const local = await startTestSimulator({
      secrets: { kyc: 'whsec_custom_kyc' },
      webhookTargets: { kyc: `${receiver.url}/kyc` },
    });
    local.advance(45 * 86_400);
    await local.call('kyc', 'POST', '/kyc/v1/applicants', {
      externalUserId: 'sig-1',
      firstName: 'A',
      lastName: 'B',
      email: 'a@example.com',
      dob: '1990-01-01',
      country: 'US',
    });
    const delivery = await eventually(() => receiver.received[0]);
    const { t: timestamp, v1 } = parseSignature(delivery.headers['x-sim-signature'] as string);
    assert.equal(v1, createHmac('sha256', 'whsec_custom_kyc').update(`${timestamp}.${delivery.raw}`).digest('hex'));
    assert.ok(Math.abs(Date.now() / 1000 - timestamp) < 300, 'signed with wall time, not simulated time');
    assert.ok(Date.parse(String(delivery.body['createdAt'])) > Date.now() + 44 * 86_400_000, 'event time is simulated');
    await receiver.close();
  });
});

describe('webhook delivery', () => {
  test('every event has a unique event id', async () => {
    for (let i = 0; i < 5; i++) await bankEvent();
    t.advance(3600);
    await eventually(() => t.sim.admin.webhooksIdle());
    const ids = t.sim.admin.webhooks({ provider: 'bank' }).map((d) => d.event_id);
    assert.ok(ids.length >= 10);
    assert.equal(new Set(ids).size, ids.length);
  });

  test('a receiver that fails is retried until it accepts: same event, same bytes, fresh signature', async () => {
    t.receiver.failNext(500, 503);
    const id = await bankEvent();
    const attempts = await eventually(() => {
      const seen = forPayment(id);
      return seen.length === 3 && seen;
    });
    assert.deepEqual(
      attempts.map((a) => a.status),
      [500, 503, 200],
    );
    assert.equal(new Set(attempts.map((a) => a.raw)).size, 1);
    const record = await eventually(() => {
      const found = t.sim.admin.webhooks({ provider: 'bank' }).find((d) => paymentIdOf(d.payload as never) === id);
      return found?.state === 'delivered' && found;
    });
    assert.deepEqual(
      record.attempts.map((a) => a.status),
      [500, 503, 200],
    );
  });

  test('delivery gives up after 5 attempts (4 retries) and records the delivery as failed', async () => {
    t.receiver.failNext(500, 500, 500, 500, 500);
    const id = await bankEvent();
    const record = await eventually(() => {
      const found = t.sim.admin.webhooks({ provider: 'bank' }).find((d) => paymentIdOf(d.payload as never) === id);
      return found?.state === 'failed' && found;
    });
    assert.equal(record.attempts.length, 5);
    assert.equal(forPayment(id).length, 5);
  });

  test('an unreachable receiver is retried and recorded with the connection error', async () => {
    const dead = await new WebhookReceiver().start();
    await dead.close();
    const local = await startTestSimulator({ webhookTargets: { bank: `${dead.url}/bank` } });
    await local.call('bank', 'POST', '/bank/v1/payments', {
      amount: '10.00',
      currency: 'USD',
      merchant_reference: 'dead',
      return_url: 'https://operator.example/r',
    });
    const record = await eventually(() => {
      const found = local.sim.admin.webhooks()[0];
      return found?.state === 'failed' && found;
    });
    assert.equal(record.attempts.length, 5);
    assert.ok(record.attempts.every((a) => a.status === null && a.error));
  });

  test('a provider without a target records its events as no_target; a target set over the admin API receives them', async () => {
    assert.equal((await t.admin('DELETE', '/admin/webhook-targets/bank')).status, 204);
    const lost = await bankEvent();
    const record = t.sim.admin.webhooks({ provider: 'bank' }).find((d) => paymentIdOf(d.payload as never) === lost);
    assert.equal(record?.state, 'no_target');
    const put = await t.admin('PUT', '/admin/webhook-targets/bank', { url: `${t.receiver.url}/bank` });
    assert.equal(put.body.targets.bank, `${t.receiver.url}/bank`);
    const id = await bankEvent();
    await eventually(() => forPayment(id)[0]);
    assert.equal(forPayment(lost).length, 0);
  });

  test("a receiver stuck on one payment holds back that payment's later events, and no other payment's", async () => {
    // A receiver that does not answer deliveries about the first payment until released.
    let stuck = '';
    const held: ServerResponse[] = [];
    const arrived: { payment: string; type: string }[] = [];
    const receiver = createServer((request, response) => {
      let raw = '';
      request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      request.on('end', () => {
        const body = JSON.parse(raw) as Record<string, unknown>;
        const payment = paymentIdOf(body);
        arrived.push({ payment, type: String((body['data'] as { status: string }).status) });
        if (payment === stuck) held.push(response);
        else response.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const local = await startTestSimulator({
      webhookTargets: { bank: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/bank` },
    });
    const create = async (reference: string) => {
      const answer = await local.call('bank', 'POST', '/bank/v1/payments', {
        amount: '10.00',
        currency: 'USD',
        merchant_reference: reference,
        return_url: 'https://operator.example/r',
      });
      return answer.body.payment_id as string;
    };
    try {
      stuck = await create('stuck');
      await eventually(() => held.length === 1);
      local.advance(3600); // the stuck payment's next status change: its event waits behind the first
      const other = await create('other');
      await eventually(() => arrived.some((a) => a.payment === other));
      assert.equal(arrived.filter((a) => a.payment === stuck).length, 1, 'the later event waits for the first');
      held[0]!.end('ok');
      const stuckEvents = await eventually(() => {
        const seen = arrived.filter((a) => a.payment === stuck);
        return seen.length === 2 && seen;
      });
      assert.equal(stuckEvents[0]!.type, 'PENDING_AUTHORIZATION', 'in the order they happened');
      assert.notEqual(stuckEvents[1]!.type, 'PENDING_AUTHORIZATION');
    } finally {
      for (const response of held) response.end('ok');
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  test('GET /admin/webhooks lists deliveries with attempts and payload', async () => {
    const id = await bankEvent();
    await eventually(() => forPayment(id)[0]);
    const listed = await t.admin('GET', '/admin/webhooks?provider=bank');
    const delivery = listed.body.webhooks.find(
      (d: { payload: Record<string, unknown> }) => paymentIdOf(d.payload) === id,
    );
    assert.equal(delivery.type, 'PAYMENT_STATUS_CHANGED:PENDING_AUTHORIZATION');
    assert.equal(delivery.url, `${t.receiver.url}/bank`);
    assert.equal(delivery.attempts[0].status, 200);
  });
});

describe('webhook faults', () => {
  test('duplicate_webhooks sends each event twice with the same event id and body', async () => {
    t.sim.admin.addFault({ provider: 'bank', kind: 'duplicate_webhooks', count: 1 });
    const doubled = await bankEvent();
    const single = await bankEvent();
    const copies = await eventually(() => {
      const seen = forPayment(doubled);
      return seen.length === 2 && seen;
    });
    assert.equal(copies[0]!.body['notification_id'], copies[1]!.body['notification_id']);
    assert.equal(copies[0]!.raw, copies[1]!.raw);
    await eventually(() => forPayment(single).length === 1);
    await eventually(() => t.sim.admin.webhooksIdle());
    assert.equal(forPayment(single).length, 1);
  });

  test('reorder_webhooks holds a batch and delivers it newest first', async () => {
    t.sim.admin.addFault({ provider: 'bank', kind: 'reorder_webhooks', batch: 3, count: 3 });
    const emitted = [await bankEvent(), await bankEvent(), await bankEvent()];
    const received = await eventually(() => {
      const order = t.receiver.received
        .filter((w) => w.path === '/bank' && emitted.includes(paymentIdOf(w.body)))
        .map((w) => paymentIdOf(w.body));
      return order.length === 3 && order;
    });
    assert.deepEqual(received, [...emitted].reverse());
  });

  test('a reorder batch that never fills is still sent after hold_ms', async () => {
    t.sim.admin.addFault({ provider: 'bank', kind: 'reorder_webhooks', batch: 50, hold_ms: 100, count: 1 });
    const id = await bankEvent();
    assert.equal(t.sim.admin.webhooks({ provider: 'bank' }).at(-1)!.state, 'held');
    await eventually(() => forPayment(id)[0], 3000);
  });

  test('POST /admin/webhooks/flush releases held events at once', async () => {
    t.sim.admin.addFault({ provider: 'bank', kind: 'reorder_webhooks', batch: 50, hold_ms: 60_000, count: 2 });
    const first = await bankEvent();
    const second = await bankEvent();
    assert.equal(forPayment(first).length + forPayment(second).length, 0);
    await t.admin('POST', '/admin/webhooks/flush', { provider: 'bank' });
    const order = await eventually(() => {
      const seen = t.receiver.received
        .filter((w) => w.path === '/bank' && [first, second].includes(paymentIdOf(w.body)))
        .map((w) => paymentIdOf(w.body));
      return seen.length === 2 && seen;
    });
    assert.deepEqual(order, [second, first]);
  });
});
