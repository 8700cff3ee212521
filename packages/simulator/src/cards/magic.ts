import { RETURN_CODES, type ReturnCode } from '../banking/nacha.ts';
import type { DisputeDecision } from './disputes.ts';

/** What the simulated issuer does with a card number. */
export type CardBehaviour =
  | { kind: 'approve' }
  | { kind: 'three_d_secure' }
  | { kind: 'decline'; declineCode: string; message: string }
  | { kind: 'processing_error' }
  | { kind: 'fraud_block' };

const decline = (declineCode: string, message: string): CardBehaviour => ({ kind: 'decline', declineCode, message });

/** Test card numbers (all pass the Luhn check). Any other valid number is approved. */
export const MAGIC_CARDS: ReadonlyMap<string, CardBehaviour> = new Map<string, CardBehaviour>([
  ['4242424242424242', { kind: 'approve' }],
  ['5555555555554444', { kind: 'approve' }],
  ['4000000000003220', { kind: 'three_d_secure' }],
  ['4000000000000002', decline('generic_decline', 'Your card was declined.')],
  ['4000000000009995', decline('insufficient_funds', 'Your card has insufficient funds.')],
  ['4000000000000036', decline('do_not_honor', 'Your card was declined (do not honor).')],
  ['4000000000000069', decline('expired_card', 'Your card has expired.')],
  ['4000000000009979', decline('stolen_card', 'Your card was declined (reported stolen).')],
  ['4000000000009987', decline('lost_card', 'Your card was declined (reported lost).')],
  ['4000000000004954', decline('fraudulent', 'Your card was declined (suspected fraud).')],
  ['4000000000000127', decline('incorrect_cvc', "Your card's security code is incorrect.")],
  ['4000000000000119', { kind: 'processing_error' }],
  ['4100000000000019', { kind: 'fraud_block' }],
]);

export function cardBehaviour(number: string): CardBehaviour {
  return MAGIC_CARDS.get(number) ?? { kind: 'approve' };
}

/**
 * Cards that are approved, then disputed (`fraudulent`) by their cardholder a day after
 * the payment succeeds; the network decides the dispute a week later, as listed.
 */
const DISPUTE_CARDS: ReadonlyMap<string, DisputeDecision> = new Map<string, DisputeDecision>([
  ['4000000000000259', 'lost'],
  ['4000000000002685', 'won'],
]);

export function disputeDecisionOf(number: string): DisputeDecision | undefined {
  return DISPUTE_CARDS.get(number);
}

/**
 * Cards whose refunds stay `pending` for the settle delay, then end as listed. Any
 * other card's refund succeeds at once. The cards themselves are approved.
 */
const DELAYED_REFUND_CARDS: ReadonlyMap<string, 'succeeded' | 'failed'> = new Map<string, 'succeeded' | 'failed'>([
  ['4000000000007726', 'succeeded'],
  ['4000000000005126', 'failed'],
]);

export function delayedRefundOutcomeOf(number: string): 'succeeded' | 'failed' | undefined {
  return DELAYED_REFUND_CARDS.get(number);
}

/**
 * Customer emails the processor's risk and compliance checks react to (local part,
 * case-insensitive): blocked by fraud checks, re-verification required, KYC required.
 */
export type CustomerFlag = 'blocked' | 'reverification' | 'kyc';

export function customerFlagOf(email: string | null): CustomerFlag | undefined {
  const local = email?.split('@')[0]?.toLowerCase();
  if (local === 'card-blocked') return 'blocked';
  if (local === 'card-reverify') return 'reverification';
  if (local === 'card-kyc') return 'kyc';
  return undefined;
}

/**
 * ACH account numbers that are returned after settlement: `R01000000001` (letter
 * form, any digits after the code) or `990000000001` (digits only: 990000000 + the
 * code's three-digit number). Unknown codes are ordinary accounts.
 */
export function returnCodeOfAccount(accountNumber: string): ReturnCode | undefined {
  const letter = /^R(\d{2})\d*$/.exec(accountNumber);
  const digits = /^990000000(\d{3})$/.exec(accountNumber);
  const number = letter?.[1] ?? (digits ? digits[1]!.slice(1) : undefined);
  return number === undefined ? undefined : RETURN_CODES.get(`R${number}`);
}
