import { unixAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { ReferenceIndex } from '../http/references.ts';
import { MAGIC_CENTS } from '../magic.ts';
import type { CardDetails } from './card.ts';
import type { CustomerRef } from './customers.ts';
import {
  DISPUTE_DECIDED_AFTER_MS,
  DISPUTE_OPENS_AFTER_MS,
  type Dispute,
  type DisputeDecision,
  type DisputeReason,
  serializeDispute,
} from './disputes.ts';
import { publishCardsEvent } from './events.ts';
import { type CardBehaviour, cardBehaviour, disputeDecisionOf } from './magic.ts';

export type CardPaymentStatus =
  | 'requires_action'
  | 'processing'
  | 'requires_capture'
  | 'succeeded'
  | 'failed'
  | 'canceled';

const TRANSITIONS: Record<CardPaymentStatus, readonly CardPaymentStatus[]> = {
  requires_action: ['processing', 'requires_capture', 'succeeded', 'failed', 'canceled'],
  processing: ['requires_capture', 'succeeded', 'failed'],
  requires_capture: ['succeeded', 'canceled'],
  succeeded: [],
  failed: [],
  canceled: [],
};

export interface CardPayment {
  id: string;
  status: CardPaymentStatus;
  amount: number;
  amountCaptured: number;
  /** What its `pending` and `succeeded` refunds give back; the refund store keeps it. */
  amountRefunded: number;
  currency: string;
  captureMethod: 'automatic' | 'manual';
  card: CardDetails;
  threeDSecure: null | 'required' | 'authenticated' | 'failed';
  customer: CustomerRef | null;
  returnUrl: string | null;
  magic: number;
  failureCode: string | null;
  declineCode: string | null;
  failureMessage: string | null;
  description: string | null;
  metadata: Record<string, string>;
  /** The cardholder's chargeback, once the payment succeeded and was disputed. */
  dispute: Dispute | null;
  /** The `Idempotency-Key` it was created under (not echoed in the payment). */
  idempotencyKey: string | null;
  createdAt: number;
  updatedAt: number;
}

export function serializeCardPayment(payment: CardPayment, publicUrl: string) {
  return {
    id: payment.id,
    object: 'payment',
    amount: payment.amount,
    amount_captured: payment.amountCaptured,
    amount_refunded: payment.amountRefunded,
    currency: payment.currency,
    status: payment.status,
    capture_method: payment.captureMethod,
    payment_method: {
      type: 'card',
      card: {
        brand: payment.card.brand,
        last4: payment.card.last4,
        exp_month: payment.card.exp_month,
        exp_year: payment.card.exp_year,
        three_d_secure: payment.threeDSecure,
      },
    },
    customer: payment.customer,
    next_action:
      payment.status === 'requires_action'
        ? {
            type: 'redirect_to_url',
            redirect_url: `${publicUrl}/cards/3ds/${payment.id}`,
            return_url: payment.returnUrl,
          }
        : null,
    failure_code: payment.failureCode,
    decline_code: payment.declineCode,
    failure_message: payment.failureMessage,
    description: payment.description,
    metadata: payment.metadata,
    dispute: serializeDispute(payment.dispute),
    created: unixAt(payment.createdAt),
    updated: unixAt(payment.updatedAt),
  };
}

/** Why the issuer refuses this payment, if it does: magic amounts first, then the card. */
function declineOf(
  payment: CardPayment,
  behaviour: CardBehaviour,
): { code: string; declineCode: string | null; message: string } | undefined {
  if (payment.magic === MAGIC_CENTS.insufficientFunds) {
    return { code: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' };
  }
  if (behaviour.kind === 'decline') {
    return { code: 'card_declined', declineCode: behaviour.declineCode, message: behaviour.message };
  }
  if (behaviour.kind === 'processing_error' || payment.magic === MAGIC_CENTS.flowError) {
    return { code: 'processing_error', declineCode: null, message: 'An error occurred while processing your card.' };
  }
  return undefined;
}

/** Card payments: authorisation (with 3-D Secure when the card needs it), capture, cancel, disputes. */
export class CardPayments {
  readonly #context: ProviderContext;
  #payments = new Map<string, CardPayment>();
  #byIdempotencyKey = new ReferenceIndex<CardPayment>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  get(id: string): CardPayment | undefined {
    return this.#payments.get(id);
  }

  /** The payment created under this idempotency key (declined ones too). */
  byIdempotencyKey(key: string): CardPayment | undefined {
    return this.#byIdempotencyKey.find(key);
  }

  create(
    input: Pick<
      CardPayment,
      | 'amount'
      | 'currency'
      | 'captureMethod'
      | 'card'
      | 'customer'
      | 'returnUrl'
      | 'magic'
      | 'description'
      | 'metadata'
      | 'idempotencyKey'
    >,
  ): CardPayment {
    const now = this.#context.clock.nowMs();
    const behaviour = cardBehaviour(input.card.number);
    const payment: CardPayment = {
      id: this.#context.newId('pay'),
      status: behaviour.kind === 'three_d_secure' ? 'requires_action' : 'processing',
      amountCaptured: 0,
      amountRefunded: 0,
      threeDSecure: behaviour.kind === 'three_d_secure' ? 'required' : null,
      failureCode: null,
      declineCode: null,
      failureMessage: null,
      dispute: null,
      createdAt: now,
      updatedAt: now,
      ...input,
    };
    this.#payments.set(payment.id, payment);
    this.#byIdempotencyKey.remember(payment.idempotencyKey, payment);
    if (payment.status === 'requires_action') this.#notify(payment);
    else this.authorize(payment, behaviour);
    return payment;
  }

  /**
   * The issuer's answer. `processing` is only the state while it is being asked:
   * a card payment leaves it at once unless a magic amount keeps it there.
   */
  authorize(payment: CardPayment, behaviour: CardBehaviour = cardBehaviour(payment.card.number)): void {
    const now = this.#context.clock.nowMs();
    const decline = declineOf(payment, behaviour);
    if (decline) {
      this.fail(payment, decline.code, decline.declineCode, decline.message, now);
      return;
    }
    if (payment.magic === MAGIC_CENTS.pendingForever || payment.magic === MAGIC_CENTS.failsLater) {
      if (payment.status !== 'processing') this.move(payment, 'processing', now);
      else this.#notify(payment);
      if (payment.magic === MAGIC_CENTS.failsLater) {
        this.#context.timeline.at(now + this.#context.settleDelayMs, (at) => {
          if (payment.status === 'processing') {
            this.fail(payment, 'card_declined', 'do_not_honor', 'The issuer reversed the authorisation.', at);
          }
        });
      }
      return;
    }
    if (payment.captureMethod === 'manual') {
      this.move(payment, 'requires_capture', now);
      return;
    }
    payment.amountCaptured = payment.amount;
    this.move(payment, 'succeeded', now);
  }

  fail(payment: CardPayment, code: string, declineCode: string | null, message: string, at: number): void {
    payment.failureCode = code;
    payment.declineCode = declineCode;
    payment.failureMessage = message;
    this.move(payment, 'failed', at);
  }

  canMove(payment: CardPayment, to: CardPaymentStatus): boolean {
    return TRANSITIONS[payment.status].includes(to);
  }

  move(payment: CardPayment, to: CardPaymentStatus, at: number): void {
    if (!this.canMove(payment, to)) throw new Error(`card payment ${payment.id}: ${payment.status} → ${to} is illegal`);
    payment.status = to;
    payment.updatedAt = at;
    this.#notify(payment);
    if (to === 'succeeded') this.#scheduleMagicDispute(payment, at);
  }

  /**
   * Opens a dispute now on a succeeded payment never disputed before, of `amount` (by
   * default all that was not refunded); false if it cannot be. A fully refunded payment
   * has nothing left for the cardholder to dispute, nor can more than is left be disputed.
   */
  openDispute(payment: CardPayment, reason: DisputeReason, at: number, amount?: number): boolean {
    if (payment.status !== 'succeeded' || payment.dispute) return false;
    const left = payment.amountCaptured - payment.amountRefunded;
    if (left <= 0 || (amount !== undefined && (amount <= 0 || amount > left))) return false;
    payment.dispute = {
      id: this.#context.newId('dp'),
      reason,
      amount: amount ?? left,
      status: 'needs_response',
      createdAt: at,
      closedAt: null,
    };
    payment.updatedAt = at;
    this.#notify(payment, 'payment.dispute_created');
    return true;
  }

  /** Closes the payment's open dispute with the network's decision; false if none is open. */
  closeDispute(payment: CardPayment, decision: DisputeDecision, at: number): boolean {
    if (payment.dispute?.status !== 'needs_response') return false;
    payment.dispute.status = decision;
    payment.dispute.closedAt = at;
    payment.updatedAt = at;
    this.#notify(payment, 'payment.dispute_closed');
    return true;
  }

  /**
   * A magic dispute card's chargeback, on the simulated clock. A dispute opened by hand
   * first takes its place: the card's own then never opens, nor decides the other.
   */
  #scheduleMagicDispute(payment: CardPayment, succeededAt: number): void {
    const decision = disputeDecisionOf(payment.card.number);
    if (!decision) return;
    const timeline = this.#context.timeline;
    timeline.at(succeededAt + DISPUTE_OPENS_AFTER_MS, (openedAt) => {
      if (!this.openDispute(payment, 'fraudulent', openedAt)) return;
      timeline.at(openedAt + DISPUTE_DECIDED_AFTER_MS, (closedAt) => this.closeDispute(payment, decision, closedAt));
    });
  }

  /** Publishes the payment as it is now: `payment.<status>` unless the event says what else changed. */
  #notify(payment: CardPayment, type = `payment.${payment.status}`): void {
    publishCardsEvent(this.#context, type, payment.updatedAt, serializeCardPayment(payment, this.#context.publicUrl()));
  }

  clear(): void {
    this.#payments.clear();
    this.#byIdempotencyKey.clear();
  }
}
