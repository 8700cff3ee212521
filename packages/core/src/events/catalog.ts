/**
 * Every event type Rampart emits. Names are stable like error codes: add, never
 * rename or reuse. `API_VERSION` changes only when a payload changes shape.
 */
export const API_VERSION = '2026-11-01';

export const eventTypes = {
  'session.created': 'A checkout session was created.',
  'session.exchanged': 'The widget exchanged the session’s init token.',
  'session.cancelled': 'The operator cancelled the session.',
  'session.expired': 'The session passed its TTL.',
  'user.created': 'The operator registered an end user.',
  'user.updated': 'An end user’s profile changed.',
  'user.blocked': 'An end user was blocked.',
  'user.unblocked': 'An end user was unblocked.',
  'user.limits_changed':
    'An end user’s own limits changed (a tightening holds at once; a loosening shows as `pending` until its time).',
  'kyc.status_changed': 'An end user’s KYC status changed.',
  'gate.changed': 'A compliance gate of an end user opened or closed (terms, email, phone).',
  'payment.created': 'A payment was created.',
  'payment.pending': 'A payment is waiting for the user or the provider.',
  'payment.processing': 'The provider is processing a payment.',
  'payment.completed': 'A payment completed; money moved.',
  'payment.failed': 'A payment failed; see `failure.code`.',
  'payment.cancelled': 'A payment was cancelled.',
  'payment.reversed': 'A completed payment was reversed (ACH return, chargeback).',
  'payment.disputed':
    'The cardholder disputed a completed card payment with their bank. No money has moved yet: answer the dispute at the card processor before its deadline; `payment.dispute_closed` tells how the card network decided.',
  'payment.dispute_closed':
    'The card network decided a dispute: `won`, the payment stands; `lost`, a chargeback: of the whole payment, it is reversed (`payment.reversed`, failure `payment_charged_back`); of part of it (`dispute.amount`), that part is taken back and the payment stays completed.',
  'payment.refunded':
    'A refund of a deposit completed: the money went back to where it came from (the card, or the bank account that paid). On the deposit; `refund` is the refund payment, `amount_refunded` the deposit’s refunds so far.',
  'payment.limit_exceeded':
    'More arrived for a pay-in than was asked, and what arrived is above the operator’s maximum for one payment or the user’s daily limit. It was credited whole (the money is the user’s and has moved); review it, and return the excess if your rules say so.',
  'payment.discrepancy':
    'A provider contradicted how Rampart ended a payment (e.g. paid a payment Rampart failed). No money was moved on that news; look at the payment and resolve the discrepancy.',
  'payment.discrepancy_resolved': 'The operator resolved a payment discrepancy.',
  'withdrawal.approval_requested': 'Rampart asked the operator to approve a withdrawal.',
  'withdrawal.review_requested':
    'A withdrawal waits for the operator to approve or decline it by hand (its approval endpoint asked for review, or gave no answer with `on_no_answer: review`); see `expires_at`.',
  'withdrawal.approved': 'The operator approved a withdrawal.',
  'withdrawal.declined': 'The operator declined a withdrawal; see `reason_code`.',
  'ach.returned': 'An ACH debit was returned by the bank; see `return_code`.',
  'balance.adjusted': 'The operator credited or debited an end user’s balance.',
  'webhook_endpoint.disabled': 'A webhook endpoint was disabled after failing for too long.',
  'webhook.delivery_exhausted': 'A webhook delivery failed on every attempt.',
  'webhook.test': 'A test event sent on request.',
} as const;

export type EventType = keyof typeof eventTypes;

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(eventTypes, value);
}
