import { RampartError } from '@rampart/errors';
import type { Currency } from './currencies.ts';

/**
 * Amounts are `bigint` minor units from the moment they enter Rampart: parsing and
 * formatting work on digit strings and never go through `number`, so 18-decimal ETH
 * amounts keep every wei.
 */

/**
 * The largest amount, and the largest balance either way, Rampart holds: 2^256 - 1 minor
 * units, the largest amount a token contract can hold (uint256), so any amount a chain
 * can send fits with the asset's real decimals (ETH: ~1.16 × 10^59 ETH, in wei). The
 * database keeps the same bound (`minor_units`, numeric(78, 0), migration 0020).
 */
export const MAX_AMOUNT = 2n ** 256n - 1n;

/**
 * Longer amount input is rejected before it is looked at. MAX_AMOUNT has 78 digits, 79
 * characters with a decimal point: room for it, and for a few leading zeros.
 */
export const MAX_AMOUNT_INPUT_LENGTH = 100;

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;
const INTEGER = /^\d+$/;

function describeDecimal(currency: Currency): string {
  return currency.exponent === 0
    ? `a positive whole number of ${currency.code}, e.g. 1500`
    : `a positive amount of ${currency.code} with at most ${currency.exponent} decimals, e.g. 12.${'345678901234567890'.slice(0, currency.exponent)}`;
}

function describeMinorUnits(currency: Currency): string {
  return `a positive integer number of minor units of ${currency.code} (1 ${currency.code} = ${10n ** BigInt(currency.exponent)})`;
}

function describeMaximum(currency: Currency): string {
  return `a positive amount of at most ${formatAmount(MAX_AMOUNT, currency)} ${currency.code}`;
}

/** `provided` is echoed to the client as JSON, which has no bigint. */
function echo(input: unknown): unknown {
  if (typeof input === 'bigint') return input.toString();
  if (typeof input === 'string' && input.length > MAX_AMOUNT_INPUT_LENGTH)
    return `${input.slice(0, MAX_AMOUNT_INPUT_LENGTH)}…`;
  return input;
}

function invalid(field: string, input: unknown, expected: string): RampartError {
  return new RampartError('invalid_amount', { field, provided: echo(input), expected });
}

/**
 * Parses a decimal amount in major units ("12.34" USD) into minor units (1234n).
 *
 * Strict on purpose, because a lenient parse of money is a wrong amount: only digits
 * with an optional fraction; no sign, spaces, exponent ("1e3"), thousands separators
 * or bare dots; no more decimals than the currency has (not even trailing zeros);
 * strictly positive; at most MAX_AMOUNT (2^256 - 1) minor units. Anything else is
 * `invalid_amount` naming `field` and saying what was expected.
 */
export function parseAmount(input: unknown, currency: Currency, field = 'amount'): bigint {
  if (typeof input !== 'string' || input.length > MAX_AMOUNT_INPUT_LENGTH)
    throw invalid(field, input, describeDecimal(currency));
  const match = DECIMAL.exec(input);
  if (!match) throw invalid(field, input, describeDecimal(currency));
  const whole = match[1]!;
  const fraction = match[2] ?? '';
  if (fraction.length > currency.exponent) throw invalid(field, input, describeDecimal(currency));
  const minor = BigInt(whole + fraction.padEnd(currency.exponent, '0'));
  if (minor === 0n) throw invalid(field, input, describeDecimal(currency));
  if (minor > MAX_AMOUNT) throw invalid(field, input, describeMaximum(currency));
  return minor;
}

/**
 * Accepts an amount already in minor units: a `bigint`, a safe integer `number`, or a
 * string of digits (how amounts above 2^53 travel in JSON). Fractional minor units,
 * unsafe integers, zero, negatives and values above MAX_AMOUNT are `invalid_amount`.
 */
export function parseMinorUnits(input: unknown, currency: Currency, field = 'amount'): bigint {
  let minor: bigint;
  if (typeof input === 'bigint') minor = input;
  else if (typeof input === 'number') {
    // A number above 2^53 has already lost digits on the way in; refuse to guess them.
    if (!Number.isSafeInteger(input)) {
      const hint = Number.isInteger(input) ? '; send amounts above 9007199254740991 as a string' : '';
      throw invalid(field, input, describeMinorUnits(currency) + hint);
    }
    minor = BigInt(input);
  } else if (typeof input === 'string' && input.length <= MAX_AMOUNT_INPUT_LENGTH && INTEGER.test(input)) {
    minor = BigInt(input);
  } else throw invalid(field, input, describeMinorUnits(currency));
  if (minor <= 0n) throw invalid(field, input, describeMinorUnits(currency));
  if (minor > MAX_AMOUNT) throw invalid(field, input, describeMaximum(currency));
  return minor;
}

/**
 * Formats minor units as a decimal string with exactly the currency's decimals:
 * 1234n USD → "12.34", -5n USD → "-0.05", 1500n JPY → "1500", 1n ETH →
 * "0.000000000000000001". The output parses back to the same amount.
 */
export function formatAmount(minor: bigint, currency: Currency): string {
  const sign = minor < 0n ? '-' : '';
  const digits = (minor < 0n ? -minor : minor).toString();
  if (currency.exponent === 0) return sign + digits;
  const padded = digits.padStart(currency.exponent + 1, '0');
  const cut = padded.length - currency.exponent;
  return `${sign}${padded.slice(0, cut)}.${padded.slice(cut)}`;
}
