import { unixAt } from '../clock.ts';

/** The card networks' dispute categories the processor reports, as it words them. */
export const DISPUTE_REASONS = [
  'fraudulent',
  'product_not_received',
  'duplicate',
  'subscription_canceled',
  'unrecognized',
  'general',
] as const;
export type DisputeReason = (typeof DISPUTE_REASONS)[number];

/** `needs_response` while the network has not decided; `won` or `lost` is final. */
export type DisputeStatus = 'needs_response' | 'won' | 'lost';
export type DisputeDecision = Exclude<DisputeStatus, 'needs_response'>;

export const DISPUTE_DECISIONS: readonly DisputeDecision[] = ['won', 'lost'];

const DAY_MS = 86_400_000;
/** How long after a magic dispute card's payment succeeds its cardholder disputes it. */
export const DISPUTE_OPENS_AFTER_MS = DAY_MS;
/** How long the network takes to decide a magic card's dispute. */
export const DISPUTE_DECIDED_AFTER_MS = 7 * DAY_MS;

/** A chargeback of the payment, whole or in part: a processor disputes a payment once. */
export interface Dispute {
  id: string;
  reason: DisputeReason;
  /** What the cardholder disputes, in minor units. */
  amount: number;
  status: DisputeStatus;
  createdAt: number;
  closedAt: number | null;
}

export function isDisputeReason(value: unknown): value is DisputeReason {
  return DISPUTE_REASONS.includes(value as DisputeReason);
}

export function isDisputeDecision(value: unknown): value is DisputeDecision {
  return DISPUTE_DECISIONS.includes(value as DisputeDecision);
}

/** The payment's `dispute` field. */
export function serializeDispute(dispute: Dispute | null) {
  if (!dispute) return null;
  return {
    id: dispute.id,
    reason: dispute.reason,
    status: dispute.status,
    amount: dispute.amount,
    created: unixAt(dispute.createdAt),
    closed_at: dispute.closedAt === null ? null : unixAt(dispute.closedAt),
  };
}
