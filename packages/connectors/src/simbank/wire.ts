/**
 * Wire types of the sandbox pay-by-bank provider (`/bank`): snake_case, decimal-string
 * amounts, UPPER_CASE statuses, errors as `{ error_code, error_message, parameter }`.
 */
import type { ProviderOutcome } from '@rampart/core';

export type BankPaymentStatus =
  | 'PENDING_AUTHORIZATION'
  | 'AUTHORIZED'
  | 'SETTLED'
  | 'DECLINED'
  | 'CANCELLED'
  | 'FAILED'
  | 'EXPIRED';
export type BankPayoutStatus = 'PROCESSING' | 'PAID' | 'FAILED';
export type BankRefundStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';

export interface BankPayment {
  payment_id: string;
  merchant_reference: string;
  status: BankPaymentStatus;
  status_reason: string | null;
  redirect_url: string;
}

export interface BankPayout {
  payout_id: string;
  merchant_reference: string;
  status: BankPayoutStatus;
  status_reason: string | null;
}

/** A refund of a settled payment, sent back to the payer's account; `status_reason` once it failed. */
export interface BankRefund {
  refund_id: string;
  payment_id: string;
  merchant_reference: string;
  status: BankRefundStatus;
  status_reason: string | null;
  /** What the merchant attached; Rampart's own refunds carry `rampart_payment_id`. */
  metadata?: Record<string, unknown> | null;
}

export interface BankError {
  error_code: string;
  error_message: string;
  parameter: string | null;
}

const PAYMENT_STATUS: Record<BankPaymentStatus, ProviderOutcome['status']> = {
  PENDING_AUTHORIZATION: 'pending',
  AUTHORIZED: 'processing',
  SETTLED: 'completed',
  DECLINED: 'failed',
  CANCELLED: 'failed',
  FAILED: 'failed',
  EXPIRED: 'failed',
};

const PAYOUT_STATUS: Record<BankPayoutStatus, ProviderOutcome['status']> = {
  PROCESSING: 'processing',
  PAID: 'completed',
  FAILED: 'failed',
};

const REFUND_STATUS: Record<BankRefundStatus, ProviderOutcome['status']> = {
  PENDING: 'processing',
  SUCCEEDED: 'completed',
  FAILED: 'failed',
};

export function paymentOutcome(payment: BankPayment): ProviderOutcome {
  const status = PAYMENT_STATUS[payment.status];
  const base: ProviderOutcome = {
    providerRef: payment.payment_id,
    status,
    nextAction: status === 'pending' ? { type: 'redirect', url: payment.redirect_url } : null,
  };
  if (status !== 'failed') return base;
  // The bank itself failing is a provider error; a refusal by the user or the bank is a decline.
  const code =
    payment.status === 'FAILED' && payment.status_reason === 'BANK_ERROR' ? 'provider_error' : 'deposit_failed';
  return {
    ...base,
    failure: { code, details: { provider_status: payment.status, provider_reason: payment.status_reason } },
  };
}

export function payoutOutcome(payout: BankPayout): ProviderOutcome {
  const status = PAYOUT_STATUS[payout.status];
  return {
    providerRef: payout.payout_id,
    status,
    ...(status === 'failed'
      ? { failure: { code: 'withdrawal_failed' as const, details: { provider_reason: payout.status_reason } } }
      : {}),
  };
}

export function refundOutcome(refund: BankRefund): ProviderOutcome {
  const status = REFUND_STATUS[refund.status];
  return {
    providerRef: refund.refund_id,
    status,
    nextAction: null,
    ...(status === 'failed'
      ? {
          failure: {
            code: 'refund_failed' as const,
            details: { provider_code: refund.status_reason ?? refund.status },
          },
        }
      : {}),
  };
}
