import type {
  Action,
  PaymentKind,
  PaymentMethod,
  PaymentProvider,
  ProviderNotice,
  ProviderOutcome,
  ProviderRequest,
  WebhookSource,
} from '@rampart/core';
import { RampartError } from '@rampart/errors';
import { type ConnectorOptions, HttpConnector } from '../connector.ts';
import type { ProviderAnswer } from '../http.ts';
import { parseWebhookBody, verifySimSignature } from '../sim-signature.ts';
import { type CardError, type CardObject, DISPUTE_EVENTS, type DisputeNoticeStatus, outcomeOf } from './wire.ts';

const CARD_CURRENCIES = ['USD', 'EUR', 'GBP'];

/** Where the processor keeps what a payment of this kind and method created. */
function collection(kind: PaymentKind, method: PaymentMethod): string {
  if (kind === 'refund') return '/cards/v1/refunds';
  return `/cards/v1/${kind === 'withdrawal' ? 'payouts' : method === 'ach' ? 'ach_debits' : 'payments'}`;
}

/**
 * The processor's refusals of a refund Rampart asked for. Rampart checks the same before
 * it asks; the processor can still know better (a dispute it has not yet reported), and
 * then the refund fails, its hold freed.
 */
const REFUND_REFUSALS = ['charge_disputed', 'amount_too_large', 'invalid_state', 'resource_missing'];

function field(request: ProviderRequest, name: string): string {
  const value = request.instrument[name];
  if (typeof value !== 'string' && typeof value !== 'number')
    throw new RampartError('missing_parameter', { field: `instrument.${name}` });
  return String(value);
}

/**
 * The processor takes amounts as JSON numbers of minor units: one above 2^53 - 1 would
 * arrive rounded, a different amount. Refused before anything is sent.
 */
function jsonAmount(request: ProviderRequest): number {
  if (request.amount > BigInt(Number.MAX_SAFE_INTEGER))
    throw new RampartError('invalid_amount', {
      field: 'amount',
      provided: request.amount.toString(),
      expected: `at most ${Number.MAX_SAFE_INTEGER} minor units, the most the card processor takes`,
    });
  return Number(request.amount);
}

/** A verified webhook whose body lacks what its event needs: a request error, as the interface says. */
function unreadable(field: string, message: string): RampartError {
  return new RampartError('validation_error', { issues: [{ field, message }] });
}

/**
 * A dispute event's subject: the payment it is about must carry its dispute, in a status
 * the event can report. Anything else is refused rather than guessed: a chargeback moves
 * money.
 */
function disputeSubject(
  object: CardObject,
  statuses: ReadonlyMap<string, DisputeNoticeStatus>,
): Extract<ProviderNotice['subject'], { type: 'dispute' }> {
  const dispute = object.object === 'payment' ? object.dispute : undefined;
  const status = dispute ? statuses.get(dispute.status) : undefined;
  if (
    !dispute ||
    !status ||
    typeof dispute.id !== 'string' ||
    typeof dispute.reason !== 'string' ||
    !Number.isSafeInteger(dispute.amount)
  ) {
    throw unreadable('data.object.dispute', `expected a dispute in status ${[...statuses.keys()].join(' or ')}`);
  }
  return {
    type: 'dispute',
    providerRef: object.id,
    disputeId: dispute.id,
    status,
    reason: dispute.reason,
    amount: String(dispute.amount),
    outcome: outcomeOf(object),
  };
}

/** Card and ACH processor (the sandbox `cards` provider). */
export class SimCardConnector extends HttpConnector implements PaymentProvider, WebhookSource {
  constructor(options: ConnectorOptions, id = 'simcard') {
    super(id, options);
  }

  supports(kind: Action, method: PaymentMethod, currency: string): boolean {
    if (kind !== 'deposit' && kind !== 'withdrawal') return false;
    if (method === 'card') return CARD_CURRENCIES.includes(currency);
    if (method === 'ach') return currency === 'USD';
    // A withdrawal to a US bank account can go out as an ACH credit.
    if (method === 'bank') return kind === 'withdrawal' && currency === 'USD';
    return false;
  }

  private headers(request: ProviderRequest) {
    return { authorization: `Bearer ${this.options.apiKey}`, 'idempotency-key': request.idempotencyKey };
  }

  /** Card refunds, paid back to the card of the payment refunded. */
  refunds(method: PaymentMethod): boolean {
    return method === 'card';
  }

  /** 4xx answers: declines become failed outcomes; compliance blocks and bad input become errors. */
  private answer(answer: ProviderAnswer, request: ProviderRequest): ProviderOutcome {
    if (answer.status < 300) return outcomeOf(answer.body as CardObject);
    const { error } = answer.body as CardError;
    const details = error?.details ?? {};
    switch (error?.code) {
      case 'customer_blocked':
        throw new RampartError('customer_blocked', { provider: this.id });
      case 'reverification_required':
        throw new RampartError('reverification_required', {
          verification_url: String(details['verification_url'] ?? ''),
        });
      case 'kyc_required':
        throw new RampartError('kyc_required', { kyc_url: String(details['kyc_url'] ?? '') });
      case 'card_declined':
      case 'incorrect_number':
      case 'processing_error':
      case 'insufficient_balance':
        if (error.payment) return outcomeOf(error.payment);
        return {
          providerRef: `${this.id}:${request.paymentId}`,
          status: 'failed',
          failure: {
            code:
              error.code === 'processing_error'
                ? 'provider_error'
                : request.kind === 'withdrawal'
                  ? 'withdrawal_failed'
                  : 'payment_declined',
            details: { provider_code: error.code, decline_code: error.decline_code ?? null },
          },
        };
      case 'parameter_invalid':
        throw new RampartError('invalid_value', {
          field: `instrument.${error.param ?? 'unknown'}`,
          provided: null,
          expected: error.message ?? 'a valid value',
        });
      default:
        // An answer we have no mapping for is ours to fix, not the client's.
        throw new RampartError('upstream_invalid_response', {
          provider: this.id,
          status: answer.status,
          provider_code: error?.code ?? null,
        });
    }
  }

  async payIn(request: ProviderRequest): Promise<ProviderOutcome> {
    const customer = { id: request.user.id, ...(request.user.email ? { email: request.user.email } : {}) };
    if (request.method === 'ach') {
      const answer = await this.call({
        method: 'POST',
        path: '/cards/v1/ach_debits',
        headers: this.headers(request),
        body: {
          amount: jsonAmount(request),
          currency: 'usd',
          bank_account: {
            routing_number: field(request, 'routing_number'),
            account_number: field(request, 'account_number'),
            account_holder_name: field(request, 'account_holder_name'),
            account_type: request.instrument['account_type'] ?? 'checking',
          },
          customer,
        },
      });
      return this.answer(answer, request);
    }
    const answer = await this.call({
      method: 'POST',
      path: '/cards/v1/payments',
      headers: this.headers(request),
      body: {
        amount: jsonAmount(request),
        currency: request.currency.toLowerCase(),
        payment_method: {
          type: 'card',
          card: {
            number: field(request, 'card_number'),
            exp_month: Number(field(request, 'exp_month')),
            exp_year: Number(field(request, 'exp_year')),
            cvc: field(request, 'cvc'),
          },
        },
        capture_method: 'automatic',
        customer,
        ...(request.returnUrl ? { return_url: request.returnUrl } : {}),
        metadata: { rampart_payment_id: request.paymentId },
      },
    });
    return this.answer(answer, request);
  }

  async payOut(request: ProviderRequest): Promise<ProviderOutcome> {
    if (request.kind === 'refund') return this.refund(request);
    const destination =
      request.method === 'card'
        ? {
            type: 'card',
            card: {
              number: field(request, 'card_number'),
              exp_month: Number(field(request, 'exp_month')),
              exp_year: Number(field(request, 'exp_year')),
            },
          }
        : {
            type: 'bank_account',
            bank_account: {
              routing_number: field(request, 'routing_number'),
              account_number: field(request, 'account_number'),
              account_holder_name: field(request, 'account_holder_name'),
            },
          };
    const answer = await this.call({
      method: 'POST',
      path: '/cards/v1/payouts',
      headers: this.headers(request),
      body: { amount: jsonAmount(request), currency: request.currency.toLowerCase(), destination },
    });
    return this.answer(answer, request);
  }

  /**
   * A refund of the payment `instrument.payment`. A refusal is final only once the
   * processor has no refund under Rampart's id: a call resumed after a lost answer, with
   * its idempotency key forgotten by the processor, is refused for the very refund it
   * made (`amount_too_large`), which was paid.
   */
  private async refund(request: ProviderRequest): Promise<ProviderOutcome> {
    const reason = request.instrument['reason'];
    const answer = await this.call({
      method: 'POST',
      path: '/cards/v1/refunds',
      headers: this.headers(request),
      body: {
        payment: field(request, 'payment'),
        amount: jsonAmount(request),
        ...(typeof reason === 'string' ? { reason } : {}),
        metadata: { rampart_payment_id: request.paymentId },
      },
    });
    const code = answer.status >= 400 ? (answer.body as CardError).error?.code : undefined;
    if (code === undefined || !REFUND_REFUSALS.includes(code)) return this.answer(answer, request);
    const made = await this.lookup(request.paymentId, 'refund', 'card');
    if (made) return made;
    return {
      providerRef: `${this.id}:${request.paymentId}`,
      status: 'failed',
      failure: { code: 'refund_failed', details: { provider_code: code } },
    };
  }

  async fetch(providerRef: string, kind: PaymentKind, method: PaymentMethod): Promise<ProviderOutcome> {
    const outcome = await this.retrieve(`${collection(kind, method)}/${encodeURIComponent(providerRef)}`);
    // The processor not knowing an id it gave us is its fault, and may pass.
    if (!outcome) throw new RampartError('upstream_error', { provider: this.id, status: 404 });
    return outcome;
  }

  /** Card payments can be cancelled until captured; ACH debits and payouts answer as they are. */
  cancel(providerRef: string, kind: PaymentKind, method: PaymentMethod): Promise<ProviderOutcome> {
    return this.cancelThenRead(
      `${collection(kind, method)}/${encodeURIComponent(providerRef)}/cancel`,
      { authorization: `Bearer ${this.options.apiKey}` },
      () => this.fetch(providerRef, kind, method),
    );
  }

  /**
   * The processor takes no reference on ACH debits and payouts, but finds every object
   * by the idempotency key it was created under, which Rampart sets to the payment id.
   */
  lookup(paymentId: string, kind: PaymentKind, method: PaymentMethod): Promise<ProviderOutcome | null> {
    return this.retrieve(`${collection(kind, method)}/by_idempotency_key/${encodeURIComponent(paymentId)}`);
  }

  /** A payment, ACH debit or payout; null only when the processor answers that it has no such one. */
  private async retrieve(path: string): Promise<ProviderOutcome | null> {
    const answer = await this.call({
      method: 'GET',
      path,
      headers: { authorization: `Bearer ${this.options.apiKey}` },
    });
    if (answer.status === 404 && (answer.body as CardError).error?.code === 'resource_missing') return null;
    if (answer.status >= 300) throw new RampartError('upstream_error', { provider: this.id, status: answer.status });
    return outcomeOf(answer.body as CardObject);
  }

  readWebhook(headers: Readonly<Record<string, string | string[] | undefined>>, rawBody: string): ProviderNotice {
    verifySimSignature(headers['x-sim-signature'], rawBody, this.options.webhookSecret, this.nowSeconds());
    const body = parseWebhookBody(rawBody);
    const object = (body['data'] as { object?: CardObject } | undefined)?.object;
    if (typeof body['id'] !== 'string' || !object || typeof object.id !== 'string')
      throw unreadable('data.object', 'missing');
    // A dispute leaves the payment's status as it was: it is never read as a status change.
    const disputeStatuses = typeof body['type'] === 'string' ? DISPUTE_EVENTS.get(body['type']) : undefined;
    if (disputeStatuses) return { eventId: body['id'], subject: disputeSubject(object, disputeStatuses) };
    if (object.object === 'ach_debit' && object.status === 'returned' && object.return_code) {
      return {
        eventId: body['id'],
        subject: {
          type: 'payment_return',
          providerRef: object.id,
          returnCode: object.return_code,
          description: object.return_description ?? null,
        },
      };
    }
    const paymentId =
      object.object === 'payment' || object.object === 'refund' ? object.metadata?.['rampart_payment_id'] : undefined;
    return {
      eventId: body['id'],
      subject: {
        type: 'payment',
        providerRef: object.id,
        ...(paymentId ? { paymentId } : {}),
        outcome: outcomeOf(object),
      },
    };
  }
}
