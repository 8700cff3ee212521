import { RampartError } from '@rampart/errors';

/**
 * The currencies Rampart can hold and the networks crypto assets travel on.
 *
 * An amount is always an integer number of minor units (`bigint`): 1234n USD is
 * 12.34 USD, 1n ETH is one wei. The exponent is the number of decimals of the
 * currency, the same on every network, so balances of one currency add up whatever
 * network the money arrived on.
 */

export type CurrencyKind = 'fiat' | 'crypto';

/** Blockchain networks, spelled as operators and providers spell them. */
export type Network = 'TRC20' | 'ERC20' | 'BEP20' | 'BITCOIN' | 'ETHEREUM';

export interface Currency {
  /** ISO 4217 code for fiat, ticker for crypto; upper case. */
  readonly code: string;
  readonly name: string;
  readonly kind: CurrencyKind;
  /** Decimals of one major unit: USD 2, JPY 0, KWD 3, USDT 6, BTC 8, ETH 18. */
  readonly exponent: number;
  /** Networks the asset moves on; empty for fiat. */
  readonly networks: readonly Network[];
}

/** Something a wallet can hold: a currency, and for crypto the network it is on. */
export interface Asset {
  readonly currency: Currency;
  /** `null` for fiat, and for a crypto balance that is not tied to one network. */
  readonly network: Network | null;
}

/** ISO 4217 minor units (the "exponent" column of the standard). */
const FIAT: readonly (readonly [code: string, exponent: number, name: string])[] = [
  ['AED', 2, 'UAE Dirham'],
  ['ARS', 2, 'Argentine Peso'],
  ['AUD', 2, 'Australian Dollar'],
  ['BGN', 2, 'Bulgarian Lev'],
  ['BHD', 3, 'Bahraini Dinar'],
  ['BRL', 2, 'Brazilian Real'],
  ['CAD', 2, 'Canadian Dollar'],
  ['CHF', 2, 'Swiss Franc'],
  ['CLP', 0, 'Chilean Peso'],
  ['CNY', 2, 'Yuan Renminbi'],
  ['COP', 2, 'Colombian Peso'],
  ['CZK', 2, 'Czech Koruna'],
  ['DKK', 2, 'Danish Krone'],
  ['EGP', 2, 'Egyptian Pound'],
  ['EUR', 2, 'Euro'],
  ['GBP', 2, 'Pound Sterling'],
  ['GHS', 2, 'Ghana Cedi'],
  ['HKD', 2, 'Hong Kong Dollar'],
  ['HUF', 2, 'Forint'],
  ['IDR', 2, 'Rupiah'],
  ['ILS', 2, 'New Israeli Sheqel'],
  ['INR', 2, 'Indian Rupee'],
  ['IQD', 3, 'Iraqi Dinar'],
  ['ISK', 0, 'Iceland Krona'],
  ['JOD', 3, 'Jordanian Dinar'],
  ['JPY', 0, 'Yen'],
  ['KES', 2, 'Kenyan Shilling'],
  ['KRW', 0, 'Won'],
  ['KWD', 3, 'Kuwaiti Dinar'],
  ['LYD', 3, 'Libyan Dinar'],
  ['MAD', 2, 'Moroccan Dirham'],
  ['MXN', 2, 'Mexican Peso'],
  ['MYR', 2, 'Malaysian Ringgit'],
  ['NGN', 2, 'Naira'],
  ['NOK', 2, 'Norwegian Krone'],
  ['NZD', 2, 'New Zealand Dollar'],
  ['OMR', 3, 'Rial Omani'],
  ['PEN', 2, 'Sol'],
  ['PHP', 2, 'Philippine Peso'],
  ['PKR', 2, 'Pakistan Rupee'],
  ['PLN', 2, 'Zloty'],
  ['PYG', 0, 'Guarani'],
  ['QAR', 2, 'Qatari Rial'],
  ['RON', 2, 'Romanian Leu'],
  ['SAR', 2, 'Saudi Riyal'],
  ['SEK', 2, 'Swedish Krona'],
  ['SGD', 2, 'Singapore Dollar'],
  ['THB', 2, 'Baht'],
  ['TND', 3, 'Tunisian Dinar'],
  ['TRY', 2, 'Turkish Lira'],
  ['TWD', 2, 'New Taiwan Dollar'],
  ['UAH', 2, 'Hryvnia'],
  ['UGX', 0, 'Uganda Shilling'],
  ['USD', 2, 'US Dollar'],
  ['UYU', 2, 'Peso Uruguayo'],
  ['VND', 0, 'Dong'],
  ['XAF', 0, 'CFA Franc BEAC'],
  ['XOF', 0, 'CFA Franc BCEAO'],
  ['ZAR', 2, 'Rand'],
];

/**
 * Ledger precision per crypto asset. This is the unit Rampart books in, not always the
 * token contract's own decimals (USDT on BEP20 has 18 on chain): connectors convert
 * at the edge so that one currency has one exponent across networks.
 */
const CRYPTO: readonly Currency[] = [
  { code: 'BTC', name: 'Bitcoin', kind: 'crypto', exponent: 8, networks: ['BITCOIN'] },
  { code: 'ETH', name: 'Ether', kind: 'crypto', exponent: 18, networks: ['ETHEREUM'] },
  { code: 'USDC', name: 'USD Coin', kind: 'crypto', exponent: 6, networks: ['ERC20'] },
  { code: 'USDT', name: 'Tether USD', kind: 'crypto', exponent: 6, networks: ['TRC20', 'ERC20', 'BEP20'] },
];

const REGISTRY: ReadonlyMap<string, Currency> = new Map(
  [
    ...FIAT.map(([code, exponent, name]): Currency => ({ code, name, kind: 'fiat', exponent, networks: [] })),
    ...CRYPTO,
  ].map((currency) => [currency.code, Object.freeze(currency)]),
);

/** Every supported currency, fiat first, each group by code. */
export const CURRENCIES: readonly Currency[] = [...REGISTRY.values()];

/** The currency for a code (any case), or `undefined` when Rampart does not know it. */
export function findCurrency(code: string): Currency | undefined {
  return REGISTRY.get(code.toUpperCase());
}

/** The currency for a code (any case); an unknown code is the caller's `invalid_value`. */
export function getCurrency(code: string, field = 'currency'): Currency {
  const currency = typeof code === 'string' ? findCurrency(code) : undefined;
  if (!currency)
    throw new RampartError('invalid_value', {
      field,
      provided: code,
      expected: 'a supported currency code such as USD, EUR, USDT or BTC',
    });
  return currency;
}

/**
 * The asset for a currency and an optional network. Fiat takes no network; a crypto
 * currency accepts only the networks it moves on, anything else is
 * `wallet_not_supported` for that (currency, network) pair.
 */
export function getAsset(code: string, network?: string | null): Asset {
  const currency = getCurrency(code);
  if (network === undefined || network === null) return { currency, network: null };
  const wanted = network.toUpperCase();
  const match = currency.networks.find((candidate) => candidate === wanted);
  if (!match) throw new RampartError('wallet_not_supported', { currency: currency.code, network });
  return { currency, network: match };
}
