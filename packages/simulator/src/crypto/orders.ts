import { isoAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { ReferenceIndex } from '../http/references.ts';
import { MAGIC_CENTS } from '../magic.ts';
import { formatMinor } from '../money.ts';
import { newAddress } from './addresses.ts';
import { type ChainTx, fateOf, serializeTx, simulateTransfer } from './chain.ts';
import { publishRampEvent } from './events.ts';
import type { Quote } from './quotes.ts';

export type OrderStatus = 'processing' | 'awaiting_deposit' | 'confirming' | 'completed' | 'failed' | 'expired';

/**
 * How long a sell waits for the user's crypto at its deposit address. Like a real ramp's,
 * the order then expires: it cannot wait forever with the fiat side open. A simulator
 * whose transfers are set to start later than that waits twice their delay instead, so
 * its sells can still complete.
 */
export const SELL_DEPOSIT_WINDOW_MS = 60 * 60_000;

/** Statuses an order never leaves. */
const FINAL: readonly OrderStatus[] = ['completed', 'failed', 'expired'];

export interface Order {
  id: string;
  quote: Quote;
  status: OrderStatus;
  destinationAddress: string | null;
  depositAddress: string | null;
  customerRef: string | null;
  tx: ChainTx | null;
  failureReason: string | null;
  createdAt: number;
  updatedAt: number;
  /** A sell's end of the deposit window; null for a buy. */
  expiresAt: number | null;
}

export function serializeOrder(order: Order) {
  const { quote } = order;
  return {
    order_id: order.id,
    side: quote.side,
    status: order.status,
    quote_id: quote.id,
    asset: quote.asset.asset,
    network: quote.asset.network,
    fiat_currency: 'USD',
    fiat_amount: formatMinor(quote.fiatCents, 2),
    crypto_amount: formatMinor(quote.cryptoMinor, quote.asset.decimals),
    rate: formatMinor(quote.asset.usdCents, 2),
    fee: formatMinor(quote.feeCents, 2),
    destination_address: order.destinationAddress,
    deposit_address: order.depositAddress,
    customer_ref: order.customerRef,
    failure_reason: order.failureReason,
    transaction: serializeTx(order.tx),
    created_at: isoAt(order.createdAt),
    updated_at: isoAt(order.updatedAt),
    expires_at: order.expiresAt === null ? null : isoAt(order.expiresAt),
  };
}

/**
 * Buy orders deliver crypto to the user's address; sell orders wait for the user's
 * crypto at a ramp address and settle fiat once it confirms, or expire when it does not
 * arrive within `SELL_DEPOSIT_WINDOW_MS`. The quote's magic amount decides stuck (…04:
 * a buy never delivered, a sell's crypto never sent) and failed (…05) orders.
 */
export class Orders {
  readonly #context: ProviderContext;
  #orders = new Map<string, Order>();
  #byCustomerRef = new ReferenceIndex<Order>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  get(id: string): Order | undefined {
    return this.#orders.get(id);
  }

  /** The latest order created with this `customer_ref`. */
  byCustomerRef(customerRef: string): Order | undefined {
    return this.#byCustomerRef.find(customerRef);
  }

  create(quote: Quote, input: { destinationAddress: string | null; customerRef: string | null }): Order {
    const now = this.#context.clock.nowMs();
    const sell = quote.side === 'sell';
    const order: Order = {
      id: this.#context.newId('ord'),
      quote,
      status: sell ? 'awaiting_deposit' : 'processing',
      destinationAddress: input.destinationAddress,
      depositAddress: sell ? newAddress(quote.asset.chain) : null,
      customerRef: input.customerRef,
      tx: null,
      failureReason: null,
      createdAt: now,
      updatedAt: now,
      expiresAt: sell ? now + Math.max(SELL_DEPOSIT_WINDOW_MS, 2 * this.#context.settleDelayMs) : null,
    };
    quote.orderId = order.id;
    this.#orders.set(order.id, order);
    this.#byCustomerRef.remember(order.customerRef, order);
    this.#notify(order);
    if (order.expiresAt !== null) {
      this.#context.timeline.at(order.expiresAt, (at) => {
        if (order.status === 'awaiting_deposit') this.#move(order, 'expired', at);
      });
    }
    if (quote.magic === MAGIC_CENTS.pendingForever) return order;
    this.#context.timeline.at(now + this.#context.settleDelayMs, (at) => this.#transfer(order, at));
    return order;
  }

  /** Buy: the ramp sends the crypto. Sell: the user's crypto arrives at the deposit address. */
  #transfer(order: Order, at: number): void {
    // The deposit window closed first: what the user sends now is no longer this order's.
    if (order.status === 'expired') return;
    const { quote } = order;
    if (quote.side === 'buy' && quote.magic === MAGIC_CENTS.failsLater) {
      order.failureReason = 'liquidity_provider_rejected';
      this.#move(order, 'failed', at);
      return;
    }
    simulateTransfer(
      this.#context,
      quote.asset,
      {
        amount: formatMinor(quote.cryptoMinor, quote.asset.decimals),
        fate: quote.side === 'sell' ? fateOf(quote.magic) : 'confirm',
        at,
      },
      (tx, when) => {
        order.tx = tx;
        if (tx.state === 'dropped') {
          order.failureReason = 'deposit_dropped';
          this.#move(order, 'failed', when);
        } else if (tx.state === 'confirmed') this.#move(order, 'completed', when);
        else if (order.status !== 'confirming') this.#move(order, 'confirming', when);
      },
    );
  }

  #move(order: Order, status: OrderStatus, at: number): void {
    if (FINAL.includes(order.status)) return;
    order.status = status;
    order.updatedAt = at;
    this.#notify(order);
  }

  #notify(order: Order): void {
    publishRampEvent(this.#context, `order.${order.status}`, order.updatedAt, order.id, serializeOrder(order));
  }

  clear(): void {
    this.#orders.clear();
    this.#byCustomerRef.clear();
  }
}
