import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RampartError } from '@rampart/errors';
import fc from 'fast-check';
import {
  CURRENCIES,
  findCurrency,
  formatAmount,
  getAsset,
  getCurrency,
  MAX_AMOUNT,
  MAX_AMOUNT_INPUT_LENGTH,
  parseAmount,
  parseMinorUnits,
} from '../src/money/index.ts';

const USD = getCurrency('USD');
const JPY = getCurrency('JPY');
const KWD = getCurrency('KWD');
const ETH = getCurrency('ETH');
const USDT = getCurrency('USDT');
const BTC = getCurrency('BTC');

/** MAX_AMOUNT (2^256 - 1 minor units) as ETH and as USD, and one minor unit more. */
const MAX_ETH = '115792089237316195423570985008687907853269984665640564039457.584007913129639935';
const OVER_ETH = '115792089237316195423570985008687907853269984665640564039457.584007913129639936';
const MAX_USD = '1157920892373161954235709850086879078532699846656405640394575840079131296399.35';
const OVER_USD = '1157920892373161954235709850086879078532699846656405640394575840079131296399.36';
const escaped = (text: string) => text.replace('.', '\\.');

/** Asserts `invalid_amount` with the field, the echoed input and an `expected` matching `expected`. */
function rejectsAmount(run: () => unknown, provided: unknown, expected: RegExp, field = 'amount'): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof RampartError, String(error));
    assert.equal(error.code, 'invalid_amount');
    assert.equal(error.status, 422);
    assert.equal(error.details['field'], field);
    assert.deepEqual(error.details['provided'], provided);
    assert.match(String(error.details['expected']), expected);
    return true;
  });
}

describe('currency registry', () => {
  test('fiat exponents follow ISO 4217', () => {
    const exponents = Object.fromEntries(
      ['USD', 'EUR', 'GBP', 'JPY', 'KWD', 'BHD', 'CAD', 'AUD', 'MXN', 'BRL', 'CLP', 'KRW', 'OMR', 'TND'].map((code) => [
        code,
        getCurrency(code).exponent,
      ]),
    );
    assert.deepEqual(exponents, {
      USD: 2,
      EUR: 2,
      GBP: 2,
      JPY: 0,
      KWD: 3,
      BHD: 3,
      CAD: 2,
      AUD: 2,
      MXN: 2,
      BRL: 2,
      CLP: 0,
      KRW: 0,
      OMR: 3,
      TND: 3,
    });
    assert.ok(CURRENCIES.filter((c) => c.kind === 'fiat').every((c) => c.networks.length === 0));
  });

  test('crypto assets carry their networks and decimals', () => {
    assert.deepEqual(
      { exponent: USDT.exponent, networks: USDT.networks, kind: USDT.kind },
      { exponent: 6, networks: ['TRC20', 'ERC20', 'BEP20'], kind: 'crypto' },
    );
    assert.deepEqual([getCurrency('USDC').exponent, getCurrency('USDC').networks], [6, ['ERC20']]);
    assert.deepEqual([BTC.exponent, BTC.networks], [8, ['BITCOIN']]);
    assert.deepEqual([ETH.exponent, ETH.networks], [18, ['ETHEREUM']]);
  });

  test('codes are looked up in any case and come back canonical', () => {
    assert.equal(getCurrency('usd'), USD);
    assert.equal(findCurrency('Eth'), ETH);
    assert.equal(findCurrency('XYZ'), undefined);
  });

  test('an unknown currency is invalid_value on the currency field', () => {
    assert.throws(
      () => getCurrency('DOGE'),
      (error: unknown) =>
        error instanceof RampartError &&
        error.code === 'invalid_value' &&
        error.details['field'] === 'currency' &&
        error.details['provided'] === 'DOGE',
    );
  });

  test('assets: fiat has no network, crypto only its own networks', () => {
    assert.deepEqual(getAsset('EUR'), { currency: getCurrency('EUR'), network: null });
    assert.deepEqual(getAsset('usdt', 'trc20'), { currency: USDT, network: 'TRC20' });
    assert.deepEqual(getAsset('USDT', null), { currency: USDT, network: null });
    for (const [code, network] of [
      ['USDT', 'BITCOIN'],
      ['USDC', 'TRC20'],
      ['USD', 'ERC20'],
      ['BTC', 'SOLANA'],
    ] as const) {
      assert.throws(
        () => getAsset(code, network),
        (error: unknown) =>
          error instanceof RampartError &&
          error.code === 'wallet_not_supported' &&
          error.details['currency'] === code &&
          error.details['network'] === network,
        `${code} on ${network}`,
      );
    }
  });
});

describe('parsing decimal amounts', () => {
  test('decimal strings become minor units of the currency', () => {
    assert.equal(parseAmount('12.34', USD), 1234n);
    assert.equal(parseAmount('12.3', USD), 1230n);
    assert.equal(parseAmount('12', USD), 1200n);
    assert.equal(parseAmount('0.01', USD), 1n);
    assert.equal(parseAmount('1500', JPY), 1500n);
    assert.equal(parseAmount('1.234', KWD), 1234n);
    assert.equal(parseAmount('0.00000001', BTC), 1n);
    assert.equal(parseAmount('100.5', USDT), 100_500_000n);
  });

  test('ETH keeps all 18 decimals, beyond what a number (or a bigint column) can hold', () => {
    assert.equal(parseAmount('0.000000000000000001', ETH), 1n);
    assert.equal(parseAmount('1.000000000000000001', ETH), 1_000_000_000_000_000_001n);
    assert.equal(parseAmount('25.000000000000000001', ETH), 25n * 10n ** 18n + 1n);
    assert.equal(parseAmount(MAX_ETH, ETH), MAX_AMOUNT);
    assert.equal(formatAmount(1_000_000_000_000_000_001n, ETH), '1.000000000000000001');
  });

  test('zero is refused, in every spelling', () => {
    for (const zero of ['0', '0.00', '0.0', '000'])
      rejectsAmount(() => parseAmount(zero, USD), zero, /^a positive amount of USD with at most 2 decimals/);
  });

  test('negative amounts are refused', () => {
    rejectsAmount(() => parseAmount('-1.00', USD), '-1.00', /positive/);
    rejectsAmount(() => parseAmount('-0', USD), '-0', /positive/);
  });

  test('more decimals than the currency has are refused, even trailing zeros', () => {
    rejectsAmount(() => parseAmount('12.345', USD), '12.345', /at most 2 decimals, e\.g\. 12\.34$/);
    rejectsAmount(() => parseAmount('12.340', USD), '12.340', /at most 2 decimals/);
    rejectsAmount(() => parseAmount('1.5', JPY), '1.5', /^a positive whole number of JPY/);
    rejectsAmount(() => parseAmount('1.0', JPY), '1.0', /whole number/);
    rejectsAmount(() => parseAmount('1.2345', KWD), '1.2345', /at most 3 decimals, e\.g\. 12\.345$/);
    rejectsAmount(() => parseAmount('0.0000000000000000001', ETH), '0.0000000000000000001', /at most 18 decimals/);
  });

  test('anything that is not plain digits with an optional fraction is refused', () => {
    for (const text of [
      '',
      ' ',
      'abc',
      '12,34',
      '1,000.00',
      '12.',
      '.5',
      '+12',
      ' 12',
      '12 ',
      '0x10',
      'NaN',
      'Infinity',
      '12.3.4',
      '１２',
    ])
      rejectsAmount(() => parseAmount(text, USD), text, /at most 2 decimals/);
  });

  test('exponent notation is refused', () => {
    for (const text of ['1e3', '1E3', '1.5e2', '1e-2']) rejectsAmount(() => parseAmount(text, USD), text, /decimals/);
  });

  test('non-string input is refused: decimal amounts travel as strings', () => {
    rejectsAmount(() => parseAmount(12.34, USD), 12.34, /decimals/);
    rejectsAmount(() => parseAmount(null, USD), null, /decimals/);
    rejectsAmount(() => parseAmount(1234n, USD), '1234', /decimals/);
  });

  test('the maximum is 2^256 - 1 minor units, the largest amount a token contract holds', () => {
    assert.equal(MAX_AMOUNT, 2n ** 256n - 1n);
    assert.equal(parseAmount('92233720368547758.08', USD), 2n ** 63n, 'beyond what bigint held');
  });

  test('amounts above 2^256 - 1 minor units are refused, naming the maximum', () => {
    rejectsAmount(() => parseAmount(OVER_USD, USD), OVER_USD, new RegExp(`at most ${escaped(MAX_USD)} USD$`));
    rejectsAmount(() => parseAmount(OVER_ETH, ETH), OVER_ETH, new RegExp(`at most ${escaped(MAX_ETH)} ETH$`));
    assert.equal(parseAmount(MAX_USD, USD), MAX_AMOUNT);
  });

  test('absurdly long input is refused without being parsed, and echoed truncated', () => {
    const huge = '9'.repeat(10_000);
    assert.throws(
      () => parseAmount(huge, USD),
      (error: unknown) =>
        error instanceof RampartError &&
        error.code === 'invalid_amount' &&
        String(error.details['provided']).length <= MAX_AMOUNT_INPUT_LENGTH + 1,
    );
  });

  test('the field name is the caller’s', () => {
    rejectsAmount(() => parseAmount('x', USD, 'limits.max_amount'), 'x', /decimals/, 'limits.max_amount');
  });
});

describe('parsing minor units', () => {
  test('bigint, safe integers and digit strings are accepted', () => {
    assert.equal(parseMinorUnits(1234n, USD), 1234n);
    assert.equal(parseMinorUnits(1234, USD), 1234n);
    assert.equal(parseMinorUnits('1234', USD), 1234n);
    assert.equal(parseMinorUnits('9223372036854775808', ETH), 2n ** 63n);
    assert.equal(parseMinorUnits(MAX_AMOUNT.toString(), ETH), MAX_AMOUNT);
  });

  test('fractional minor units are refused', () => {
    rejectsAmount(
      () => parseMinorUnits(12.5, USD),
      12.5,
      /^a positive integer number of minor units of USD \(1 USD = 100\)$/,
    );
    rejectsAmount(() => parseMinorUnits('12.5', USD), '12.5', /integer number of minor units/);
  });

  test('zero and negatives are refused', () => {
    rejectsAmount(() => parseMinorUnits(0, USD), 0, /positive/);
    rejectsAmount(() => parseMinorUnits(0n, USD), '0', /positive/);
    rejectsAmount(() => parseMinorUnits(-5, USD), -5, /positive/);
    rejectsAmount(() => parseMinorUnits(-5n, USD), '-5', /positive/);
    rejectsAmount(() => parseMinorUnits('-5', USD), '-5', /positive/);
  });

  test('numbers beyond 2^53 are refused: they already lost digits', () => {
    rejectsAmount(() => parseMinorUnits(2 ** 53, ETH), 2 ** 53, /send amounts above 9007199254740991 as a string/);
    assert.equal(parseMinorUnits(String(2n ** 53n + 1n), ETH), 2n ** 53n + 1n);
  });

  test('non-numeric input and exponent notation are refused', () => {
    for (const input of ['abc', '', '1e3', ' 1', '0x1f', Number.NaN, Number.POSITIVE_INFINITY, true, {}, null])
      rejectsAmount(() => parseMinorUnits(input, USD), input, /minor units of USD/);
    rejectsAmount(() => parseMinorUnits(1e21, USD), 1e21, /as a string/);
  });

  test('above 2^256 - 1 is refused', () => {
    const over = (MAX_AMOUNT + 1n).toString();
    rejectsAmount(() => parseMinorUnits(MAX_AMOUNT + 1n, USD), over, new RegExp(`at most ${escaped(MAX_USD)} USD$`));
    rejectsAmount(() => parseMinorUnits(over, USD), over, /at most/);
  });

  test('ETH states its unit size exactly', () => {
    rejectsAmount(() => parseMinorUnits(1.5, ETH), 1.5, /\(1 ETH = 1000000000000000000\)/);
  });
});

describe('formatting', () => {
  test('exactly the currency’s decimals, sign in front', () => {
    assert.equal(formatAmount(1234n, USD), '12.34');
    assert.equal(formatAmount(5n, USD), '0.05');
    assert.equal(formatAmount(0n, USD), '0.00');
    assert.equal(formatAmount(-5n, USD), '-0.05');
    assert.equal(formatAmount(-123456n, USD), '-1234.56');
    assert.equal(formatAmount(1500n, JPY), '1500');
    assert.equal(formatAmount(-1500n, JPY), '-1500');
    assert.equal(formatAmount(1n, KWD), '0.001');
    assert.equal(formatAmount(1n, ETH), '0.000000000000000001');
    assert.equal(formatAmount(MAX_AMOUNT, ETH), MAX_ETH);
    assert.equal(formatAmount(MAX_AMOUNT, USD), MAX_USD);
    assert.equal(formatAmount(-MAX_AMOUNT, ETH), `-${MAX_ETH}`);
  });

  test('format and parse round-trip every amount in every currency', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CURRENCIES), fc.bigInt({ min: 1n, max: MAX_AMOUNT }), (currency, minor) => {
        const text = formatAmount(minor, currency);
        assert.equal(parseAmount(text, currency), minor);
        assert.equal(formatAmount(parseMinorUnits(minor.toString(), currency), currency), text);
      }),
      { numRuns: 2_000 },
    );
  });

  test('ETH round-trips wei-exact across the whole range', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: MAX_AMOUNT }), (wei) => {
        assert.equal(parseAmount(formatAmount(wei, ETH), ETH), wei);
      }),
      { numRuns: 2_000 },
    );
  });
});
