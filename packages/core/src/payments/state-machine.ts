import { RampartError } from '@rampart/errors';

export const PAYMENT_STATUSES = [
  'created',
  'pending',
  'processing',
  'completed',
  'failed',
  'cancelled',
  'reversed',
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/**
 * Every legal move of a payment, in one table. `created` is before any provider is
 * involved; `pending` waits for the user or the provider; `processing` is with the
 * provider and can no longer be cancelled; `reversed` undoes a completed payment
 * (ACH return, chargeback). Anything not listed is an illegal transition.
 */
export const TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  created: ['pending', 'processing', 'completed', 'failed', 'cancelled'],
  pending: ['processing', 'completed', 'failed', 'cancelled'],
  processing: ['completed', 'failed'],
  completed: ['reversed'],
  failed: [],
  cancelled: [],
  reversed: [],
};

/** Clients stop polling at these. `completed` is terminal for polling even though a return may follow. */
export const TERMINAL_STATUSES: readonly PaymentStatus[] = ['completed', 'failed', 'cancelled', 'reversed'];

export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(from: PaymentStatus, to: PaymentStatus): void {
  if (!canTransition(from, to)) throw new RampartError('illegal_state_transition', { from, to, resource: 'payment' });
}

/** Statuses reachable from `created`, for invariant checks. */
export function reachable(from: PaymentStatus = 'created'): Set<PaymentStatus> {
  const seen = new Set<PaymentStatus>([from]);
  const queue: PaymentStatus[] = [from];
  while (queue.length > 0) {
    for (const next of TRANSITIONS[queue.shift()!]) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen;
}
