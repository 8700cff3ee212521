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

/** Ends at which no money moved. */
const NOTHING_MOVED: readonly PaymentStatus[] = ['failed', 'cancelled'];

/**
 * Whether a provider reporting `reported` contradicts a payment Rampart has at
 * `recorded`: neither status can lead to the other, so it is not news that arrived
 * late (an earlier step) or early (a later one), and money may not be where Rampart
 * thinks it is. Failed against cancelled is no contradiction: both moved nothing.
 */
export function contradicts(recorded: PaymentStatus, reported: PaymentStatus): boolean {
  if (recorded === reported || reachable(reported).has(recorded) || reachable(recorded).has(reported)) return false;
  return !(NOTHING_MOVED.includes(recorded) && NOTHING_MOVED.includes(reported));
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
