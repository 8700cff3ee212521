import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ASSETS } from '../src/crypto/assets.ts';
import { price, priceCryptoBuy } from '../src/crypto/quotes.ts';
import { eventually, startTestSimulator } from './harness.ts';

// Transfers start a minute after they are ordered; one block every 10 simulated seconds.
const t = await startTestSimulator({ settleDelayMs: 60_000, blockIntervalMs: 10_000 });
const MINUTE = 60;

const ADDRESSES = {
  evm: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
  tron: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
  btc: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4',
};

let references = 0;
const call = (method: string, path: string, body?: unknown) => t.call('crypto', method, path, body);

async function watch(expectedAmount: string, address = ADDRESSES.tron, asset = 'USDT', network = 'TRC20') {
  const answer = await call('POST', '/crypto/v1/deposit-watches', {
    address,
    asset,
    network,
    expected_amount: expectedAmount,
    reference: `dep_${++references}`,
    expires_in_seconds: 7200,
  });
  assert.equal(answer.status, 201, answer.text);
  assert.equal(answer.body.success, true);
  return answer.body.data;
}
const getWatch = async (id: string) => (await call('GET', `/crypto/v1/deposit-watches/${id}`)).body.data;

async function withdraw(amount: string, address = ADDRESSES.evm, asset = 'USDT', network = 'ERC20') {
  return call('POST', '/crypto/v1/withdrawals', { asset, network, address, amount, reference: `wd_${++references}` });
}
const getWithdrawal = async (id: string) => (await call('GET', `/crypto/v1/withdrawals/${id}`)).body.data;

describe('crypto deposit watching', () => {
  test('a watched address receives the expected amount, detected then confirmed after 19 TRC20 blocks', async () => {
    const created = await watch('100.00', 'TXLAQ63Xg1NAzckPwKHvzw7CSEmLMEqcdj');
    assert.equal(created.status, 'watching');
    t.advance(MINUTE);
    const detected = await getWatch(created.watch_id);
    assert.equal(detected.status, 'detected');
    assert.equal(detected.transaction.confirmations, 0);
    assert.equal(detected.transaction.required_confirmations, 19);
    assert.match(detected.transaction.tx_hash, /^[0-9a-f]{64}$/);
    t.advance(10);
    assert.equal((await getWatch(created.watch_id)).status, 'confirming');
    t.advance(18 * 10);
    const confirmed = await getWatch(created.watch_id);
    assert.equal(confirmed.status, 'confirmed');
    assert.equal(confirmed.transaction.confirmations, 19);
    assert.equal(confirmed.transaction.amount, '100.000000');
    const events = await eventually(() => {
      const seen = t.receiver
        .accepted('/crypto')
        .filter((w) => (w.body['data'] as { watch_id?: string }).watch_id === created.watch_id)
        .map((w) => w.body['event']);
      return seen.length === 4 && seen;
    });
    assert.deepEqual(events, ['deposit.watching', 'deposit.detected', 'deposit.confirming', 'deposit.confirmed']);
  });

  test('amount …01: nothing arrives and the watch expires', async () => {
    const created = await watch('25.01', ADDRESSES.evm, 'USDC', 'ERC20');
    t.advance(119 * MINUTE);
    assert.equal((await getWatch(created.watch_id)).status, 'watching');
    t.advance(MINUTE);
    const expired = await getWatch(created.watch_id);
    assert.equal(expired.status, 'expired');
    assert.equal(expired.transaction, null);
  });

  test('amount …04: the deposit is detected and never confirms', async () => {
    const created = await watch('25.04', ADDRESSES.btc, 'BTC', 'BTC');
    t.advance(10 * 24 * 60 * MINUTE);
    const stuck = await getWatch(created.watch_id);
    assert.equal(stuck.status, 'detected');
    assert.equal(stuck.transaction.confirmations, 0);
  });

  test('amount …05: the deposit is detected, then dropped: failed with dropped_from_mempool', async () => {
    const created = await watch('25.05', '0x000000000000000000000000000000000000dead', 'ETH', 'ETH');
    t.advance(MINUTE);
    assert.equal((await getWatch(created.watch_id)).status, 'detected');
    t.advance(20);
    const failed = await getWatch(created.watch_id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure_reason, 'dropped_from_mempool');
  });

  test('amounts …02 and …03 answer 500 with code 50001 (once, always)', async () => {
    const body = { address: ADDRESSES.evm, asset: 'USDT', network: 'BEP20', expected_amount: '1.02', reference: 'x' };
    const once = await call('POST', '/crypto/v1/deposit-watches', body);
    assert.equal(once.status, 500);
    assert.deepEqual([once.body.success, once.body.code], [false, 50001]);
    assert.equal((await call('POST', '/crypto/v1/deposit-watches', body)).status, 201);
    const always = { ...body, address: '0x0000000000000000000000000000000000000001', expected_amount: '1.03' };
    assert.equal((await call('POST', '/crypto/v1/deposit-watches', always)).status, 500);
    assert.equal((await call('POST', '/crypto/v1/deposit-watches', always)).status, 500);
  });

  test('a second open watch on the same address is 409 code 40903', async () => {
    const address = '0x1111111111111111111111111111111111111111';
    await watch('10.00', address, 'USDT', 'ERC20');
    const again = await call('POST', '/crypto/v1/deposit-watches', {
      address,
      asset: 'USDT',
      network: 'ERC20',
      expected_amount: '11.00',
      reference: 'again',
    });
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 40903);
  });

  test('admin can send a deposit to a watched address at once (for people using npm start)', async () => {
    const address = '0x2222222222222222222222222222222222222222';
    const created = await watch('10.01', address, 'USDT', 'ERC20');
    const sent = await t.admin('POST', '/admin/crypto/deposits', { address, network: 'ERC20', amount: '9.5' });
    assert.equal(sent.body.status, 'detected');
    assert.equal(sent.body.transaction.amount, '9.5');
    t.advance(12 * 10);
    assert.equal((await getWatch(created.watch_id)).status, 'confirmed');
  });
});

describe('crypto address validation', () => {
  const valid: [string, string, string][] = [
    ['USDT', 'TRC20', 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t'],
    ['USDT', 'ERC20', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'],
    ['USDT', 'BEP20', '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed'],
    ['USDC', 'ERC20', '0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED'],
    ['ETH', 'ETH', '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359'],
    ['BTC', 'BTC', 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'],
    ['BTC', 'BTC', 'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0'],
    ['BTC', 'BTC', '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa'],
    ['BTC', 'BTC', '3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy'],
  ];
  for (const [asset, network, address] of valid) {
    test(`${address} is accepted for ${asset} on ${network}`, async () => {
      const answer = await withdraw('5.00', address, asset, network);
      assert.equal(answer.status, 201, answer.text);
    });
  }

  const invalid: [string, string, string, string][] = [
    ['USDT', 'ERC20', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD', 'EIP-55 checksum wrong'],
    ['USDT', 'ERC20', '0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea', 'too short'],
    ['USDT', 'ERC20', 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t', 'a TRON address'],
    ['USDT', 'TRC20', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', 'an EVM address'],
    ['USDT', 'TRC20', 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u', 'base58check checksum wrong'],
    ['USDT', 'BEP20', 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', 'a bitcoin address'],
    ['BTC', 'BTC', 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5', 'bech32 checksum wrong'],
    ['BTC', 'BTC', 'tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx', 'a testnet address'],
    ['BTC', 'BTC', '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb', 'base58check checksum wrong'],
    ['ETH', 'ETH', 'not-an-address', 'garbage'],
  ];
  for (const [asset, network, address, why] of invalid) {
    test(`${asset} on ${network} rejects ${why} with 400 code 40002 on field address`, async () => {
      const answer = await withdraw('5.00', address, asset, network);
      assert.equal(answer.status, 400);
      assert.deepEqual(answer.body, {
        success: false,
        code: 40002,
        message: `address is not a valid ${network} address`,
        data: { field: 'address' },
      });
    });
  }

  test('an unsupported asset/network pair is 400 code 40003', async () => {
    const answer = await withdraw('5.00', ADDRESSES.tron, 'USDC', 'TRC20');
    assert.equal(answer.status, 400);
    assert.equal(answer.body.code, 40003);
  });
});

describe('crypto withdrawals', () => {
  test('a withdrawal is pending, broadcast with a tx hash, then completed after 12 ERC20 confirmations', async () => {
    const created = await withdraw('50.00');
    assert.equal(created.body.data.status, 'pending');
    assert.match(created.body.data.withdrawal_id, /^wd_/);
    t.advance(MINUTE);
    const broadcast = await getWithdrawal(created.body.data.withdrawal_id);
    assert.equal(broadcast.status, 'broadcast');
    assert.match(broadcast.tx_hash, /^0x[0-9a-f]{64}$/);
    t.advance(12 * 10);
    const completed = await getWithdrawal(created.body.data.withdrawal_id);
    assert.equal(completed.status, 'completed');
    assert.equal(completed.transaction.confirmations, 12);
  });

  test('amount …01 is refused: 422 code 42201 insufficient hot wallet balance', async () => {
    const answer = await withdraw('50.01');
    assert.equal(answer.status, 422);
    assert.equal(answer.body.code, 42201);
  });

  test('amount …04 is broadcast and never confirms', async () => {
    const created = await withdraw('50.04');
    t.advance(24 * 60 * MINUTE);
    const stuck = await getWithdrawal(created.body.data.withdrawal_id);
    assert.equal(stuck.status, 'broadcast');
    assert.equal(stuck.transaction.confirmations, 0);
  });

  test('amount …05 fails at broadcast with broadcast_rejected', async () => {
    const created = await withdraw('50.05');
    t.advance(MINUTE);
    const failed = await getWithdrawal(created.body.data.withdrawal_id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure_reason, 'broadcast_rejected');
    assert.equal(failed.tx_hash, null);
  });
});

describe('crypto quotes and orders', () => {
  const quote = (body: Record<string, unknown>) => call('POST', '/crypto/v1/quotes', { fiat_currency: 'USD', ...body });

  test('a buy quote prices 100.00 USD of BTC at 65000.00 with a 1% fee and expires in 30 seconds', async () => {
    const answer = await quote({ side: 'buy', asset: 'BTC', network: 'BTC', fiat_amount: '100.00' });
    assert.equal(answer.status, 201);
    const data = answer.body.data;
    assert.equal(data.rate, '65000.00');
    assert.equal(data.fee, '1.00');
    assert.equal(data.crypto_amount, '0.00152307');
    assert.equal(Date.parse(data.expires_at) - Date.parse(data.created_at), 30_000);
  });

  test('a buy quoted by crypto_amount delivers exactly that amount for the least fiat that buys it', async () => {
    const answer = await quote({ side: 'buy', asset: 'USDT', network: 'TRC20', crypto_amount: '99' });
    assert.equal(answer.status, 201, answer.text);
    assert.deepEqual(
      [answer.body.data.crypto_amount, answer.body.data.fiat_amount, answer.body.data.fee],
      ['99.000000', '100.00', '1.00'],
    );
    const both = await quote({
      side: 'buy',
      asset: 'USDT',
      network: 'TRC20',
      crypto_amount: '99',
      fiat_amount: '100.00',
    });
    assert.deepEqual([both.status, both.body.code, both.body.data.field], [400, 40001, 'crypto_amount']);
    for (const asset of ASSETS) {
      const unit = 10n ** BigInt(asset.decimals);
      for (const crypto of [1n, 7n, 123_457n, 99_040_000n, unit, 3n * unit + 11n]) {
        const { fiatCents, cryptoMinor } = priceCryptoBuy(asset, crypto);
        assert.equal(cryptoMinor, crypto);
        assert.ok(price('buy', asset, fiatCents).cryptoMinor >= crypto, `${asset.asset}: ${fiatCents} buys ${crypto}`);
        assert.ok(price('buy', asset, fiatCents - 1n).cryptoMinor < crypto, `${asset.asset}: ${fiatCents - 1n} not`);
      }
    }
  });

  test('…02 fails the order once but not its quote; …03 fails the quote every time', async () => {
    const once = await quote({ side: 'sell', asset: 'USDT', network: 'TRC20', crypto_amount: '10.02' });
    assert.equal(once.status, 201, 'the quote is not failed');
    const order = { quote_id: once.body.data.quote_id };
    const first = await call('POST', '/crypto/v1/orders', order);
    assert.deepEqual([first.status, first.body.code], [500, 50001]);
    assert.equal((await call('POST', '/crypto/v1/orders', order)).status, 201, 'the same order again goes through');
    for (let i = 0; i < 2; i++) {
      const always = await quote({ side: 'buy', asset: 'USDT', network: 'TRC20', crypto_amount: '10.03' });
      assert.deepEqual([always.status, always.body.code], [500, 50001]);
    }
  });

  test('a buy order delivers the crypto to the destination: processing, then completed with a tx hash', async () => {
    const q = (await quote({ side: 'buy', asset: 'USDT', network: 'TRC20', fiat_amount: '100.00' })).body.data;
    const order = await call('POST', '/crypto/v1/orders', {
      quote_id: q.quote_id,
      destination_address: ADDRESSES.tron,
    });
    assert.equal(order.status, 201);
    assert.equal(order.body.data.status, 'processing');
    assert.equal(order.body.data.crypto_amount, '99.000000');
    t.advance(MINUTE + 19 * 10);
    const done = (await call('GET', `/crypto/v1/orders/${order.body.data.order_id}`)).body.data;
    assert.equal(done.status, 'completed');
    assert.match(done.transaction.tx_hash, /^[0-9a-f]{64}$/);
    const reuse = await call('POST', '/crypto/v1/orders', {
      quote_id: q.quote_id,
      destination_address: ADDRESSES.tron,
    });
    assert.equal(reuse.status, 409);
    assert.equal(reuse.body.code, 40904);
  });

  test('a buy order checks the destination address for the network', async () => {
    const q = (await quote({ side: 'buy', asset: 'USDT', network: 'TRC20', fiat_amount: '100.00' })).body.data;
    const order = await call('POST', '/crypto/v1/orders', { quote_id: q.quote_id, destination_address: ADDRESSES.evm });
    assert.equal(order.body.code, 40002);
    assert.equal(order.body.data.field, 'destination_address');
  });

  test('an expired quote is 400 code 40004', async () => {
    const q = (await quote({ side: 'buy', asset: 'ETH', network: 'ETH', fiat_amount: '50.00' })).body.data;
    t.advance(31);
    const order = await call('POST', '/crypto/v1/orders', { quote_id: q.quote_id, destination_address: ADDRESSES.evm });
    assert.equal(order.status, 400);
    assert.equal(order.body.code, 40004);
  });

  test('a sell order returns a valid ramp deposit address and completes when the crypto confirms', async () => {
    const q = (await quote({ side: 'sell', asset: 'USDT', network: 'ERC20', crypto_amount: '200' })).body.data;
    assert.equal(q.fiat_amount, '198.00');
    const order = (await call('POST', '/crypto/v1/orders', { quote_id: q.quote_id, customer_ref: 'u1' })).body.data;
    assert.equal(order.status, 'awaiting_deposit');
    assert.match(order.deposit_address, /^0x[0-9a-fA-F]{40}$/);
    // The ramp's own address passes the same network check it applies to others.
    const check = await withdraw('1.00', order.deposit_address, 'USDT', 'ERC20');
    assert.equal(check.status, 201);
    t.advance(MINUTE + 10);
    assert.equal((await call('GET', `/crypto/v1/orders/${order.order_id}`)).body.data.status, 'confirming');
    t.advance(11 * 10);
    assert.equal((await call('GET', `/crypto/v1/orders/${order.order_id}`)).body.data.status, 'completed');
    t.advance(60 * MINUTE);
    assert.equal(
      (await call('GET', `/crypto/v1/orders/${order.order_id}`)).body.data.status,
      'completed',
      'a sell whose crypto arrived does not expire',
    );
  });

  test('sell …04: no crypto arrives, the order expires after its hour; sell …05 fails with deposit_dropped; buy …01 is 422 code 42202', async () => {
    const stuckQuote = (await quote({ side: 'sell', asset: 'BTC', network: 'BTC', crypto_amount: '0.04' })).body.data;
    const stuck = (await call('POST', '/crypto/v1/orders', { quote_id: stuckQuote.quote_id })).body.data;
    assert.match(stuck.deposit_address, /^bc1q/);
    assert.equal(Date.parse(stuck.expires_at) - Date.parse(stuck.created_at), 60 * MINUTE * 1000);
    const dropQuote = (await quote({ side: 'sell', asset: 'USDT', network: 'TRC20', crypto_amount: '10.05' })).body
      .data;
    const dropped = (await call('POST', '/crypto/v1/orders', { quote_id: dropQuote.quote_id })).body.data;
    assert.match(dropped.deposit_address, /^T/);
    t.advance(59 * MINUTE);
    assert.equal((await call('GET', `/crypto/v1/orders/${stuck.order_id}`)).body.data.status, 'awaiting_deposit');
    t.advance(24 * 60 * MINUTE);
    const expired = (await call('GET', `/crypto/v1/orders/${stuck.order_id}`)).body.data;
    assert.deepEqual([expired.status, expired.transaction], ['expired', null]);
    const failed = (await call('GET', `/crypto/v1/orders/${dropped.order_id}`)).body.data;
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure_reason, 'deposit_dropped');
    const illiquid = (await quote({ side: 'buy', asset: 'ETH', network: 'ETH', fiat_amount: '70.01' })).body.data;
    const refused = await call('POST', '/crypto/v1/orders', {
      quote_id: illiquid.quote_id,
      destination_address: ADDRESSES.evm,
    });
    assert.equal(refused.status, 422);
    assert.equal(refused.body.code, 42202);
  });

  test('buy …05 fails after the settle delay with liquidity_provider_rejected', async () => {
    const q = (await quote({ side: 'buy', asset: 'USDC', network: 'ERC20', fiat_amount: '30.05' })).body.data;
    const order = (
      await call('POST', '/crypto/v1/orders', { quote_id: q.quote_id, destination_address: ADDRESSES.evm })
    ).body.data;
    t.advance(MINUTE);
    const failed = (await call('GET', `/crypto/v1/orders/${order.order_id}`)).body.data;
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure_reason, 'liquidity_provider_rejected');
  });

  test('a missing ramp key is 401 code 40101 in the envelope', async () => {
    const answer = await t.call('crypto', 'GET', '/crypto/v1/assets', undefined, { auth: false });
    assert.equal(answer.status, 401);
    assert.deepEqual([answer.body.success, answer.body.code, answer.body.data], [false, 40101, null]);
    const assets = await call('GET', '/crypto/v1/assets');
    assert.equal(assets.body.data.length, 6);
  });
});

test('a simulator whose transfers start after an hour keeps its sells open twice as long, and they complete', async () => {
  const slow = await startTestSimulator({ settleDelayMs: 2 * 3_600_000, blockIntervalMs: 10_000 });
  const slowCall = (method: string, path: string, body?: unknown) => slow.call('crypto', method, path, body);
  const q = (
    await slowCall('POST', '/crypto/v1/quotes', {
      fiat_currency: 'USD',
      side: 'sell',
      asset: 'USDT',
      network: 'ERC20',
      crypto_amount: '200',
    })
  ).body.data;
  const order = (await slowCall('POST', '/crypto/v1/orders', { quote_id: q.quote_id })).body.data;
  assert.equal(Date.parse(order.expires_at) - Date.parse(order.created_at), 4 * 3_600_000);
  slow.advance(2 * 3_600 + 10);
  assert.equal((await slowCall('GET', `/crypto/v1/orders/${order.order_id}`)).body.data.status, 'confirming');
  slow.advance(3 * 3_600);
  assert.equal((await slowCall('GET', `/crypto/v1/orders/${order.order_id}`)).body.data.status, 'completed');
});
