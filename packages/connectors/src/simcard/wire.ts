/**
 * Wire types of the sandbox card and ACH processor (`/cards`): integer cents,
 * lower-case currencies and statuses, errors as `{ error: { type, code, … } }`.
 * Every status it can send is mapped here, exhaustively.
 */

import type { ProviderNotice, ProviderOutcome } from '@rampart/core';
import type { ErrorCode } from '@rampart/errors';
import { errorCodeForAchReturn } from '@rampart/errors';

export type CardPaymentStatus =
  | 'requires_action'
  | 'processing'
  | 'requires_capture'
  | 'succeeded'
  | 'failed'
  | 'canceled';
export type AchDebitStatus = 'pending' | 'settled' | 'returned' | 'failed';
export type PayoutStatus = 'pending' | 'paid' | 'failed';
export type RefundStatus = 'pending' | 'succeeded' | 'failed' | 'canceled';
export type DisputeStatus = 'needs_response' | 'won' | 'lost';

/** A chargeback of a card payment, whole or in part (`amount`); `created` and `closed_at` in Unix seconds. */
export interface Dispute {
  id: string;
  reason: string;
  status: DisputeStatus;
  amount: number;
  created: number;
  closed_at: number | null;
}

export interface CardPayment {
  id: string;
  object: 'payment';
  metadata?: Record<string, string>;
  status: CardPaymentStatus;
  next_action: { type: 'redirect_to_url'; redirect_url: string } | null;
  failure_code: string | null;
  decline_code: string | null;
  failure_message: string | null;
  /** Null until the cardholder disputes the (succeeded) payment. */
  dispute: Dispute | null;
}

export interface AchDebit {
  id: string;
  object: 'ach_debit';
  status: AchDebitStatus;
  return_code: string | null;
  return_description?: string | null;
}

export interface Payout {
  id: string;
  object: 'payout';
  status: PayoutStatus;
  failure_code: string | null;
}

/** A refund of a card payment, paid back to its card; `failure_reason` once it failed. */
export interface Refund {
  id: string;
  object: 'refund';
  payment: string;
  status: RefundStatus;
  failure_reason: string | null;
  metadata?: Record<string, string>;
}

/** Whatever the processor answers or sends: one of its objects. */
export type CardObject = CardPayment | AchDebit | Payout | Refund;

export interface CardError {
  error: {
    type: string;
    code: string;
    decline_code?: string | null;
    message?: string;
    param?: string | null;
    payment?: CardPayment;
    details?: Record<string, unknown>;
  };
}

const STATUS: Record<CardPaymentStatus | AchDebitStatus | PayoutStatus | RefundStatus, ProviderOutcome['status']> = {
  requires_action: 'pending',
  processing: 'processing',
  requires_capture: 'processing',
  succeeded: 'completed',
  failed: 'failed',
  canceled: 'failed',
  pending: 'processing',
  settled: 'completed',
  // A return after settlement arrives as its own notice (see `returnNotice`); as a status
  // seen before completion it means the debit never settled.
  returned: 'failed',
  paid: 'completed',
};

/** A dispute's status as Rampart's notices report it. */
export type DisputeNoticeStatus = Extract<ProviderNotice['subject'], { type: 'dispute' }>['status'];

/**
 * The dispute events, and for each the dispute statuses it may carry with the notice
 * status each maps to: an opening reports the open dispute, a closing the network's
 * decision. A status an event cannot carry has no mapping. (Maps: the keys come from
 * webhook bodies, which must not reach an object's prototype.)
 */
export const DISPUTE_EVENTS: ReadonlyMap<string, ReadonlyMap<string, DisputeNoticeStatus>> = new Map<
  string,
  ReadonlyMap<string, DisputeNoticeStatus>
>([
  ['payment.dispute_created', new Map([['needs_response', 'open']])],
  [
    'payment.dispute_closed',
    new Map<string, DisputeNoticeStatus>([
      ['won', 'won'],
      ['lost', 'lost'],
    ]),
  ],
]);

function failureFor(object: CardObject): ProviderOutcome['failure'] {
  if (object.status !== 'failed' && object.status !== 'canceled' && object.status !== 'returned') return undefined;
  if (object.object === 'refund')
    return { code: 'refund_failed', details: { provider_code: object.failure_reason ?? object.status } };
  if (object.object === 'ach_debit') {
    const code: ErrorCode = object.return_code ? errorCodeForAchReturn(object.return_code) : 'deposit_failed';
    return { code, details: { return_code: object.return_code } };
  }
  if (object.object === 'payout') return { code: 'withdrawal_failed', details: { provider_code: object.failure_code } };
  if (object.status === 'canceled') return { code: 'deposit_failed', details: { provider_code: 'canceled' } };
  return {
    code: object.failure_code === 'processing_error' ? 'provider_error' : 'payment_declined',
    ...(object.failure_message ? { message: object.failure_message } : {}),
    details: { provider_code: object.failure_code, decline_code: object.decline_code },
  };
}

export function outcomeOf(object: CardObject): ProviderOutcome {
  const status = STATUS[object.status];
  const failure = failureFor(object);
  const nextAction =
    object.object === 'payment' && object.next_action
      ? { type: 'redirect' as const, url: object.next_action.redirect_url }
      : null;
  return { providerRef: object.id, status, nextAction, ...(failure ? { failure } : {}) };
}
