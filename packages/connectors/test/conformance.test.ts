import { systemClock } from '@rampart/core';
import { createTestDatabase } from '../../server/test/harness.ts';
import { CircuitBreaker } from '../src/circuit-breaker.ts';
import { DepositAddresses } from '../src/crypto/deposit-addresses.ts';
import { SimBankConnector } from '../src/simbank/simbank.ts';
import { SimCardConnector } from '../src/simcard/simcard.ts';
import { SimCryptoConnector } from '../src/simcrypto/simcrypto.ts';
import { conformance, uniqueId } from './conformance.ts';
import { TEST_XPUB } from './crypto-fixtures.ts';
import { seedOperator, startSandbox } from './sandbox.ts';

const { db } = await createTestDatabase();
const sandbox = await startSandbox();
const people = await seedOperator(db);
const addresses = new DepositAddresses(db, systemClock);

/** Connector options with a breaker that never opens, unless a test brings its own. */
const options = (provider: 'bank' | 'cards' | 'crypto', extra: { timeoutMs?: number; breaker?: CircuitBreaker } = {}) =>
  sandbox.options(provider, { breaker: new CircuitBreaker({ threshold: 1_000 }), ...extra });

async function request(fields: {
  method: 'bank' | 'card' | 'crypto';
  currency: string;
  network?: string;
  amount: bigint;
  instrument?: Record<string, unknown>;
}) {
  const paymentId = uniqueId('pay');
  return {
    paymentId,
    operatorId: people.operatorId,
    kind: 'deposit' as const,
    method: fields.method,
    amount: fields.amount,
    currency: fields.currency,
    network: fields.network ?? null,
    // Each pay-in has its own user: a crypto deposit address is watched for one deposit at a time.
    user: await people.user(uniqueId('user'), { email: 'payer@example.com' }),
    returnUrl: 'https://operator.example/return',
    instrument: fields.instrument ?? {},
    idempotencyKey: paymentId,
  };
}

conformance(() => sandbox, {
  name: 'simbank',
  provider: 'bank',
  payInPath: '/bank/v1/payments',
  connector: (extra) => new SimBankConnector(options('bank', extra)),
  payIn: () => request({ method: 'bank', currency: 'USD', amount: 2500n }),
  supported: [
    ['deposit', 'bank', 'USD', null],
    ['withdrawal', 'bank', 'EUR', null],
  ],
  unsupported: [
    ['deposit', 'card', 'USD', null],
    ['buy', 'bank', 'USD', null],
    ['deposit', 'bank', 'USDT', 'TRC20'],
  ],
});

conformance(() => sandbox, {
  name: 'simcard',
  provider: 'cards',
  payInPath: '/cards/v1/payments',
  connector: (extra) => new SimCardConnector(options('cards', extra)),
  payIn: () =>
    request({
      method: 'card',
      currency: 'USD',
      amount: 2500n,
      instrument: { card_number: '4242424242424242', exp_month: 12, exp_year: 2099, cvc: '123' },
    }),
  supported: [
    ['deposit', 'card', 'USD', null],
    ['deposit', 'ach', 'USD', null],
    ['withdrawal', 'card', 'EUR', null],
  ],
  unsupported: [
    ['deposit', 'bank', 'USD', null],
    ['deposit', 'ach', 'EUR', null],
    ['sell', 'card', 'USD', null],
  ],
});

conformance(() => sandbox, {
  name: 'simcrypto',
  provider: 'crypto',
  payInPath: '/crypto/v1/deposit-watches',
  connector: (extra) =>
    new SimCryptoConnector({
      ...options('crypto', extra),
      addresses,
      xpubFor: async () => TEST_XPUB,
    }),
  payIn: () => request({ method: 'crypto', currency: 'USDT', network: 'TRC20', amount: 100_000_000n }),
  supported: [
    ['deposit', 'crypto', 'USDT', 'TRC20'],
    ['withdrawal', 'crypto', 'BTC', 'BITCOIN'],
    ['buy', 'crypto', 'ETH', 'ETHEREUM'],
    ['sell', 'crypto', 'USDC', 'ERC20'],
  ],
  unsupported: [
    ['deposit', 'crypto', 'USDT', null],
    ['deposit', 'crypto', 'BTC', 'ERC20'],
    ['deposit', 'card', 'USDT', 'TRC20'],
    ['deposit', 'crypto', 'USD', null],
  ],
});
