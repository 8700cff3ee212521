import { unixAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { ReferenceIndex } from '../http/references.ts';
import { publishCardsEvent } from './events.ts';
import { delayedRefundOutcomeOf } from './magic.ts';
import type { CardPayment } from './payments.ts';

export const REFUND_REASONS = ['requested_by_customer', 'duplicate', 'fraudulent'] as const;
export type RefundReason = (typeof REFUND_REASONS)[number];

export type CardRefundStatus = 'pending' | 'succeeded' | 'failed' | 'canceled';

const TRANSITIONS: Record<CardRefundStatus, readonly CardRefundStatus[]> = {
  pending: ['succeeded', 'failed', 'canceled'],
  succeeded: [],
  failed: [],
  canceled: [],
};

/** The statuses whose money is (or is on its way) back to the cardholder. */
const HOLDS_MONEY: readonly CardRefundStatus[] = ['pending', 'succeeded'];

export interface CardRefund {
  id: string;
  status: CardRefundStatus;
  payment: CardPayment;
  amount: number;
  currency: string;
  reason: RefundReason | null;
  failureReason: string | null;
  metadata: Record<string, string>;
  /** The `Idempotency-Key` it was created under (not echoed in the refund). */
  idempotencyKey: string | null;
  createdAt: number;
  updatedAt: number;
}

export function serializeCardRefund(refund: CardRefund) {
  return {
    id: refund.id,
    object: 'refund',
    payment: refund.payment.id,
    amount: refund.amount,
    currency: refund.currency,
    status: refund.status,
    reason: refund.reason,
    failure_reason: refund.failureReason,
    metadata: refund.metadata,
    created: unixAt(refund.createdAt),
    updated: unixAt(refund.updatedAt),
  };
}

/** What a succeeded payment can still give back: captured, less what refunds hold. */
export function refundableOf(payment: CardPayment): number {
  return payment.amountCaptured - payment.amountRefunded;
}

/**
 * Refunds of succeeded card payments: succeeded at once, or pending for the settle
 * delay on the refund cards. The payment's `amountRefunded` follows them, so a
 * failed or canceled refund gives its amount back to what can be refunded.
 */
export class CardRefunds {
  readonly #context: ProviderContext;
  #refunds = new Map<string, CardRefund>();
  #byIdempotencyKey = new ReferenceIndex<CardRefund>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  get(id: string): CardRefund | undefined {
    return this.#refunds.get(id);
  }

  /** The refund created under this idempotency key. */
  byIdempotencyKey(key: string): CardRefund | undefined {
    return this.#byIdempotencyKey.find(key);
  }

  /** Refunds `amount` of the payment; the caller has checked that it may. */
  create(input: Pick<CardRefund, 'payment' | 'amount' | 'reason' | 'metadata' | 'idempotencyKey'>): CardRefund {
    const now = this.#context.clock.nowMs();
    const outcome = delayedRefundOutcomeOf(input.payment.card.number);
    const refund: CardRefund = {
      id: this.#context.newId('re'),
      status: outcome ? 'pending' : 'succeeded',
      currency: input.payment.currency,
      failureReason: null,
      createdAt: now,
      updatedAt: now,
      ...input,
    };
    this.#refunds.set(refund.id, refund);
    this.#byIdempotencyKey.remember(refund.idempotencyKey, refund);
    refund.payment.amountRefunded += refund.amount;
    this.#notify(refund);
    if (outcome) {
      this.#context.timeline.at(now + this.#context.settleDelayMs, (at) => {
        if (refund.status !== 'pending') return;
        if (outcome === 'failed') this.fail(refund, 'expired_or_canceled_card', at);
        else this.move(refund, 'succeeded', at);
      });
    }
    return refund;
  }

  fail(refund: CardRefund, failureReason: string, at: number): void {
    refund.failureReason = failureReason;
    this.move(refund, 'failed', at);
  }

  canMove(refund: CardRefund, to: CardRefundStatus): boolean {
    return TRANSITIONS[refund.status].includes(to);
  }

  move(refund: CardRefund, to: CardRefundStatus, at: number): void {
    if (!this.canMove(refund, to)) throw new Error(`card refund ${refund.id}: ${refund.status} → ${to} is illegal`);
    if (!HOLDS_MONEY.includes(to)) refund.payment.amountRefunded -= refund.amount;
    refund.status = to;
    refund.updatedAt = at;
    this.#notify(refund);
  }

  #notify(refund: CardRefund): void {
    publishCardsEvent(this.#context, `refund.${refund.status}`, refund.updatedAt, serializeCardRefund(refund));
  }

  clear(): void {
    this.#refunds.clear();
    this.#byIdempotencyKey.clear();
  }
}
