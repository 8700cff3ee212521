import {
  type Action,
  findCurrency,
  formatAmount,
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
import { type BankError, type BankPayment, type BankPayout, paymentOutcome, payoutOutcome } from './wire.ts';

const CURRENCIES = ['USD', 'EUR', 'GBP'];

/** Withdrawals are the bank's payouts; deposits its payments. */
function collection(kind: Action): string {
  return kind === 'withdrawal' ? '/bank/v1/payouts' : '/bank/v1/payments';
}

/** Pay-by-bank (the sandbox `bank` provider): the user approves in a hosted bank page. */
export class SimBankConnector extends HttpConnector implements PaymentProvider, WebhookSource {
  constructor(options: ConnectorOptions, id = 'simbank') {
    super(id, options);
  }

  supports(kind: Action, method: PaymentMethod, currency: string): boolean {
    return (kind === 'deposit' || kind === 'withdrawal') && method === 'bank' && CURRENCIES.includes(currency);
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

  async fetch(providerRef: string, kind: Action): Promise<ProviderOutcome> {
    const outcome = await this.retrieve(`${collection(kind)}/${encodeURIComponent(providerRef)}`, kind);
    // The bank not knowing an id it gave us is its fault, and may pass.
    if (!outcome) throw new RampartError('upstream_error', { provider: this.id, status: 404 });
    return outcome;
  }

  /** A payment can be cancelled until the user authorises it; payouts answer as they are. */
  cancel(providerRef: string, kind: Action): Promise<ProviderOutcome> {
    return this.cancelThenRead(`${collection(kind)}/${encodeURIComponent(providerRef)}/cancel`, this.headers(), () =>
      this.fetch(providerRef, kind),
    );
  }

  /** Rampart sends the payment id as `merchant_reference`. */
  lookup(paymentId: string, kind: Action): Promise<ProviderOutcome | null> {
    return this.retrieve(`${collection(kind)}/by_reference/${encodeURIComponent(paymentId)}`, kind);
  }

  /** A payment or payout; null only when the bank answers that it has no such one. */
  private async retrieve(path: string, kind: Action): Promise<ProviderOutcome | null> {
    const answer = await this.call({ method: 'GET', path, headers: this.headers() });
    if (answer.status === 404 && (answer.body as BankError).error_code === 'NOT_FOUND') return null;
    if (answer.status >= 300) throw new RampartError('upstream_error', { provider: this.id, status: answer.status });
    return kind === 'withdrawal'
      ? payoutOutcome(answer.body as BankPayout)
      : paymentOutcome(answer.body as BankPayment);
  }

  readWebhook(headers: Readonly<Record<string, string | string[] | undefined>>, rawBody: string): ProviderNotice {
    verifySimSignature(headers['x-sim-signature'], rawBody, this.options.webhookSecret, this.nowSeconds());
    const body = parseWebhookBody(rawBody);
    const eventId = body['notification_id'];
    const data = body['data'] as (BankPayment & BankPayout) | undefined;
    if (typeof eventId !== 'string' || !data)
      throw new RampartError('validation_error', { issues: [{ field: 'data', message: 'missing' }] });
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
