import type { FastifyRequest } from 'fastify';
import { isValidRoutingNumber } from '../banking/routing-number.ts';
import type { ProviderContext } from '../context.ts';
import type { Fields } from '../http/fields.ts';
import { requestFingerprint } from '../http/fingerprint.ts';
import { failIfMagicError } from '../magic.ts';
import type { AchDebits, BankAccount } from './ach-debits.ts';
import type { CardCustomers } from './customers.ts';
import type { CardPayments } from './payments.ts';
import type { CardPayouts } from './payouts.ts';
import type { CardRefunds } from './refunds.ts';
import { cardsDialect } from './wire.ts';

/** What the card processor's route files share. */
export interface CardsProcessor {
  context: ProviderContext;
  customers: CardCustomers;
  payments: CardPayments;
  debits: AchDebits;
  payouts: CardPayouts;
  refunds: CardRefunds;
}

export const CARD_CURRENCIES = ['usd', 'eur', 'gbp'] as const;
export const HTML = { 'content-type': 'text/html; charset=utf-8' };
/** 50 cents to 999,999.99: a processor's usual bounds. */
export const AMOUNT = { min: 50, max: 99_999_999 };

export { paramOf } from '../http/endpoint.ts';

/** The "provider error" magic amounts (…02 once, …03 always) on a create call. */
export function failOnMagicError(processor: CardsProcessor, request: FastifyRequest, cents: number): void {
  failIfMagicError(cents, requestFingerprint('POST', request.url, request.body), processor.context, cardsDialect);
}

export function readBankAccount(fields: Fields): BankAccount {
  const account = fields.object('bank_account');
  const routing = account.string('routing_number');
  if (!isValidRoutingNumber(routing)) {
    throw account.fail('routing_number', 'bank_account.routing_number fails the ABA checksum');
  }
  return {
    routing_number: routing,
    account_number: account.string('account_number', { pattern: /^[0-9A-Z]{4,17}$/ }),
    account_holder_name: account.string('account_holder_name', { max: 140 }),
    account_type: account.oneOf('account_type', ['checking', 'savings'] as const, 'checking'),
  };
}
