import { RampartError } from '@rampart/errors';
import { type Currency, formatAmount } from '../money/index.ts';
import type { KeyMode } from '../operators/api-keys.ts';
import type { EndUser } from '../users/end-users.ts';
import type { Payment } from './payment-store.ts';
import type { PaymentProvider } from './provider.ts';

/** Why an operator refunds, as card processors take it (the bank takes the same, spelt its own way). */
export const REFUND_REASONS = ['requested_by_customer', 'duplicate', 'fraudulent'] as const;
export type RefundReason = (typeof REFUND_REASONS)[number];

export interface CreateRefund {
  operatorId: string;
  /** The mode of the key asking: a refund moves money in the deposit's mode, and only a key of that mode may ask. */
  mode: KeyMode;
  /** The deposit refunded. */
  paymentId: string;
  /** Decimal string in the currency's major unit; absent: all that is still refundable. */
  amount?: string | null;
  reason?: RefundReason | null;
  reference?: string | null;
  idempotencyKey?: string | null;
  metadata?: Record<string, unknown>;
  /** The deposit's user, as the provider call describes them. */
  user: EndUser;
}

const notRefundable = (payment: Payment, reason: string) =>
  new RampartError('payment_not_refundable', { payment_id: payment.id, reason, status: payment.status });

/**
 * What makes a payment refundable by itself, before any lock: a deposit, made in the
 * asking key's mode, whose provider (still served here) refunds its method — cards and
 * pay-by-bank, paid back to where the money came from; an ACH debit or a crypto deposit
 * has no way back its provider offers (`method_not_refundable`). Checked again under
 * the deposit's lock with what can change (`refundableNow`).
 */
export function assertRefundable(
  payment: Payment,
  mode: KeyMode,
  provider: PaymentProvider | undefined,
): PaymentProvider {
  if (payment.kind !== 'deposit') throw notRefundable(payment, 'not_a_deposit');
  if (payment.mode !== mode) throw notRefundable(payment, 'mode');
  if (!provider) throw notRefundable(payment, 'provider_unavailable');
  if (!provider.refunds?.(payment.method)) throw notRefundable(payment, 'method_not_refundable');
  return provider;
}

/**
 * What may change while a refund is asked for, read under the deposit's lock: it must
 * be completed (not yet, or reversed by a return or chargeback, it has nothing to give
 * back), carry no dispute that is open or lost (the card network is moving that money
 * already), and have something left: its amount less its refunds completed or still
 * under way (`committed`). Answers what is left.
 */
export function refundableNow(payment: Payment, committed: bigint): bigint {
  if (payment.status !== 'completed') throw notRefundable(payment, 'not_completed');
  if (payment.dispute && payment.dispute.status !== 'won') throw notRefundable(payment, 'disputed');
  const left = payment.amount - committed;
  if (left <= 0n) throw notRefundable(payment, 'fully_refunded');
  return left;
}

/** The amount a refund asks for: `asked` if it fits in what is left, or all that is left. */
export function refundAmount(payment: Payment, currency: Currency, asked: bigint | undefined, left: bigint): bigint {
  if (asked === undefined) return left;
  if (asked > left) {
    throw new RampartError('refund_exceeds_refundable', {
      payment_id: payment.id,
      amount: formatAmount(asked, currency),
      refundable: formatAmount(left, currency),
      currency: currency.code,
    });
  }
  return asked;
}

/**
 * The part of the deposit's fee a refund of `amount` gives back, in proportion: what the
 * refunds so far and this one would give back together, rounded down, less what those so
 * far (`committed`, not failed or cancelled) gave. So the parts add up to the whole fee
 * when the deposit is refunded in full, however it is split, and each refund debits the
 * user no more than the deposit credited them for it. Never more than the refund itself.
 */
export function feeGivenBack(deposit: Payment, amount: bigint, committed: { amount: bigint; fee: bigint }): bigint {
  const together = (deposit.fee * (committed.amount + amount)) / deposit.amount - committed.fee;
  return together < 0n ? 0n : together > amount ? amount : together;
}
