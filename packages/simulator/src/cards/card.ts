import type { Fields } from '../http/fields.ts';
import { cardsError } from './wire.ts';

export interface CardDetails {
  number: string;
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
}

export function passesLuhn(number: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = number.length - 1; i >= 0; i--) {
    let digit = Number(number[i]);
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return sum % 10 === 0;
}

export function brandOf(number: string): string {
  if (number.startsWith('4')) return 'visa';
  if (/^(5[1-5]|2[2-7])/.test(number)) return 'mastercard';
  if (/^3[47]/.test(number)) return 'amex';
  if (/^(6011|65)/.test(number)) return 'discover';
  return 'unknown';
}

/** Reads a card and rejects what an issuer would reject before authorising. */
export function readCard(card: Fields, now: Date, requireCvc: boolean): CardDetails {
  const number = card.string('number', { max: 19 }).replaceAll(' ', '');
  const exp_month = card.integer('exp_month', { min: 1, max: 12 });
  const exp_year = card.integer('exp_year', { min: 2000, max: 2100 });
  if (requireCvc) card.string('cvc', { pattern: /^\d{3,4}$/ });
  if (!/^\d{12,19}$/.test(number) || !passesLuhn(number)) {
    throw cardsError(402, {
      type: 'card_error',
      code: 'incorrect_number',
      message: 'Your card number is incorrect.',
      param: 'payment_method.card.number',
    });
  }
  const expiredAt = Date.UTC(exp_year, exp_month, 1);
  if (expiredAt <= now.getTime()) {
    throw cardsError(402, {
      type: 'card_error',
      code: 'card_declined',
      decline_code: 'expired_card',
      message: 'Your card has expired.',
      param: 'payment_method.card.exp_year',
    });
  }
  return { number, brand: brandOf(number), last4: number.slice(-4), exp_month, exp_year };
}
