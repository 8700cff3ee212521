import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, startTestSimulator, submitPage } from './harness.ts';

const t = await startTestSimulator();
const HOUR = 3600;
const DAY = 24 * HOUR;

let customers = 0;
function pay(number: string, amount = 2500, extra: Record<string, unknown> = {}) {
  return t.call('cards', 'POST', '/cards/v1/payments', {
    amount,
    currency: 'usd',
    payment_method: { type: 'card', card: { number, exp_month: 12, exp_year: 2099, cvc: '123' } },
    customer: { id: `cus_${++customers}`, email: `user${customers}@example.com` },
    return_url: 'https://operator.example/3ds-return',
    ...extra,
  });
}
const getPayment = async (id: string) => (await t.call('cards', 'GET', `/cards/v1/payments/${id}`)).body;

describe('card payments: magic card numbers', () => {
  for (const number of ['4242424242424242', '5555555555554444']) {
    test(`${number} is authorised and captured: 201 succeeded`, async () => {
      const answer = await pay(number);
      assert.equal(answer.status, 201);
      assert.match(answer.body.id, /^pay_/);
      assert.equal(answer.body.status, 'succeeded');
      assert.equal(answer.body.amount_captured, 2500);
      assert.equal(answer.body.payment_method.card.last4, number.slice(-4));
    });
  }

  const declines: [string, string][] = [
    ['4000000000000002', 'generic_decline'],
    ['4000000000009995', 'insufficient_funds'],
    ['4000000000000036', 'do_not_honor'],
    ['4000000000000069', 'expired_card'],
    ['4000000000009979', 'stolen_card'],
    ['4000000000009987', 'lost_card'],
    ['4000000000004954', 'fraudulent'],
    ['4000000000000127', 'incorrect_cvc'],
  ];
  for (const [number, declineCode] of declines) {
    test(`${number} is declined: 402 card_declined / ${declineCode}, and the failed payment is retrievable`, async () => {
      const answer = await pay(number);
      assert.equal(answer.status, 402);
      assert.equal(answer.body.error.type, 'card_error');
      assert.equal(answer.body.error.code, 'card_declined');
      assert.equal(answer.body.error.decline_code, declineCode);
      const payment = await getPayment(answer.body.error.payment.id);
      assert.equal(payment.status, 'failed');
      assert.equal(payment.decline_code, declineCode);
    });
  }

  test('4000000000000119 fails with 402 processing_error', async () => {
    const answer = await pay('4000000000000119');
    assert.equal(answer.status, 402);
    assert.equal(answer.body.error.code, 'processing_error');
  });

  test('4100000000000019 is a fraud block: 423 customer_blocked, and the customer stays blocked on a good card', async () => {
    const customer = { id: 'cus_fraudster', email: 'someone@example.com' };
    const blocked = await pay('4100000000000019', 2500, { customer });
    assert.equal(blocked.status, 423);
    assert.equal(blocked.body.error.code, 'customer_blocked');
    const retry = await pay('4242424242424242', 2500, { customer });
    assert.equal(retry.status, 423);
    const debit = await t.call('cards', 'POST', '/cards/v1/ach_debits', {
      amount: 1000,
      currency: 'usd',
      bank_account: { routing_number: '110000000', account_number: '000123456789', account_holder_name: 'X' },
      customer,
    });
    assert.equal(debit.status, 423);
  });

  test('a number failing the Luhn check is 402 incorrect_number; a past expiry is 402 expired_card', async () => {
    const luhn = await pay('4242424242424241');
    assert.equal(luhn.status, 402);
    assert.equal(luhn.body.error.code, 'incorrect_number');
    const expired = await t.call('cards', 'POST', '/cards/v1/payments', {
      amount: 1000,
      currency: 'usd',
      payment_method: { type: 'card', card: { number: '4242424242424242', exp_month: 1, exp_year: 2020, cvc: '123' } },
    });
    assert.equal(expired.status, 402);
    assert.equal(expired.body.error.decline_code, 'expired_card');
  });
});

describe('card payments: 3-D Secure', () => {
  test('4000000000003220 requires action; passing the challenge page succeeds and redirects to return_url', async () => {
    const answer = await pay('4000000000003220');
    assert.equal(answer.status, 201);
    assert.equal(answer.body.status, 'requires_action');
    assert.equal(answer.body.next_action.type, 'redirect_to_url');
    const { page, submitted, html } = await submitPage(answer.body.next_action.redirect_url, {
      name: 'result',
      value: 'pass',
    });
    assert.equal(page.status, 200);
    assert.match(html, /value="fail"/);
    assert.equal(submitted.status, 303);
    const location = new URL(submitted.headers.get('location')!);
    assert.equal(location.searchParams.get('status'), 'succeeded');
    const payment = await getPayment(answer.body.id);
    assert.equal(payment.status, 'succeeded');
    assert.equal(payment.payment_method.card.three_d_secure, 'authenticated');
  });

  test('failing the challenge fails the payment with authentication_failed', async () => {
    const answer = await pay('4000000000003220');
    await submitPage(answer.body.next_action.redirect_url, { name: 'result', value: 'fail' });
    const payment = await getPayment(answer.body.id);
    assert.equal(payment.status, 'failed');
    assert.equal(payment.failure_code, 'authentication_failed');
  });

  test('amount …06 with the 3-D Secure card: the challenge page fails to load with 500', async () => {
    const answer = await pay('4000000000003220', 2506);
    assert.equal(answer.body.status, 'requires_action');
    assert.equal((await fetch(answer.body.next_action.redirect_url)).status, 500);
  });

  test('amount …01 with the 3-D Secure card: authenticated, then declined for insufficient funds', async () => {
    const answer = await pay('4000000000003220', 2501);
    await submitPage(answer.body.next_action.redirect_url, { name: 'result', value: 'pass' });
    const payment = await getPayment(answer.body.id);
    assert.equal(payment.status, 'failed');
    assert.equal(payment.decline_code, 'insufficient_funds');
  });
});

describe('card payments: magic amounts', () => {
  test('…01 declines any card with insufficient_funds', async () => {
    const answer = await pay('4242424242424242', 401);
    assert.equal(answer.status, 402);
    assert.equal(answer.body.error.decline_code, 'insufficient_funds');
  });

  test('…02 answers 500 api_error once; the retry succeeds', async () => {
    const body = {
      amount: 402,
      currency: 'usd',
      payment_method: { type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2099, cvc: '123' } },
    };
    const first = await t.call('cards', 'POST', '/cards/v1/payments', body, { idempotencyKey: 'cards-once' });
    assert.equal(first.status, 500);
    assert.equal(first.body.error.type, 'api_error');
    const second = await t.call('cards', 'POST', '/cards/v1/payments', body, { idempotencyKey: 'cards-once' });
    assert.equal(second.status, 201);
  });

  test('…03 answers 500 every time', async () => {
    assert.equal((await pay('4242424242424242', 403)).status, 500);
    assert.equal((await pay('4242424242424242', 403)).status, 500);
  });

  test('…04 stays processing forever', async () => {
    const answer = await pay('4242424242424242', 404);
    assert.equal(answer.body.status, 'processing');
    t.advance(30 * 24 * HOUR);
    assert.equal((await getPayment(answer.body.id)).status, 'processing');
  });

  test('…05 is processing, then failed after the settle delay', async () => {
    const answer = await pay('4242424242424242', 405);
    assert.equal(answer.body.status, 'processing');
    t.advance(HOUR);
    const payment = await getPayment(answer.body.id);
    assert.equal(payment.status, 'failed');
    assert.equal(payment.decline_code, 'do_not_honor');
  });

  test('…07 fails with 402 processing_error', async () => {
    const answer = await pay('4242424242424242', 407);
    assert.equal(answer.status, 402);
    assert.equal(answer.body.error.code, 'processing_error');
  });
});

describe('card payments: capture, cancel, customers', () => {
  test('capture_method manual authorises (requires_capture), then capture succeeds; a second capture is 412', async () => {
    const answer = await pay('4242424242424242', 3000, { capture_method: 'manual' });
    assert.equal(answer.body.status, 'requires_capture');
    assert.equal(answer.body.amount_captured, 0);
    const captured = await t.call('cards', 'POST', `/cards/v1/payments/${answer.body.id}/capture`);
    assert.equal(captured.body.status, 'succeeded');
    assert.equal(captured.body.amount_captured, 3000);
    const again = await t.call('cards', 'POST', `/cards/v1/payments/${answer.body.id}/capture`);
    assert.equal(again.status, 412);
    assert.equal(again.body.error.code, 'unexpected_state');
  });

  test('an authorisation can be cancelled', async () => {
    const answer = await pay('4242424242424242', 3000, { capture_method: 'manual' });
    const cancelled = await t.call('cards', 'POST', `/cards/v1/payments/${answer.body.id}/cancel`);
    assert.equal(cancelled.body.status, 'canceled');
  });

  test('email card-blocked@… is 423 customer_blocked', async () => {
    const answer = await pay('4242424242424242', 1000, { customer: { email: 'card-blocked@example.com' } });
    assert.equal(answer.status, 423);
    assert.equal(answer.body.error.code, 'customer_blocked');
  });

  test('email card-reverify@… is 428 with a verification_url; completing that page lets the customer pay', async () => {
    const customer = { id: 'cus_reverify', email: 'card-reverify@example.com' };
    const answer = await pay('4242424242424242', 1000, { customer });
    assert.equal(answer.status, 428);
    assert.equal(answer.body.error.code, 'reverification_required');
    const { submitted } = await submitPage(answer.body.error.details.verification_url, {
      name: 'result',
      value: 'complete',
    });
    assert.equal(submitted.status, 200);
    assert.equal((await pay('4242424242424242', 1000, { customer })).status, 201);
  });

  test('email card-kyc@… is 451 kyc_required with a kyc_url', async () => {
    const answer = await pay('4242424242424242', 1000, { customer: { email: 'card-kyc@example.com' } });
    assert.equal(answer.status, 451);
    assert.equal(answer.body.error.code, 'kyc_required');
    assert.match(answer.body.error.details.kyc_url, /\/cards\/verify\/cver_/);
  });

  test('errors are in the card format: missing bearer key is 401 authentication_error; bad field names the param', async () => {
    const unauthorised = await t.call('cards', 'GET', '/cards/v1/payments/pay_x', undefined, {
      auth: false,
      headers: { authorization: 'Basic abc' },
    });
    assert.equal(unauthorised.status, 401);
    assert.equal(unauthorised.body.error.type, 'authentication_error');
    const invalid = await t.call('cards', 'POST', '/cards/v1/payments', { amount: 10, currency: 'usd' });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.error.param, 'amount');
  });

  test('payment webhooks are events of type payment.<status> with the payment as data.object', async () => {
    const answer = await pay('4242424242424242', 1234);
    const event = await eventually(() =>
      t.receiver
        .accepted('/cards')
        .find((w) => (w.body['data'] as { object: { id: string } }).object.id === answer.body.id),
    );
    assert.equal(event.body['object'], 'event');
    assert.equal(event.body['type'], 'payment.succeeded');
    assert.match(String(event.body['id']), /^evt_/);
  });
});

describe('card payments: disputes', () => {
  // biome-ignore lint/suspicious/noExplicitAny: webhook bodies are inspected field by field
  const eventsFor = (id: string): any[] =>
    t.receiver
      .accepted('/cards')
      .map((w) => w.body)
      .filter((body) => (body['data'] as { object: { id: string } }).object.id === id);
  /** The payment's webhooks once `count` arrived, as `[type, dispute]` pairs. */
  const disputeEvents = (id: string, count: number) =>
    eventually(() => {
      const events = eventsFor(id);
      return events.length === count && events.map((event) => [event.type, event.data.object.dispute]);
    });
  const openDispute = (id: string, body?: unknown) => t.admin('POST', `/admin/cards/payments/${id}/dispute`, body);
  const closeDispute = (id: string, body?: unknown) =>
    t.admin('POST', `/admin/cards/payments/${id}/dispute/close`, body);

  test('an ordinary payment carries dispute: null in its answer, GET and webhook', async () => {
    const answer = await pay('4242424242424242');
    assert.equal(answer.body.dispute, null);
    assert.equal((await getPayment(answer.body.id)).dispute, null);
    assert.deepEqual(await disputeEvents(answer.body.id, 1), [['payment.succeeded', null]]);
  });

  test('4000000000000259 succeeds, is disputed (fraudulent) a day later, and the dispute is lost a week after it opened', async () => {
    const answer = await pay('4000000000000259', 4200);
    assert.equal(answer.body.status, 'succeeded');
    assert.equal(answer.body.dispute, null);
    t.advance(DAY - 60);
    assert.equal((await getPayment(answer.body.id)).dispute, null);
    t.advance(60);
    const opened = (await getPayment(answer.body.id)).dispute;
    assert.match(opened.id, /^dp_/);
    assert.deepEqual(
      { reason: opened.reason, status: opened.status, amount: opened.amount, closed_at: opened.closed_at },
      { reason: 'fraudulent', status: 'needs_response', amount: 4200, closed_at: null },
    );
    t.advance(7 * DAY - 60);
    assert.equal((await getPayment(answer.body.id)).dispute.status, 'needs_response');
    t.advance(60);
    const closed = await getPayment(answer.body.id);
    assert.equal(closed.status, 'succeeded', 'a dispute does not change the payment status');
    assert.equal(closed.dispute.status, 'lost');
    assert.equal(closed.dispute.id, opened.id);
    assert.equal(closed.dispute.closed_at - closed.dispute.created, 7 * DAY);
    const events = await disputeEvents(answer.body.id, 3);
    assert.deepEqual(
      events.map(([type, dispute]) => [type, dispute?.status ?? null]),
      [
        ['payment.succeeded', null],
        ['payment.dispute_created', 'needs_response'],
        ['payment.dispute_closed', 'lost'],
      ],
    );
    assert.deepEqual(events[2]![1], closed.dispute);
  });

  test('4000000000002685: one clock advance of 8 days opens its dispute and closes it won, in order', async () => {
    const answer = await pay('4000000000002685');
    t.advance(8 * DAY);
    const payment = await getPayment(answer.body.id);
    assert.equal(payment.dispute.status, 'won');
    assert.equal(payment.dispute.reason, 'fraudulent');
    assert.equal(payment.dispute.created - payment.created, DAY);
    assert.deepEqual(
      (await disputeEvents(answer.body.id, 3)).map(([type, dispute]) => [type, dispute?.status ?? null]),
      [
        ['payment.succeeded', null],
        ['payment.dispute_created', 'needs_response'],
        ['payment.dispute_closed', 'won'],
      ],
    );
  });

  test('a dispute card authorised for manual capture is disputed a day after the capture, not the authorisation', async () => {
    const answer = await pay('4000000000000259', 2500, { capture_method: 'manual' });
    t.advance(2 * DAY);
    assert.equal((await getPayment(answer.body.id)).dispute, null);
    await t.call('cards', 'POST', `/cards/v1/payments/${answer.body.id}/capture`);
    t.advance(DAY);
    assert.equal((await getPayment(answer.body.id)).dispute.status, 'needs_response');
  });

  test('admin opens a dispute (reason fraudulent by default) and closes it, answering the payment, with webhooks', async () => {
    const answer = await pay('4242424242424242');
    const opened = await openDispute(answer.body.id);
    assert.equal(opened.status, 200);
    assert.equal(opened.body.id, answer.body.id);
    assert.equal(opened.body.dispute.reason, 'fraudulent');
    assert.equal(opened.body.dispute.status, 'needs_response');
    assert.equal(opened.body.dispute.amount, 2500);
    const closed = await closeDispute(answer.body.id, { status: 'won' });
    assert.equal(closed.status, 200);
    assert.equal(closed.body.dispute.status, 'won');
    assert.equal(typeof closed.body.dispute.closed_at, 'number');
    assert.deepEqual(await disputeEvents(answer.body.id, 3), [
      ['payment.succeeded', null],
      ['payment.dispute_created', opened.body.dispute],
      ['payment.dispute_closed', closed.body.dispute],
    ]);
  });

  test('admin opens a dispute of part of a payment; a bad amount is 400, more than is left 409', async () => {
    const answer = await pay('4242424242424242', 3000);
    for (const amount of [0, -5, 1.5, '10']) {
      const refused = await openDispute(answer.body.id, { amount });
      assert.equal(refused.status, 400, String(amount));
    }
    const tooMuch = await openDispute(answer.body.id, { amount: 3001 });
    assert.equal(tooMuch.status, 409);
    assert.match(tooMuch.body.error.message, /more than the 3000 not refunded/);
    const part = await openDispute(answer.body.id, { amount: 1000, reason: 'duplicate' });
    assert.equal(part.status, 200);
    assert.deepEqual([part.body.dispute.amount, part.body.dispute.reason], [1000, 'duplicate']);
    const lost = await closeDispute(answer.body.id, { status: 'lost' });
    assert.equal(lost.body.dispute.amount, 1000);
  });

  test('admin opens a dispute with any listed reason; another reason is 400 and opens nothing', async () => {
    const answer = await pay('4242424242424242');
    const refused = await openDispute(answer.body.id, { reason: 'changed_my_mind' });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error.message, /product_not_received/);
    assert.equal((await getPayment(answer.body.id)).dispute, null);
    const opened = await openDispute(answer.body.id, { reason: 'product_not_received' });
    assert.equal(opened.body.dispute.reason, 'product_not_received');
  });

  test('admin refuses wrong states: unknown payment 404; not succeeded or already disputed 409; no open dispute 409', async () => {
    assert.equal((await openDispute('pay_nothing')).status, 404);
    assert.equal((await closeDispute('pay_nothing', { status: 'lost' })).status, 404);
    const authorised = await pay('4242424242424242', 2500, { capture_method: 'manual' });
    const notSucceeded = await openDispute(authorised.body.id);
    assert.equal(notSucceeded.status, 409);
    assert.match(notSucceeded.body.error.message, /requires_capture/);
    const paid = await pay('4242424242424242');
    const neverOpened = await closeDispute(paid.body.id, { status: 'lost' });
    assert.equal(neverOpened.status, 409);
    assert.equal((await closeDispute(paid.body.id, { status: 'needs_response' })).status, 400);
    assert.equal((await openDispute(paid.body.id)).status, 200);
    assert.equal((await openDispute(paid.body.id)).status, 409, 'a payment is disputed once');
    assert.equal((await closeDispute(paid.body.id, { status: 'lost' })).status, 200);
    assert.equal((await closeDispute(paid.body.id, { status: 'won' })).status, 409, 'a decision is final');
    assert.equal((await openDispute(paid.body.id)).status, 409, 'not even once it is closed');
    assert.equal((await getPayment(paid.body.id)).dispute.status, 'lost');
  });

  test('a dispute opened by hand on a dispute card takes the place of the card’s own', async () => {
    const answer = await pay('4000000000002685');
    await openDispute(answer.body.id, { reason: 'duplicate' });
    t.advance(8 * DAY);
    const payment = await getPayment(answer.body.id);
    assert.deepEqual([payment.dispute.reason, payment.dispute.status], ['duplicate', 'needs_response']);
  });
});

describe('card processor payouts', () => {
  const cardPayout = (number: string, amount = 5000) =>
    t.call('cards', 'POST', '/cards/v1/payouts', {
      amount,
      currency: 'usd',
      destination: { type: 'card', card: { number, exp_month: 12, exp_year: 2099 } },
    });
  const achPayout = (accountNumber: string, amount = 5000) =>
    t.call('cards', 'POST', '/cards/v1/payouts', {
      amount,
      currency: 'usd',
      destination: {
        type: 'bank_account',
        bank_account: { routing_number: '110000000', account_number: accountNumber, account_holder_name: 'Ada' },
      },
    });
  const getPayout = async (id: string) => (await t.call('cards', 'GET', `/cards/v1/payouts/${id}`)).body;

  test('a push-to-card payout is pending, then paid', async () => {
    const created = await cardPayout('4242424242424242');
    assert.equal(created.status, 201);
    assert.equal(created.body.method, 'push_to_card');
    assert.equal(created.body.status, 'pending');
    t.advance(HOUR);
    assert.equal((await getPayout(created.body.id)).status, 'paid');
  });

  test('a push-to-card payout to a declining card is 402 card_declined', async () => {
    const declined = await cardPayout('4000000000000002');
    assert.equal(declined.status, 402);
    assert.equal(declined.body.error.decline_code, 'generic_decline');
  });

  test('an ACH credit to a return account (R02…) fails with the return code', async () => {
    const created = await achPayout('R02000000002');
    assert.equal(created.body.method, 'ach_credit');
    t.advance(HOUR);
    const failed = await getPayout(created.body.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure_code, 'R02');
  });

  test('amounts …01 (422 insufficient_balance), …04 (pending forever), …05 (failed could_not_process)', async () => {
    const refused = await achPayout('000123456789', 5001);
    assert.equal(refused.status, 422);
    assert.equal(refused.body.error.code, 'insufficient_balance');
    const stuck = await achPayout('000123456789', 5004);
    const failing = await achPayout('000123456789', 5005);
    t.advance(HOUR);
    assert.equal((await getPayout(stuck.body.id)).status, 'pending');
    const failed = await getPayout(failing.body.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure_code, 'could_not_process');
  });
});
