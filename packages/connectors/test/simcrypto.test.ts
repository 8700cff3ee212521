import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ProviderNotice, type ProviderOutcome, type ProviderRequest, systemClock } from '@rampart/core';
import { isRampartError, type RampartError } from '@rampart/errors';
import { createTestDatabase } from '../../server/test/harness.ts';
import { DEFAULT_WEBHOOK_SECRETS, signatureHeader } from '../../simulator/src/index.ts';
import { CircuitBreaker } from '../src/circuit-breaker.ts';
import { DepositAddresses } from '../src/crypto/deposit-addresses.ts';
import { deriveAddress } from '../src/crypto/derivation.ts';
import { isValidAddress } from '../src/crypto/validation.ts';
import { SimCryptoConnector } from '../src/simcrypto/simcrypto.ts';
import { RAMP_CODES, type RampCode, type RampOperation, rejection, toRampAmount } from '../src/simcrypto/wire.ts';
import { uniqueId } from './conformance.ts';
import { TEST_XPUB } from './crypto-fixtures.ts';
import { seedOperator, startSandbox } from './sandbox.ts';

// Transfers happen a minute after they are asked for; one block every 10 simulated seconds.
const sandbox = await startSandbox({ settleDelayMs: 60_000, blockIntervalMs: 10_000 });
const { db } = await createTestDatabase();
const people = await seedOperator(db);
const addresses = new DepositAddresses(db, systemClock);
const XPUBS: Record<string, string> = { TRC20: TEST_XPUB, ERC20: TEST_XPUB, BITCOIN: TEST_XPUB, ETHEREUM: TEST_XPUB };

const connector = new SimCryptoConnector({
  ...sandbox.options('crypto', { breaker: new CircuitBreaker({ threshold: 1_000 }) }),
  addresses,
  xpubFor: async (operatorId, network) => (operatorId === people.operatorId ? XPUBS[network] : undefined),
});

const EVM_OK = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const advance = (seconds: number) => sandbox.sim.admin.advanceClock(seconds);

async function request(
  fields: Partial<ProviderRequest> & Pick<ProviderRequest, 'kind' | 'amount' | 'currency' | 'network'>,
): Promise<ProviderRequest> {
  const paymentId = uniqueId('pay');
  return {
    paymentId,
    operatorId: people.operatorId,
    method: 'crypto',
    user: await people.user(uniqueId('user')),
    returnUrl: null,
    instrument: {},
    idempotencyKey: paymentId,
    ...fields,
  };
}

async function refusal(work: Promise<unknown>): Promise<RampartError> {
  try {
    await work;
  } catch (error) {
    if (isRampartError(error)) return error;
    throw error;
  }
  assert.fail('expected a RampartError');
}

/** The statuses the ramp's webhooks reported for `providerRef`, in order, and the notices. */
async function reported(providerRef: string): Promise<{ statuses: string[]; notices: ProviderNotice[] }> {
  await sandbox.webhooksDelivered();
  const notices = sandbox
    .deliveries('crypto')
    .map((d) => connector.readWebhook(d.headers, d.raw))
    .filter((n) => n.subject.type === 'payment' && n.subject.providerRef === providerRef);
  const statuses = notices.map((n) => (n.subject.type === 'payment' ? n.subject.outcome.status : 'none'));
  return { statuses, notices };
}

async function ramp(path: string) {
  const response = await fetch(`${sandbox.sim.url}${path}`, { headers: { 'x-ramp-key': 'sk_test' } });
  return ((await response.json()) as { data: Record<string, unknown> }).data;
}

const USDT = 1_000_000n;

describe('crypto deposits', () => {
  test('a deposit shows the user their own derived address and the amount to send', async () => {
    const deposit = await request({ kind: 'deposit', amount: 100n * USDT, currency: 'USDT', network: 'TRC20' });
    const outcome = await connector.payIn(deposit);
    assert.equal(outcome.status, 'pending');
    const mine = await addresses.addressFor({
      operatorId: people.operatorId,
      userId: deposit.user.id,
      network: 'TRC20',
      xpub: TEST_XPUB,
    });
    assert.equal(mine.address, deriveAddress(TEST_XPUB, 'TRC20', mine.index));
    assert.deepEqual(outcome.nextAction, {
      type: 'crypto_address',
      address: mine.address,
      network: 'TRC20',
      amount: '100.000000',
    });
    const watch = await ramp(`/crypto/v1/deposit-watches/${outcome.providerRef}`);
    assert.equal(watch['reference'], deposit.paymentId);
    assert.equal(watch['asset'], 'USDT');
  });

  test('a deposit is pending, then processing while it confirms, then completed; the notices carry the payment id', async () => {
    const deposit = await request({ kind: 'deposit', amount: 25n * USDT, currency: 'USDT', network: 'ERC20' });
    const outcome = await connector.payIn(deposit);
    advance(60); // seen: 0 confirmations
    assert.equal((await connector.fetch(outcome.providerRef, 'deposit')).status, 'processing');
    advance(12 * 10); // 12 ERC20 confirmations
    const settled = await connector.fetch(outcome.providerRef, 'deposit');
    assert.equal(settled.status, 'completed');
    assert.equal(settled.nextAction, null, 'nothing left for the user to do');
    const { statuses, notices } = await reported(outcome.providerRef);
    assert.deepEqual(statuses, ['pending', 'processing', 'processing', 'completed']);
    for (const notice of notices) {
      assert.equal(notice.subject.type === 'payment' && notice.subject.paymentId, deposit.paymentId);
    }
  });

  test('the same user deposits to the same address next time, once the first deposit is done', async () => {
    const user = await people.user(uniqueId('user'));
    const first = await connector.payIn(
      await request({ kind: 'deposit', amount: 10n * USDT, currency: 'USDT', network: 'TRC20', user }),
    );
    const pendingAgain = await refusal(
      connector.payIn(await request({ kind: 'deposit', amount: 20n * USDT, currency: 'USDT', network: 'TRC20', user })),
    );
    assert.equal(pendingAgain.code, 'deposit_not_completed', 'the address still waits for the first deposit');
    advance(60 + 19 * 10);
    assert.equal((await connector.fetch(first.providerRef, 'deposit')).status, 'completed');
    const second = await connector.payIn(
      await request({ kind: 'deposit', amount: 20n * USDT, currency: 'USDT', network: 'TRC20', user }),
    );
    assert.notEqual(second.providerRef, first.providerRef);
    assert.deepEqual(
      second.nextAction && 'address' in second.nextAction && second.nextAction.address,
      first.nextAction && 'address' in first.nextAction && first.nextAction.address,
    );
  });

  test('a deposit dropped from the mempool (…05) or never sent (…01) fails as deposit_failed', async () => {
    const dropped = await connector.payIn(
      await request({ kind: 'deposit', amount: 25_050_000n, currency: 'USDT', network: 'TRC20' }),
    );
    const neverSent = await connector.payIn(
      await request({ kind: 'deposit', amount: 25_010_000n, currency: 'USDT', network: 'TRC20' }),
    );
    advance(60 + 2 * 10);
    const failed = await connector.fetch(dropped.providerRef, 'deposit');
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure?.code, 'deposit_failed');
    assert.equal(failed.failure?.details?.['provider_reason'], 'dropped_from_mempool');
    assert.equal((await connector.fetch(neverSent.providerRef, 'deposit')).status, 'pending');
    advance(3600);
    const expired = await connector.fetch(neverSent.providerRef, 'deposit');
    assert.equal(expired.status, 'failed');
    assert.equal(expired.failure?.code, 'deposit_failed');
    assert.equal(expired.failure?.details?.['provider_status'], 'expired');
  });

  test('a deposit that is seen but never confirms (…04) stays processing: not completed, not failed', async () => {
    const stuck = await connector.payIn(
      await request({ kind: 'deposit', amount: 25_040_000n, currency: 'USDT', network: 'TRC20' }),
    );
    advance(86_400);
    assert.equal((await connector.fetch(stuck.providerRef, 'deposit')).status, 'processing');
  });

  test('without an xpub for the network, or for a pair the ramp does not list, it is wallet_not_supported', async () => {
    const before = sandbox.sim.admin.requests({ provider: 'crypto' }).length;
    const noKey = await refusal(
      connector.payIn(await request({ kind: 'deposit', amount: 10n * USDT, currency: 'USDT', network: 'BEP20' })),
    );
    assert.equal(noKey.code, 'wallet_not_supported');
    assert.deepEqual(noKey.details, { currency: 'USDT', network: 'BEP20' });
    const noPair = await refusal(
      connector.payIn(await request({ kind: 'deposit', amount: 10n, currency: 'BTC', network: 'ERC20' })),
    );
    assert.equal(noPair.code, 'wallet_not_supported');
    assert.equal(sandbox.sim.admin.requests({ provider: 'crypto' }).length, before, 'the ramp was not called');
  });

  test('a provider error once (…02) is upstream_error, and the retry with the same key goes through', async () => {
    const deposit = await request({ kind: 'deposit', amount: 25_020_000n, currency: 'USDT', network: 'TRC20' });
    assert.equal((await refusal(connector.payIn(deposit))).code, 'upstream_error');
    assert.equal((await connector.payIn(deposit)).status, 'pending');
  });
});

describe('crypto withdrawals', () => {
  test('a withdrawal is processing until its transfer confirms, then completed', async () => {
    const withdrawal = await request({
      kind: 'withdrawal',
      amount: 50n * USDT,
      currency: 'USDT',
      network: 'ERC20',
      instrument: { address: EVM_OK },
    });
    const outcome = await connector.payOut(withdrawal);
    assert.equal(outcome.status, 'processing');
    assert.match(outcome.providerRef, /^wd_/);
    advance(60 + 12 * 10);
    assert.equal((await connector.fetch(outcome.providerRef, 'withdrawal')).status, 'completed');
    const { statuses } = await reported(outcome.providerRef);
    assert.deepEqual(statuses, ['processing', 'processing', 'processing', 'completed']);
  });

  test('an address that fails its network’s checksum is refused before anything is sent', async () => {
    const badCase = `${EVM_OK.slice(0, -1)}D`;
    const withdrawal = await request({
      kind: 'withdrawal',
      amount: 50n * USDT,
      currency: 'USDT',
      network: 'ERC20',
      instrument: { address: badCase },
    });
    const error = await refusal(connector.payOut(withdrawal));
    assert.equal(error.code, 'invalid_value');
    assert.equal(error.details['field'], 'instrument.address');
    assert.equal(error.details['provided'], badCase);
    assert.deepEqual(
      sandbox.sim.admin.requests({ provider: 'crypto', idempotency_key: withdrawal.idempotencyKey }),
      [],
    );
    const missing = await refusal(
      connector.payOut(await request({ kind: 'withdrawal', amount: 1n * USDT, currency: 'USDT', network: 'TRC20' })),
    );
    assert.equal(missing.code, 'missing_parameter');
  });

  test('a Bitcoin withdrawal to a Taproot (bech32m) address is taken', async () => {
    const taproot = 'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0';
    const outcome = await connector.payOut(
      await request({
        kind: 'withdrawal',
        amount: 100_000n,
        currency: 'BTC',
        network: 'BITCOIN',
        instrument: { address: taproot },
      }),
    );
    assert.equal(outcome.status, 'processing');
    const withdrawal = await ramp(`/crypto/v1/withdrawals/${outcome.providerRef}`);
    assert.deepEqual(
      [withdrawal['address'], withdrawal['amount'], withdrawal['network']],
      [taproot, '0.00100000', 'BTC'],
    );
  });

  test('the hot wallet short (…01) fails at once, a rejected broadcast (…05) later: both withdrawal_failed', async () => {
    const short = await connector.payOut(
      await request({
        kind: 'withdrawal',
        amount: 50_010_000n,
        currency: 'USDT',
        network: 'TRC20',
        instrument: { address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t' },
      }),
    );
    assert.equal(short.status, 'failed');
    assert.equal(short.failure?.code, 'withdrawal_failed');
    assert.equal(short.failure?.details?.['provider_code'], '42201');
    const rejected = await connector.payOut(
      await request({
        kind: 'withdrawal',
        amount: 50_050_000n,
        currency: 'USDT',
        network: 'TRC20',
        instrument: { address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t' },
      }),
    );
    assert.equal(rejected.status, 'processing');
    advance(60);
    const later = await connector.fetch(rejected.providerRef, 'withdrawal');
    assert.equal(later.status, 'failed');
    assert.equal(later.failure?.code, 'withdrawal_failed');
    assert.equal(later.failure?.details?.['provider_reason'], 'broadcast_rejected');
  });
});

describe('buying and selling crypto', () => {
  test('a buy spends the fiat that buys the amount and delivers it to the user’s deposit address', async () => {
    const buy = await request({ kind: 'buy', amount: 99n * USDT, currency: 'USDT', network: 'TRC20' });
    const outcome = await connector.payIn(buy);
    assert.equal(outcome.status, 'processing');
    const order = await ramp(`/crypto/v1/orders/${outcome.providerRef}`);
    const mine = await addresses.addressFor({
      operatorId: people.operatorId,
      userId: buy.user.id,
      network: 'TRC20',
      xpub: TEST_XPUB,
    });
    assert.equal(order['destination_address'], mine.address);
    assert.equal(order['fiat_amount'], '100.00', '99 USDT and the 1 % fee');
    assert.equal(order['crypto_amount'], '99.000000');
    assert.equal(order['customer_ref'], buy.paymentId);
    advance(60 + 19 * 10);
    assert.equal((await connector.fetch(outcome.providerRef, 'buy')).status, 'completed');
  });

  test('a retried buy replays its quote and its order: one order', async () => {
    const buy = await request({ kind: 'buy', amount: 10n * USDT, currency: 'USDT', network: 'TRC20' });
    const first = await connector.payIn(buy);
    const second = await connector.payIn(buy);
    assert.equal(second.providerRef, first.providerRef);
    const orders = sandbox.sim.admin.requests({ provider: 'crypto', idempotency_key: buy.idempotencyKey });
    assert.deepEqual(
      orders.map((r) => [r.created_id, r.replayed]),
      [
        [first.providerRef, false],
        [null, true],
      ],
    );
  });

  test('a buy the liquidity provider rejects (…05) fails as deposit_failed', async () => {
    // The buy is quoted by the crypto amount, so its magic cents are those of the amount bought.
    const outcome = await connector.payIn(
      await request({ kind: 'buy', amount: 99_050_000n, currency: 'USDT', network: 'TRC20' }),
    );
    assert.equal((await ramp(`/crypto/v1/orders/${outcome.providerRef}`))['crypto_amount'], '99.050000');
    advance(60);
    const failed = await connector.fetch(outcome.providerRef, 'buy');
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure?.code, 'deposit_failed');
    assert.equal(failed.failure?.details?.['provider_reason'], 'liquidity_provider_rejected');
  });

  test('a buy the ramp cannot fill (…01) fails at once as deposit_failed, with nothing ordered', async () => {
    const outcome = await connector.payIn(
      await request({ kind: 'buy', amount: 25_010_000n, currency: 'USDT', network: 'TRC20' }),
    );
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.failure?.code, 'deposit_failed');
    assert.equal(outcome.failure?.details?.['provider_code'], '42202');
  });

  test('a provider error once (…02) fails the order; the retry replays the quote and places one order', async () => {
    const buy = await request({ kind: 'buy', amount: 25_020_000n, currency: 'USDT', network: 'TRC20' });
    assert.equal((await refusal(connector.payIn(buy))).code, 'upstream_error');
    const outcome = await connector.payIn(buy);
    assert.equal(outcome.status, 'processing');
    const quotes = sandbox.sim.admin.requests({ provider: 'crypto', idempotency_key: `${buy.idempotencyKey}:quote` });
    assert.deepEqual(
      quotes.map((r) => [r.status, r.replayed]),
      [
        [201, false],
        [201, true],
      ],
    );
    const orders = sandbox.sim.admin.requests({ provider: 'crypto', idempotency_key: buy.idempotencyKey });
    assert.deepEqual(
      orders.map((r) => [r.status, r.created_id]),
      [
        [500, null],
        [201, outcome.providerRef],
      ],
    );
  });

  test('a sell asks for the crypto at the ramp’s address, and completes once it confirms', async () => {
    const sell = await request({ kind: 'sell', amount: 200_000n, currency: 'BTC', network: 'BITCOIN' });
    const outcome = await connector.payOut(sell);
    assert.equal(outcome.status, 'pending');
    assert.equal(outcome.nextAction?.type, 'crypto_address');
    if (outcome.nextAction?.type !== 'crypto_address') return;
    assert.equal(outcome.nextAction.network, 'BITCOIN');
    assert.equal(outcome.nextAction.amount, '0.00200000');
    assert.ok(isValidAddress('BITCOIN', outcome.nextAction.address));
    advance(60 + 2 * 10);
    const done = await connector.fetch(outcome.providerRef, 'sell');
    assert.equal(done.status, 'completed');
    const { statuses } = await reported(outcome.providerRef);
    // awaiting_deposit, confirming (from the moment the transfer is seen), completed.
    assert.deepEqual(statuses, ['pending', 'processing', 'completed']);
  });

  test('a sell the ramp cannot fill (…01) fails at once; a dropped one (…05) later: both withdrawal_failed', async () => {
    const unfilled = await connector.payOut(
      await request({ kind: 'sell', amount: 25_010_000n, currency: 'USDT', network: 'TRC20' }),
    );
    assert.equal(unfilled.status, 'failed');
    assert.equal(unfilled.failure?.code, 'withdrawal_failed');
    const dropped = await connector.payOut(
      await request({ kind: 'sell', amount: 25_050_000n, currency: 'USDT', network: 'TRC20' }),
    );
    assert.equal(dropped.status, 'pending');
    advance(60 + 2 * 10);
    const failed = await connector.fetch(dropped.providerRef, 'sell');
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure?.code, 'withdrawal_failed');
    assert.equal(failed.failure?.details?.['provider_reason'], 'deposit_dropped');
  });

  test('a sell whose crypto never arrives (…04) is pending until the ramp expires it, then withdrawal_failed', async () => {
    const stuck = await connector.payOut(
      await request({ kind: 'sell', amount: 25_040_000n, currency: 'USDT', network: 'TRC20' }),
    );
    advance(59 * 60);
    assert.equal((await connector.fetch(stuck.providerRef, 'sell')).status, 'pending');
    advance(60);
    const expired = await connector.fetch(stuck.providerRef, 'sell');
    assert.equal(expired.status, 'failed');
    assert.equal(expired.failure?.code, 'withdrawal_failed');
    assert.deepEqual(expired.failure?.details, { provider_status: 'expired', provider_reason: 'nothing_received' });
    const { statuses } = await reported(stuck.providerRef);
    assert.deepEqual(statuses, ['pending', 'failed'], 'its webhook says so too');
  });
});

describe('ramp answers and events', () => {
  const context = (operation: RampOperation) => ({
    provider: 'simcrypto',
    operation,
    providerRef: 'simcrypto:pay_1',
    currency: 'USDT',
    network: 'TRC20',
    address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
    amount: '10.000000',
  });
  const envelope = (code: number, field?: string) => ({
    success: false,
    code,
    message: `code ${code}`,
    data: field ? { field } : null,
  });
  const mapped = (code: number, operation: RampOperation, field?: string): string => {
    try {
      const outcome: ProviderOutcome = rejection(envelope(code, field), context(operation));
      return `failed:${outcome.failure?.code}`;
    } catch (error) {
      if (isRampartError(error)) return error.code;
      throw error;
    }
  };

  const table: [code: RampCode, operation: RampOperation, field: string | undefined, expected: string][] = [
    [40001, 'withdrawal', 'amount', 'invalid_amount'],
    [40001, 'withdrawal', 'address', 'invalid_value'],
    [40001, 'deposit', 'reference', 'internal_error'],
    [40002, 'withdrawal', 'address', 'invalid_value'],
    [40002, 'deposit', 'address', 'internal_error'],
    [40002, 'buy', 'destination_address', 'internal_error'],
    [40003, 'deposit', 'network', 'wallet_not_supported'],
    [40004, 'buy', 'quote_id', 'provider_error'],
    [40005, 'sell', 'crypto_amount', 'invalid_amount'],
    [40006, 'deposit', undefined, 'internal_error'],
    [40101, 'withdrawal', undefined, 'internal_error'],
    [40401, 'fetch', undefined, 'upstream_error'],
    [40401, 'buy', 'quote_id', 'internal_error'],
    [40402, 'deposit', undefined, 'internal_error'],
    [40901, 'withdrawal', undefined, 'upstream_timeout'],
    [40902, 'withdrawal', undefined, 'upstream_timeout'],
    [40903, 'deposit', 'address', 'deposit_not_completed'],
    [40904, 'buy', 'quote_id', 'upstream_timeout'],
    [40905, 'deposit', undefined, 'internal_error'],
    [42201, 'withdrawal', undefined, 'failed:withdrawal_failed'],
    [42202, 'buy', undefined, 'failed:deposit_failed'],
    [42202, 'sell', undefined, 'failed:withdrawal_failed'],
    [50001, 'deposit', undefined, 'upstream_error'],
    [50301, 'deposit', undefined, 'upstream_error'],
  ];

  test('every documented ramp code has a mapping, and this table covers each', () => {
    const covered = new Set(table.map(([code]) => code));
    for (const code of Object.keys(RAMP_CODES)) assert.ok(covered.has(Number(code) as RampCode), `code ${code}`);
  });

  for (const [code, operation, field, expected] of table) {
    test(`ramp code ${code} on a ${operation}${field ? ` (${field})` : ''} is ${expected}`, () => {
      assert.equal(mapped(code, operation, field), expected);
    });
  }

  test('an undocumented code is upstream_invalid_response', () => {
    assert.equal(mapped(49_999, 'deposit'), 'upstream_invalid_response');
  });

  test('ledger amounts become the ramp’s decimals exactly, or are refused', () => {
    assert.equal(toRampAmount(25_050_000n, 6, 6, 'USDT'), '25.050000');
    assert.equal(toRampAmount(1n, 6, 18, 'USDT'), '0.000001000000000000');
    assert.equal(toRampAmount(1_000_000_000_000n, 18, 6, 'ETH'), '0.000001');
    let error: RampartError | undefined;
    try {
      toRampAmount(1_000_000_000_001n, 18, 6, 'ETH');
    } catch (caught) {
      error = caught as RampartError;
    }
    assert.equal(error?.code, 'invalid_amount');
  });

  const signed = (body: unknown) => {
    const raw = JSON.stringify(body);
    const header = signatureHeader(DEFAULT_WEBHOOK_SECRETS.crypto, Math.floor(Date.now() / 1000), raw);
    return connector.readWebhook({ 'x-sim-signature': header }, raw);
  };

  test('events Rampart has no use for, or with a status it does not know, are acknowledged and ignored', () => {
    const watch = {
      watch_id: 'dw_1',
      status: 'frozen',
      address: 'x',
      asset: 'USDT',
      network: 'TRC20',
      reference: 'pay_1',
    };
    assert.equal(
      signed({ event_id: 'cev_1', event: 'deposit.frozen', timestamp: 1, data: watch }).subject.type,
      'ignored',
    );
    assert.equal(
      signed({ event_id: 'cev_2', event: 'refund.created', timestamp: 1, data: {} }).subject.type,
      'ignored',
    );
  });

  test('an event without its id or data is validation_error; a body that is not JSON is body_undecodable', () => {
    const without = (() => {
      try {
        signed({ event: 'deposit.watching', data: {} });
      } catch (error) {
        return (error as RampartError).code;
      }
    })();
    assert.equal(without, 'validation_error');
    const raw = 'not json';
    const header = signatureHeader(DEFAULT_WEBHOOK_SECRETS.crypto, Math.floor(Date.now() / 1000), raw);
    assert.throws(() => connector.readWebhook({ 'x-sim-signature': header }, raw), { code: 'body_undecodable' });
  });
});
