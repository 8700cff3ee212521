import { isoAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { ReferenceIndex } from '../http/references.ts';
import { MAGIC_CENTS } from '../magic.ts';
import { formatMinor, parseDecimal } from '../money.ts';
import type { BankPayment } from './payments.ts';

export const BANK_REFUND_REASONS = ['REQUESTED_BY_CUSTOMER', 'DUPLICATE', 'FRAUDULENT'] as const;
export type BankRefundReason = (typeof BANK_REFUND_REASONS)[number];

export type BankRefundStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';

const TRANSITIONS: Record<BankRefundStatus, readonly BankRefundStatus[]> = {
  PENDING: ['SUCCEEDED', 'FAILED'],
  SUCCEEDED: [],
  FAILED: [],
};

export interface BankRefund {
  id: string;
  status: BankRefundStatus;
  statusReason: string | null;
  payment: BankPayment;
  /** Minor units of the payment's currency (every bank currency has two decimals). */
  amount: bigint;
  magic: number;
  reason: BankRefundReason | null;
  merchantReference: string;
  metadata: Record<string, string>;
  createdAt: number;
  updatedAt: number;
  succeededAt: number | null;
}

export function serializeBankRefund(refund: BankRefund) {
  return {
    refund_id: refund.id,
    payment_id: refund.payment.id,
    status: refund.status,
    status_reason: refund.statusReason,
    amount: formatMinor(refund.amount, 2),
    currency: refund.payment.currency,
    reason: refund.reason,
    merchant_reference: refund.merchantReference,
    metadata: refund.metadata,
    created_at: isoAt(refund.createdAt),
    updated_at: isoAt(refund.updatedAt),
    succeeded_at: refund.succeededAt === null ? null : isoAt(refund.succeededAt),
  };
}

/** What a settled payment can still give back: its amount less its pending and succeeded refunds. */
export function refundableOf(payment: BankPayment): bigint {
  // The payment's amount was checked when it was created: always a positive decimal.
  return (parseDecimal(payment.amount, 2) ?? 0n) - payment.amountRefunded;
}

/**
 * Refunds of settled pay-by-bank payments, sent back to the payer's account: PENDING,
 * then SUCCEEDED after the settle delay (FAILED / ACCOUNT_CLOSED for magic …05 in the
 * refund's amount, the payer's account closed since it paid). The payment's
 * `amountRefunded` follows them, so a failed refund gives its amount back to what can
 * be refunded.
 */
export class BankRefunds {
  readonly #context: ProviderContext;
  #refunds = new Map<string, BankRefund>();
  #byReference = new ReferenceIndex<BankRefund>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  get(id: string): BankRefund | undefined {
    return this.#refunds.get(id);
  }

  /** The latest refund created with this `merchant_reference`. */
  byReference(merchantReference: string): BankRefund | undefined {
    return this.#byReference.find(merchantReference);
  }

  /** Refunds `amount` of the payment; the caller has checked that it may. */
  create(
    input: Pick<BankRefund, 'payment' | 'amount' | 'magic' | 'reason' | 'merchantReference' | 'metadata'>,
  ): BankRefund {
    const now = this.#context.clock.nowMs();
    const refund: BankRefund = {
      id: this.#context.newId('bref'),
      status: 'PENDING',
      statusReason: null,
      ...input,
      createdAt: now,
      updatedAt: now,
      succeededAt: null,
    };
    this.#refunds.set(refund.id, refund);
    this.#byReference.remember(refund.merchantReference, refund);
    refund.payment.amountRefunded += refund.amount;
    this.#notify(refund);
    this.#context.timeline.at(now + this.#context.settleDelayMs, (at) => {
      // Decided meanwhile (the admin routes): the bank's own outcome does not follow.
      if (refund.status !== 'PENDING') return;
      if (refund.magic === MAGIC_CENTS.failsLater) this.fail(refund, 'ACCOUNT_CLOSED', at);
      else this.succeed(refund, at);
    });
    return refund;
  }

  canMove(refund: BankRefund, to: BankRefundStatus): boolean {
    return TRANSITIONS[refund.status].includes(to);
  }

  succeed(refund: BankRefund, at: number): void {
    refund.succeededAt = at;
    this.#move(refund, 'SUCCEEDED', null, at);
  }

  fail(refund: BankRefund, reason: string, at: number): void {
    this.#move(refund, 'FAILED', reason, at);
  }

  #move(refund: BankRefund, to: BankRefundStatus, reason: string | null, at: number): void {
    if (!this.canMove(refund, to)) throw new Error(`bank refund ${refund.id}: ${refund.status} → ${to} is illegal`);
    // A failed refund sent nothing back: what it took is refundable again.
    if (to === 'FAILED') refund.payment.amountRefunded -= refund.amount;
    refund.status = to;
    refund.statusReason = reason;
    refund.updatedAt = at;
    this.#notify(refund);
  }

  #notify(refund: BankRefund): void {
    const id = this.#context.newId('bntf');
    this.#context.publish('bank', {
      id,
      subject: refund.id,
      type: `REFUND_STATUS_CHANGED:${refund.status}`,
      payload: {
        notification_id: id,
        notification_type: 'REFUND_STATUS_CHANGED',
        created_at: isoAt(refund.updatedAt),
        data: serializeBankRefund(refund),
      },
    });
  }

  clear(): void {
    this.#refunds.clear();
    this.#byReference.clear();
  }
}
