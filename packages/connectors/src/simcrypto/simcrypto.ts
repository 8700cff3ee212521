import {
  type Action,
  findCurrency,
  type PaymentMethod,
  type PaymentProvider,
  type ProviderNotice,
  type ProviderOutcome,
  type ProviderRequest,
  type WebhookSource,
} from '@rampart/core';
import { RampartError } from '@rampart/errors';
import { type ConnectorOptions, HttpConnector } from '../connector.ts';
import type { DepositAddresses } from '../crypto/deposit-addresses.ts';
import { assertPayoutAddress } from '../crypto/validation.ts';
import type { ProviderAnswer } from '../http.ts';
import { parseWebhookBody, verifySimSignature } from '../sim-signature.ts';
import {
  type DepositWatch,
  type Order,
  orderOutcome,
  pairFor,
  parseRampAmount,
  type Quote,
  type RampCode,
  type RampEnvelope,
  type RampOperation,
  type RampPair,
  rejection,
  toRampAmount,
  type Withdrawal,
  watchOutcome,
  withdrawalOutcome,
} from './wire.ts';

export interface SimCryptoOptions extends ConnectorOptions {
  /** Where users' deposit addresses are kept (one per user and network). */
  addresses: DepositAddresses;
  /** The operator's extended public key for a network, if it registered one. */
  xpubFor(operatorId: string, network: string): Promise<string | undefined>;
  /** How long a deposit address is watched for the transfer; the ramp's default when absent. */
  depositWatchSeconds?: number;
}

const ACTIONS: readonly Action[] = ['deposit', 'withdrawal', 'buy', 'sell'];

/** The ramp's `not_found` code: no such resource (an unknown path is another code). */
const NOT_FOUND: RampCode = 40401;

/** Deposits are watches on the user's address, withdrawals payouts, buys and sells orders. */
function collection(kind: Action): string {
  if (kind === 'deposit') return '/crypto/v1/deposit-watches';
  if (kind === 'withdrawal') return '/crypto/v1/withdrawals';
  return '/crypto/v1/orders';
}

/**
 * The sandbox crypto on/off-ramp (`crypto`):
 * - deposit: the user's own address, derived from the operator's xpub, is watched by the
 *   ramp; the user is shown the address (`crypto_address` next action);
 * - withdrawal: a payout to an address checked for its network before anything is sent;
 * - buy: fiat buys crypto delivered to the user's deposit address (the operator's wallet);
 * - sell: the crypto is sent to the ramp's address (`crypto_address`), fiat comes back.
 * Buys and sells are booked in the crypto asset, like deposits and withdrawals.
 */
export class SimCryptoConnector extends HttpConnector implements PaymentProvider, WebhookSource {
  private readonly addresses: DepositAddresses;
  private readonly xpubFor: SimCryptoOptions['xpubFor'];
  private readonly depositWatchSeconds: number | undefined;

  constructor(options: SimCryptoOptions, id = 'simcrypto') {
    super(id, options);
    this.addresses = options.addresses;
    this.xpubFor = options.xpubFor;
    this.depositWatchSeconds = options.depositWatchSeconds;
  }

  supports(kind: Action, method: PaymentMethod, currency: string, network: string | null): boolean {
    return method === 'crypto' && ACTIONS.includes(kind) && pairFor(currency, network) !== undefined;
  }

  payIn(request: ProviderRequest): Promise<ProviderOutcome> {
    return request.kind === 'buy' ? this.buy(request) : this.deposit(request);
  }

  payOut(request: ProviderRequest): Promise<ProviderOutcome> {
    return request.kind === 'sell' ? this.sell(request) : this.withdraw(request);
  }

  /** The ramp has no way to cancel: its view, unchanged. */
  cancel(providerRef: string, kind: Action): Promise<ProviderOutcome> {
    return this.fetch(providerRef, kind);
  }

  async fetch(providerRef: string, kind: Action): Promise<ProviderOutcome> {
    const outcome = await this.retrieve(`${collection(kind)}/${encodeURIComponent(providerRef)}`, kind, providerRef);
    // The ramp not knowing an id it gave us is its fault, and may pass.
    if (!outcome) throw new RampartError('upstream_error', { provider: this.id, provider_code: String(NOT_FOUND) });
    return outcome;
  }

  /** Rampart sends the payment id as the watch's or withdrawal's `reference`, the order's `customer_ref`. */
  lookup(paymentId: string, kind: Action): Promise<ProviderOutcome | null> {
    const by = kind === 'buy' || kind === 'sell' ? 'by-customer-ref' : 'by-reference';
    return this.retrieve(`${collection(kind)}/${by}/${encodeURIComponent(paymentId)}`, kind, `${this.id}:${paymentId}`);
  }

  /** A watch, withdrawal or order; null only when the ramp answers that it has no such one. */
  private async retrieve(path: string, kind: Action, providerRef: string): Promise<ProviderOutcome | null> {
    const answer = await this.call({ method: 'GET', path, headers: this.headers() });
    const envelope = this.envelope(answer);
    if (!envelope.success) {
      if (answer.status === 404 && envelope.code === NOT_FOUND) return null;
      return rejection(envelope as RampEnvelope<null>, {
        provider: this.id,
        operation: 'fetch',
        providerRef,
        currency: '',
        network: null,
      });
    }
    if (kind === 'deposit') return watchOutcome(envelope.data as DepositWatch, this.id);
    if (kind === 'withdrawal') return withdrawalOutcome(envelope.data as Withdrawal, this.id);
    return orderOutcome(envelope.data as Order, this.id);
  }

  readWebhook(headers: Readonly<Record<string, string | string[] | undefined>>, rawBody: string): ProviderNotice {
    verifySimSignature(headers['x-sim-signature'], rawBody, this.options.webhookSecret, this.nowSeconds());
    const body = parseWebhookBody(rawBody);
    const eventId = body['event_id'];
    const event = body['event'];
    const data = body['data'] as Record<string, unknown> | null | undefined;
    if (typeof eventId !== 'string' || typeof event !== 'string' || typeof data !== 'object' || data === null) {
      throw new RampartError('validation_error', {
        issues: [{ field: 'event_id, event, data', message: 'a ramp event needs event_id, event and data' }],
      });
    }
    const [object] = event.split('.');
    const notice = (providerRef: unknown, outcome: () => ProviderOutcome, paymentId: unknown): ProviderNotice => {
      if (typeof providerRef !== 'string') {
        throw new RampartError('validation_error', { issues: [{ field: 'data', message: `${event} without an id` }] });
      }
      let mapped: ProviderOutcome;
      try {
        mapped = outcome();
      } catch (error) {
        // A status this connector does not know: recorded and acknowledged, not applied.
        if (error instanceof RampartError && error.code === 'upstream_invalid_response') {
          return { eventId, subject: { type: 'ignored', reason: `${event}: unknown status` } };
        }
        throw error;
      }
      return {
        eventId,
        subject: {
          type: 'payment',
          providerRef,
          outcome: mapped,
          ...(typeof paymentId === 'string' ? { paymentId } : {}),
        },
      };
    };
    switch (object) {
      case 'deposit':
        return notice(
          data['watch_id'],
          () => watchOutcome(data as unknown as DepositWatch, this.id),
          data['reference'],
        );
      case 'withdrawal':
        return notice(
          data['withdrawal_id'],
          () => withdrawalOutcome(data as unknown as Withdrawal, this.id),
          data['reference'],
        );
      case 'order':
        return notice(data['order_id'], () => orderOutcome(data as unknown as Order, this.id), data['customer_ref']);
      default:
        return { eventId, subject: { type: 'ignored', reason: `event ${event}` } };
    }
  }

  // --- operations -------------------------------------------------------------------

  private async deposit(request: ProviderRequest): Promise<ProviderOutcome> {
    const pair = this.pair(request);
    const { address } = await this.depositAddress(request);
    const amount = this.amount(request, pair);
    const answer = await this.call({
      method: 'POST',
      path: '/crypto/v1/deposit-watches',
      headers: this.headers(request.idempotencyKey),
      body: {
        address,
        asset: pair.asset,
        network: pair.rampNetwork,
        expected_amount: amount,
        reference: request.paymentId,
        ...(this.depositWatchSeconds ? { expires_in_seconds: this.depositWatchSeconds } : {}),
      },
    });
    const envelope = this.envelope(answer);
    if (!envelope.success) return this.refused(envelope, request, 'deposit', { amount, address });
    return watchOutcome(envelope.data as DepositWatch, this.id);
  }

  private async withdraw(request: ProviderRequest): Promise<ProviderOutcome> {
    const pair = this.pair(request);
    // Checked here, before any call: a mistyped address is money lost for good.
    const address = assertPayoutAddress(pair.network, request.instrument['address']);
    const amount = this.amount(request, pair);
    const answer = await this.call({
      method: 'POST',
      path: '/crypto/v1/withdrawals',
      headers: this.headers(request.idempotencyKey),
      body: { asset: pair.asset, network: pair.rampNetwork, address, amount, reference: request.paymentId },
    });
    const envelope = this.envelope(answer);
    if (!envelope.success) return this.refused(envelope, request, 'withdrawal', { amount, address });
    return withdrawalOutcome(envelope.data as Withdrawal, this.id);
  }

  /**
   * Buys exactly the requested crypto: the ramp quotes the fiat it costs, fee included.
   * The crypto goes to the user's deposit address, the operator's wallet.
   */
  private async buy(request: ProviderRequest): Promise<ProviderOutcome> {
    const pair = this.pair(request);
    const { address } = await this.depositAddress(request);
    const crypto = this.amount(request, pair);
    const wanted = parseRampAmount(crypto, pair.decimals)!;
    const { quote, refused } = await this.quote(request, pair, { side: 'buy', crypto_amount: crypto }, 'buy', crypto);
    if (!quote) return refused;
    const delivered = parseRampAmount(quote.crypto_amount, pair.decimals);
    if (delivered === undefined || delivered < wanted) {
      // A quote for less than was asked: nothing was ordered yet.
      throw new RampartError('provider_error', { provider: this.id, provider_code: 'quote_below_request' });
    }
    return this.order(request, { quote_id: quote.quote_id, destination_address: address }, 'buy', crypto, address);
  }

  /** Sells exactly the requested crypto; the user's (operator's) crypto goes to the ramp's address. */
  private async sell(request: ProviderRequest): Promise<ProviderOutcome> {
    const pair = this.pair(request);
    const crypto = this.amount(request, pair);
    const { quote, refused } = await this.quote(request, pair, { side: 'sell', crypto_amount: crypto }, 'sell', crypto);
    if (!quote) return refused;
    return this.order(request, { quote_id: quote.quote_id }, 'sell', crypto, null);
  }

  // --- helpers ----------------------------------------------------------------------

  /**
   * Quotes move no money, but the quote call carries a key derived from the payment's,
   * so a retried payment gets the same quote and therefore replays the same order.
   */
  private async quote(
    request: ProviderRequest,
    pair: RampPair,
    amounts: Record<string, string>,
    operation: 'buy' | 'sell',
    crypto: string,
  ): Promise<{ quote: Quote; refused?: never } | { quote?: never; refused: ProviderOutcome }> {
    const answer = await this.call({
      method: 'POST',
      path: '/crypto/v1/quotes',
      headers: this.headers(`${request.idempotencyKey}:quote`),
      body: { ...amounts, asset: pair.asset, network: pair.rampNetwork, fiat_currency: 'USD' },
    });
    const envelope = this.envelope(answer);
    if (!envelope.success)
      return { refused: this.refused(envelope, request, operation, { amount: crypto, address: null }) };
    return { quote: envelope.data as Quote };
  }

  private async order(
    request: ProviderRequest,
    body: Record<string, string>,
    operation: 'buy' | 'sell',
    crypto: string,
    address: string | null,
  ): Promise<ProviderOutcome> {
    const answer = await this.call({
      method: 'POST',
      path: '/crypto/v1/orders',
      headers: this.headers(request.idempotencyKey),
      body: { ...body, customer_ref: request.paymentId },
    });
    const envelope = this.envelope(answer);
    if (!envelope.success) return this.refused(envelope, request, operation, { amount: crypto, address });
    return orderOutcome(envelope.data as Order, this.id);
  }

  private async depositAddress(request: ProviderRequest) {
    const network = request.network!;
    const xpub = await this.xpubFor(request.operatorId, network);
    if (!xpub) throw new RampartError('wallet_not_supported', { currency: request.currency, network });
    return this.addresses.addressFor({ operatorId: request.operatorId, userId: request.user.id, network, xpub });
  }

  private pair(request: ProviderRequest): RampPair {
    const pair = pairFor(request.currency, request.network);
    if (!pair) {
      throw new RampartError('wallet_not_supported', {
        currency: request.currency,
        network: request.network ?? 'none',
      });
    }
    return pair;
  }

  private amount(request: ProviderRequest, pair: RampPair): string {
    const currency = findCurrency(request.currency);
    if (!currency)
      throw new RampartError('wallet_not_supported', { currency: request.currency, network: pair.network });
    return toRampAmount(request.amount, currency.exponent, pair.decimals, currency.code);
  }

  private headers(idempotencyKey?: string): Record<string, string> {
    return {
      'x-ramp-key': this.options.apiKey,
      ...(idempotencyKey ? { 'x-ramp-idempotency-key': idempotencyKey } : {}),
    };
  }

  /** Every ramp answer is an envelope; anything else is an unreadable answer. */
  private envelope(answer: ProviderAnswer): RampEnvelope {
    const body = answer.body as Partial<RampEnvelope>;
    const ok = typeof body.success === 'boolean' && typeof body.code === 'number';
    const consistent = ok && body.success === answer.status < 300 && (!body.success || body.data !== undefined);
    if (!consistent) throw new RampartError('upstream_invalid_response', { provider: this.id, status: answer.status });
    return body as RampEnvelope;
  }

  private refused(
    envelope: RampEnvelope,
    request: ProviderRequest,
    operation: RampOperation,
    sent: { amount: string; address: string | null },
  ): ProviderOutcome {
    return rejection(envelope as RampEnvelope<{ field?: string } | null>, {
      provider: this.id,
      operation,
      providerRef: `${this.id}:${request.paymentId}`,
      currency: request.currency,
      network: request.network,
      address: sent.address,
      amount: sent.amount,
    });
  }
}
