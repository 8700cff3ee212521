import {
  type Action,
  findCurrency,
  formatAmount,
  type PaymentKind,
  type PaymentMethod,
  type PaymentProvider,
  type ProviderNotice,
  type ProviderOutcome,
  type ProviderRequest,
  type WebhookSource,
} from '@rampart/core';
import { RampartError } from '@rampart/errors';
import { type ConnectorOptions, HttpConnector } from '../connector.ts';
import type { ProviderAnswer } from '../http.ts';
import { parseWebhookBody, verifySimSignature } from '../sim-signature.ts';
import {
  type BankError,
  type BankPayment,
  type BankPayout,
  type BankRefund,
  paymentOutcome,
  payoutOutcome,
  refundOutcome,
} from './wire.ts';

const CURRENCIES = ['USD', 'EUR', 'GBP'];

/** Withdrawals are the bank's payouts; deposits its payments; refunds its refunds. */
function collection(kind: PaymentKind): string {
  if (kind === 'refund') return '/bank/v1/refunds';
  return kind === 'withdrawal' ? '/bank/v1/payouts' : '/bank/v1/payments';
}

/** A bank object as Rampart reads it, by the kind of payment it belongs to. */
function outcomeOf(kind: PaymentKind, body: unknown): ProviderOutcome {
  if (kind === 'refund') return refundOutcome(body as BankRefund);
  return kind === 'withdrawal' ? payoutOutcome(body as BankPayout) : paymentOutcome(body as BankPayment);
}

/**
 * The bank's refusals of a refund Rampart asked for. Rampart checks the same before it
 * asks; the bank can still know better (a refund made in its dashboard, which Rampart
 * never saw), and then the refund fails, its hold freed.
 */
const REFUND_REFUSALS = ['AMOUNT_EXCEEDS_REFUNDABLE', 'INVALID_STATE', 'NOT_FOUND'];

/** Rampart's refund reasons, as the bank spells them. */
const REFUND_REASONS: ReadonlyMap<unknown, string> = new Map([
  ['requested_by_customer', 'REQUESTED_BY_CUSTOMER'],
  ['duplicate', 'DUPLICATE'],
  ['fraudulent', 'FRAUDULENT'],
]);

/** Pay-by-bank (the sandbox `bank` provider): the user approves in a hosted bank page. */
export class SimBankConnector extends HttpConnector implements PaymentProvider, WebhookSource {
  constructor(options: ConnectorOptions, id = 'simbank') {
    super(id, options);
  }

  supports(kind: Action, method: PaymentMethod, currency: string): boolean {
    return (kind === 'deposit' || kind === 'withdrawal') && method === 'bank' && CURRENCIES.includes(currency);
  }

  /** Refunds of settled bank payments, sent back to the account that paid. */
  refunds(method: PaymentMethod): boolean {
    return method === 'bank';
  }

  private headers(idempotencyKey?: string) {
    return {
      'x-bank-api-key': this.options.apiKey,
      ...(idempotencyKey ? { 'x-idempotency-key': idempotencyKey } : {}),
    };
  }

  private amount(request: ProviderRequest): string {
    return formatAmount(request.amount, findCurrency(request.currency)!);
  }

  private rejected(answer: ProviderAnswer, request: ProviderRequest): ProviderOutcome {
    const error = answer.body as BankError;
    if (error.error_code === 'INVALID_PARAMETER') {
      throw new RampartError('invalid_value', {
        field: `instrument.${error.parameter ?? 'unknown'}`,
        provided: null,
        expected: error.error_message,
      });
    }
    if (error.error_code === 'INSUFFICIENT_BALANCE' || error.error_code === 'INSUFFICIENT_FUNDS') {
      return {
        providerRef: `${this.id}:${request.paymentId}`,
        status: 'failed',
        failure: {
          code: request.kind === 'withdrawal' ? 'withdrawal_failed' : 'deposit_failed',
          details: { provider_code: error.error_code },
        },
      };
    }
    throw new RampartError('upstream_invalid_response', {
      provider: this.id,
      status: answer.status,
      provider_code: error.error_code ?? null,
    });
  }

  async payIn(request: ProviderRequest): Promise<ProviderOutcome> {
    const name = [request.user.first_name, request.user.last_name].filter(Boolean).join(' ');
    const answer = await this.call({
      method: 'POST',
      path: '/bank/v1/payments',
      headers: this.headers(request.idempotencyKey),
      body: {
        amount: this.amount(request),
        currency: request.currency,
        merchant_reference: request.paymentId,
        return_url: request.returnUrl ?? 'https://rampart.invalid/return',
        ...(name ? { customer: { name } } : {}),
      },
    });
    return answer.status < 300 ? paymentOutcome(answer.body as BankPayment) : this.rejected(answer, request);
  }

  async payOut(request: ProviderRequest): Promise<ProviderOutcome> {
    if (request.kind === 'refund') return this.refund(request);
    const i = request.instrument;
    const account =
      typeof i['iban'] === 'string'
        ? { iban: i['iban'] }
        : { account_number: String(i['account_number'] ?? ''), routing_number: String(i['routing_number'] ?? '') };
    const answer = await this.call({
      method: 'POST',
      path: '/bank/v1/payouts',
      headers: this.headers(request.idempotencyKey),
      body: {
        amount: this.amount(request),
        currency: request.currency,
        merchant_reference: request.paymentId,
        bank_account: { holder_name: String(i['account_holder_name'] ?? i['holder_name'] ?? ''), ...account },
      },
    });
    return answer.status < 300 ? payoutOutcome(answer.body as BankPayout) : this.rejected(answer, request);
  }

  /**
   * A refund of the payment `instrument.payment`. A refusal is final only once the bank
   * has no refund under Rampart's id: a call resumed after a lost answer, with its
   * idempotency key forgotten by the bank, is refused for the very refund it made
   * (`AMOUNT_EXCEEDS_REFUNDABLE`), which is being paid.
   */
  private async refund(request: ProviderRequest): Promise<ProviderOutcome> {
    const payment = request.instrument['payment'];
    if (typeof payment !== 'string') throw new RampartError('missing_parameter', { field: 'instrument.payment' });
    const reason = REFUND_REASONS.get(request.instrument['reason']);
    const answer = await this.call({
      method: 'POST',
      path: '/bank/v1/refunds',
      headers: this.headers(request.idempotencyKey),
      body: {
        payment_id: payment,
        amount: this.amount(request),
        merchant_reference: request.paymentId,
        ...(reason ? { reason } : {}),
        metadata: { rampart_payment_id: request.paymentId },
      },
    });
    if (answer.status < 300) return refundOutcome(answer.body as BankRefund);
    const code = (answer.body as BankError).error_code;
    if (!REFUND_REFUSALS.includes(code)) return this.rejected(answer, request);
    const made = await this.lookup(request.paymentId, 'refund');
    if (made) return made;
    return {
      providerRef: `${this.id}:${request.paymentId}`,
      status: 'failed',
      failure: { code: 'refund_failed', details: { provider_code: code } },
    };
  }

  async fetch(providerRef: string, kind: PaymentKind): Promise<ProviderOutcome> {
    const outcome = await this.retrieve(`${collection(kind)}/${encodeURIComponent(providerRef)}`, kind);
    // The bank not knowing an id it gave us is its fault, and may pass.
    if (!outcome) throw new RampartError('upstream_error', { provider: this.id, status: 404 });
    return outcome;
  }

  /** A payment can be cancelled until the user authorises it; payouts and refunds answer as they are. */
  cancel(providerRef: string, kind: PaymentKind): Promise<ProviderOutcome> {
    return this.cancelThenRead(`${collection(kind)}/${encodeURIComponent(providerRef)}/cancel`, this.headers(), () =>
      this.fetch(providerRef, kind),
    );
  }

  /** Rampart sends the payment id as `merchant_reference`. */
  lookup(paymentId: string, kind: PaymentKind): Promise<ProviderOutcome | null> {
    return this.retrieve(`${collection(kind)}/by_reference/${encodeURIComponent(paymentId)}`, kind);
  }

  /** A payment, payout or refund; null only when the bank answers that it has no such one. */
  private async retrieve(path: string, kind: PaymentKind): Promise<ProviderOutcome | null> {
    const answer = await this.call({ method: 'GET', path, headers: this.headers() });
    if (answer.status === 404 && (answer.body as BankError).error_code === 'NOT_FOUND') return null;
    if (answer.status >= 300) throw new RampartError('upstream_error', { provider: this.id, status: answer.status });
    return outcomeOf(kind, answer.body);
  }

  readWebhook(headers: Readonly<Record<string, string | string[] | undefined>>, rawBody: string): ProviderNotice {
    verifySimSignature(headers['x-sim-signature'], rawBody, this.options.webhookSecret, this.nowSeconds());
    const body = parseWebhookBody(rawBody);
    const eventId = body['notification_id'];
    const data = body['data'] as (BankPayment & BankPayout & BankRefund) | undefined;
    if (typeof eventId !== 'string' || !data)
      throw new RampartError('validation_error', { issues: [{ field: 'data', message: 'missing' }] });
    if (body['notification_type'] === 'REFUND_STATUS_CHANGED') {
      // Rampart's refunds name themselves in their metadata. A refund made elsewhere (the
      // bank's dashboard) may carry any reference, even a deposit's id: it names no payment
      // of Rampart's, and is never taken for that deposit's own news.
      const rampartId = data.metadata?.['rampart_payment_id'];
      return {
        eventId,
        subject: {
          type: 'payment',
          providerRef: data.refund_id,
          ...(typeof rampartId === 'string' ? { paymentId: rampartId } : {}),
          outcome: refundOutcome(data),
        },
      };
    }
    if (body['notification_type'] === 'PAYOUT_STATUS_CHANGED') {
      return {
        eventId,
        subject: {
          type: 'payment',
          providerRef: data.payout_id,
          paymentId: data.merchant_reference,
          outcome: payoutOutcome(data),
        },
      };
    }
    if (body['notification_type'] === 'PAYMENT_STATUS_CHANGED') {
      return {
        eventId,
        subject: {
          type: 'payment',
          providerRef: data.payment_id,
          paymentId: data.merchant_reference,
          outcome: paymentOutcome(data),
        },
      };
    }
    return { eventId, subject: { type: 'ignored', reason: `notification_type ${String(body['notification_type'])}` } };
  }
}
