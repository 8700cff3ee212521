import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RETURN_CODES } from '../src/index.ts';
import { eventually, startTestSimulator } from './harness.ts';

// settleDelayMs is one hour: ACH debits settle when the test moves the clock.
const t = await startTestSimulator();
const HOUR = 3600;
const DAY = 24 * HOUR;

async function debit(accountNumber: string, amount = 10_000) {
  const answer = await t.call('cards', 'POST', '/cards/v1/ach_debits', {
    amount,
    currency: 'usd',
    bank_account: {
      routing_number: '110000000',
      account_number: accountNumber,
      account_holder_name: 'Grace Hopper',
      account_type: 'checking',
    },
    customer: { id: 'cus_ach' },
  });
  assert.equal(answer.status, 201, answer.text);
  return answer.body;
}
const getDebit = async (id: string) => (await t.call('cards', 'GET', `/cards/v1/ach_debits/${id}`)).body;

describe('ACH debits', () => {
  test('000123456789 is pending, settles after the settle delay, and is never returned', async () => {
    const created = await debit('000123456789');
    assert.match(created.id, /^ach_/);
    assert.equal(created.status, 'pending');
    assert.equal(created.bank_account.last4, '6789');
    t.advance(HOUR);
    const settled = await getDebit(created.id);
    assert.equal(settled.status, 'settled');
    t.advance(61 * DAY);
    const later = await getDebit(created.id);
    assert.equal(later.status, 'settled');
    assert.equal(later.return_code, null);
  });

  test('R01000000001 settles, then is returned R01 insufficient_funds two days after settlement', async () => {
    const created = await debit('R01000000001');
    t.advance(HOUR);
    assert.equal((await getDebit(created.id)).status, 'settled');
    t.advance(DAY);
    assert.equal((await getDebit(created.id)).status, 'settled');
    t.advance(DAY);
    const returned = await getDebit(created.id);
    assert.equal(returned.status, 'returned');
    assert.equal(returned.return_code, 'R01');
    assert.equal(returned.return_reason, 'insufficient_funds');
    assert.equal(returned.returned_at - returned.settled_at, 2 * DAY);
  });

  test('R10000000010 (unauthorised) is returned 60 days after settlement, not before', async () => {
    const created = await debit('R10000000010');
    t.advance(HOUR);
    t.advance(59 * DAY);
    assert.equal((await getDebit(created.id)).status, 'settled');
    t.advance(DAY);
    const returned = await getDebit(created.id);
    assert.equal(returned.status, 'returned');
    assert.equal(returned.return_code, 'R10');
    assert.equal(returned.return_reason, 'unauthorized_debit');
  });

  test('one clock advance of 60 days runs settlement and the return in order', async () => {
    const created = await debit('R07000000007');
    t.advance(61 * DAY);
    const returned = await getDebit(created.id);
    assert.equal(returned.status, 'returned');
    assert.equal(returned.return_code, 'R07');
    const events = await eventually(() => {
      const types = t.receiver
        .accepted('/cards')
        .filter((w) => (w.body['data'] as { object: { id: string } }).object.id === created.id)
        .map((w) => w.body['type']);
      return types.length === 3 && types;
    });
    assert.deepEqual(events, ['ach_debit.pending', 'ach_debit.settled', 'ach_debit.returned']);
  });

  for (const code of RETURN_CODES.values()) {
    test(`account R${code.code.slice(1)}… and its digits alias are returned with ${code.code} (${code.reason})`, async () => {
      const letter = await debit(`${code.code}00000000${code.code.slice(1)}`);
      const digits = await debit(`990000000${code.code.slice(1).padStart(3, '0')}`);
      t.advance(HOUR + code.daysAfterSettlement * DAY);
      for (const created of [letter, digits]) {
        const returned = await getDebit(created.id);
        assert.equal(returned.status, 'returned');
        assert.equal(returned.return_code, code.code);
        assert.equal(returned.return_reason, code.reason);
      }
    });
  }

  test('amount …04 stays pending forever', async () => {
    const created = await debit('000123456789', 10_004);
    t.advance(90 * DAY);
    assert.equal((await getDebit(created.id)).status, 'pending');
  });

  test('a routing number failing the ABA checksum is 400 on bank_account.routing_number', async () => {
    const answer = await t.call('cards', 'POST', '/cards/v1/ach_debits', {
      amount: 1000,
      currency: 'usd',
      bank_account: { routing_number: '110000001', account_number: '000123456789', account_holder_name: 'X' },
    });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.param, 'bank_account.routing_number');
  });

  test('admin can settle a debit now and return it with any code', async () => {
    const created = await debit('000123456789');
    const settled = await t.admin('POST', `/admin/cards/ach_debits/${created.id}/settle`);
    assert.equal(settled.body.status, 'settled');
    const returned = await t.admin('POST', `/admin/cards/ach_debits/${created.id}/return`, { return_code: 'R16' });
    assert.equal(returned.body.status, 'returned');
    assert.equal(returned.body.return_code, 'R16');
    assert.equal(returned.body.return_reason, 'account_frozen');
    const bad = await t.admin('POST', `/admin/cards/ach_debits/${created.id}/return`, { return_code: 'R99' });
    assert.equal(bad.status, 400);
  });
});
