import { type Action, type PaymentMethod, systemClock } from '@rampart/core';
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
const options = (
  provider: 'bank' | 'cards' | 'crypto',
  extra: { timeoutMs?: number; breaker?: CircuitBreaker; baseUrl?: () => string } = {},
) => sandbox.options(provider, { breaker: new CircuitBreaker({ threshold: 1_000 }), ...extra });

const EVM_ADDRESS = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const US_ACCOUNT = { account_holder_name: 'Ada Lovelace', routing_number: '110000000', account_number: '000123456789' };
const card = (number: string) => ({ card_number: number, exp_month: 12, exp_year: 2099, cvc: '123' });

async function request(fields: {
  kind?: Action;
  method: PaymentMethod;
  currency: string;
  network?: string;
  amount: bigint;
  instrument?: Record<string, unknown>;
}) {
  const paymentId = uniqueId('pay');
  return {
    paymentId,
    operatorId: people.operatorId,
    kind: fields.kind ?? 'deposit',
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
  lookupPath: '/bank/v1/payments/by_reference/',
  connector: (extra) => new SimBankConnector(options('bank', extra)),
  payIn: () => request({ method: 'bank', currency: 'USD', amount: 2500n }),
  creates: {
    payment: () => request({ method: 'bank', currency: 'USD', amount: 2500n }),
    payout: () =>
      request({ kind: 'withdrawal', method: 'bank', currency: 'USD', amount: 4000n, instrument: US_ACCOUNT }),
  },
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
  lookupPath: '/cards/v1/payments/by_idempotency_key/',
  connector: (extra) => new SimCardConnector(options('cards', extra)),
  payIn: () => request({ method: 'card', currency: 'USD', amount: 2500n, instrument: card('4242424242424242') }),
  creates: {
    'card payment': () =>
      request({ method: 'card', currency: 'USD', amount: 2500n, instrument: card('4242424242424242') }),
    'declined card payment': () =>
      request({ method: 'card', currency: 'USD', amount: 2500n, instrument: card('4000000000000002') }),
    'ACH debit': () => request({ method: 'ach', currency: 'USD', amount: 2500n, instrument: US_ACCOUNT }),
    'push-to-card payout': () =>
      request({
        kind: 'withdrawal',
        method: 'card',
        currency: 'EUR',
        amount: 4000n,
        instrument: card('4242424242424242'),
      }),
    'ACH credit payout': () =>
      request({ kind: 'withdrawal', method: 'bank', currency: 'USD', amount: 4000n, instrument: US_ACCOUNT }),
  },
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
  lookupPath: '/crypto/v1/deposit-watches/by-reference/',
  connector: (extra) =>
    new SimCryptoConnector({
      ...options('crypto', extra),
      addresses,
      xpubFor: async () => TEST_XPUB,
    }),
  payIn: () => request({ method: 'crypto', currency: 'USDT', network: 'TRC20', amount: 100_000_000n }),
  creates: {
    'deposit watch': () => request({ method: 'crypto', currency: 'USDT', network: 'TRC20', amount: 100_000_000n }),
    withdrawal: () =>
      request({
        kind: 'withdrawal',
        method: 'crypto',
        currency: 'USDT',
        network: 'ERC20',
        amount: 30_000_000n,
        instrument: { address: EVM_ADDRESS },
      }),
    'buy order': () =>
      request({ kind: 'buy', method: 'crypto', currency: 'USDT', network: 'TRC20', amount: 99_000_000n }),
    'sell order': () =>
      request({ kind: 'sell', method: 'crypto', currency: 'USDT', network: 'TRC20', amount: 20_000_000n }),
  },
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
