import { isoAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { formatMinor } from '../money.ts';
import type { AssetOnNetwork } from './assets.ts';

/** A quote holds its price this long (simulated). */
export const QUOTE_TTL_MS = 30_000;
/** The ramp's fee: 1 % of the fiat side, rounded up to the cent. */
const FEE_BASIS_POINTS = 100n;
/** Smallest order the ramp takes, in USD cents. */
export const MIN_FIAT_CENTS = 100n;

export interface Quote {
  id: string;
  side: 'buy' | 'sell';
  asset: AssetOnNetwork;
  fiatCents: bigint;
  cryptoMinor: bigint;
  feeCents: bigint;
  /** Magic cents of the amount the quote was asked for. */
  magic: number;
  expiresAt: number;
  createdAt: number;
  orderId: string | null;
}

function feeOf(cents: bigint): bigint {
  return (cents * FEE_BASIS_POINTS + 9_999n) / 10_000n;
}

/**
 * Buy: the user pays `fiatCents` (fee included) and gets the crypto it buys after
 * the fee. Sell: the user sends `cryptoMinor` and gets its value less the fee.
 */
export function price(side: 'buy' | 'sell', asset: AssetOnNetwork, amount: bigint) {
  const unit = 10n ** BigInt(asset.decimals);
  if (side === 'buy') {
    const feeCents = feeOf(amount);
    return { fiatCents: amount, feeCents, cryptoMinor: ((amount - feeCents) * unit) / asset.usdCents };
  }
  const gross = (amount * asset.usdCents) / unit;
  const feeCents = feeOf(gross);
  return { fiatCents: gross - feeCents, feeCents, cryptoMinor: amount };
}

/**
 * A buy of exactly `cryptoMinor`: the user pays the least fiat (fee included) whose
 * value after the fee covers it, so a buy by fiat of that amount would buy at least as much.
 */
export function priceCryptoBuy(asset: AssetOnNetwork, cryptoMinor: bigint) {
  const unit = 10n ** BigInt(asset.decimals);
  const net = (cryptoMinor * asset.usdCents + unit - 1n) / unit;
  const covers = (cents: bigint) => cents - feeOf(cents) >= net;
  // The value after the fee grows by 0 or 1 cent per cent paid: the estimate is off by a few.
  let fiatCents = (net * 10_000n) / (10_000n - FEE_BASIS_POINTS);
  while (!covers(fiatCents)) fiatCents++;
  while (fiatCents > 1n && covers(fiatCents - 1n)) fiatCents--;
  return { fiatCents, feeCents: feeOf(fiatCents), cryptoMinor };
}

export function serializeQuote(quote: Quote) {
  return {
    quote_id: quote.id,
    side: quote.side,
    asset: quote.asset.asset,
    network: quote.asset.network,
    fiat_currency: 'USD',
    fiat_amount: formatMinor(quote.fiatCents, 2),
    crypto_amount: formatMinor(quote.cryptoMinor, quote.asset.decimals),
    rate: formatMinor(quote.asset.usdCents, 2),
    fee: formatMinor(quote.feeCents, 2),
    expires_at: isoAt(quote.expiresAt),
    created_at: isoAt(quote.createdAt),
  };
}

export class Quotes {
  readonly #context: ProviderContext;
  #quotes = new Map<string, Quote>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  create(input: Omit<Quote, 'id' | 'expiresAt' | 'createdAt' | 'orderId'>): Quote {
    const now = this.#context.clock.nowMs();
    const quote: Quote = {
      id: this.#context.newId('qt'),
      ...input,
      createdAt: now,
      expiresAt: now + QUOTE_TTL_MS,
      orderId: null,
    };
    this.#quotes.set(quote.id, quote);
    return quote;
  }

  get(id: string): Quote | undefined {
    return this.#quotes.get(id);
  }

  clear(): void {
    this.#quotes.clear();
  }
}
