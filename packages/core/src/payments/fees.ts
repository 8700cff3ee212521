/**
 * The operator's fees: per action and currency, a fixed part and a percentage of the
 * amount. A pay-in's fee comes out of what the user is credited; a pay-out's is debited
 * from the user on top of what is paid out. Either way it is posted to the operator's
 * `fees` account in the transaction that moves the rest of the money.
 */
import { RampartError } from '@rampart/errors';
import { type Currency, getCurrency, parseAmount } from '../money/index.ts';

/** As operators set it: `{"fixed": "0.30", "percent": "2.5"}`, either part optional. */
export interface FeeSetting {
  fixed?: string;
  percent?: string;
}

/** As a payment keeps it (the rule in force when it was made): minor units and parts per million, as strings. */
export interface FeeRule {
  fixed: string;
  ppm: string;
}

const PERCENT = /^\d{1,3}(\.\d{1,4})?$/;

function invalid(field: string, provided: unknown, expected: string): never {
  throw new RampartError('invalid_value', { field, provided, expected });
}

/** Checks a fee setting for `code` and answers it as given; `field` names it in errors. */
export function checkedFee(value: unknown, code: string, field: string): FeeSetting {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalid(field, value, 'an object with fixed and/or percent');
  const currency = getCurrency(code, field);
  const out: FeeSetting = {};
  for (const [part, v] of Object.entries(value)) {
    if (part === 'fixed') {
      parseAmount(v, currency, `${field}.fixed`);
      out.fixed = v as string;
    } else if (part === 'percent') {
      if (typeof v !== 'string' || !PERCENT.test(v) || Number(v) <= 0 || Number(v) > 100)
        invalid(`${field}.percent`, v, 'a percentage above 0 and at most 100, up to 4 decimals, such as "2.5"');
      out.percent = v;
    } else invalid(`${field}.${part}`, v, 'fixed or percent');
  }
  if (out.fixed === undefined && out.percent === undefined) invalid(field, value, 'fixed and/or percent');
  return out;
}

/** The rule a payment keeps, or null when the operator charges no fee. */
export function feeRuleOf(setting: FeeSetting | undefined, currency: Currency): FeeRule | null {
  if (!setting) return null;
  const fixed = setting.fixed === undefined ? 0n : parseAmount(setting.fixed, currency, 'fixed');
  const [whole, fraction = ''] = (setting.percent ?? '0').split('.');
  // Percent with up to 4 decimals is a whole number of parts per million.
  const ppm = BigInt(whole!) * 10_000n + BigInt(fraction.padEnd(4, '0'));
  return { fixed: fixed.toString(), ppm: ppm.toString() };
}

/** The fee on `amount` (minor units): the fixed part plus the percentage, rounded half up. */
export function feeOf(rule: FeeRule | null, amount: bigint): bigint {
  if (!rule) return 0n;
  return BigInt(rule.fixed) + (amount * BigInt(rule.ppm) + 500_000n) / 1_000_000n;
}
