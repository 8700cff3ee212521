import type { FastifyInstance, FastifyRequest } from 'fastify';
import { adminError } from '../admin/routes.ts';
import type { ProviderContext, SimulatedProvider } from '../context.ts';
import { endpoint, retrievalRoutes } from '../http/endpoint.ts';
import { Fields } from '../http/fields.ts';
import { requestFingerprint } from '../http/fingerprint.ts';
import { failIfMagicError, MAGIC_CENTS } from '../magic.ts';
import { formatMinor, magicCentsOfDecimal, parseDecimal } from '../money.ts';
import { isValidAddress } from './addresses.ts';
import { ASSETS, type AssetOnNetwork, findAsset } from './assets.ts';
import { DepositWatches, serializeWatch } from './deposits.ts';
import { Orders, serializeOrder } from './orders.ts';
import { MIN_FIAT_CENTS, price, priceCryptoBuy, Quotes, serializeQuote } from './quotes.ts';
import { cryptoDialect, invalidCryptoField, ok, rampError } from './wire.ts';
import { serializeWithdrawal, Withdrawals } from './withdrawals.ts';

const DEFAULT_WATCH_TTL_SECONDS = 3600;

function readAsset(fields: Fields): AssetOnNetwork {
  const asset = fields.string('asset', { max: 10 });
  const network = fields.string('network', { max: 10 });
  const found = findAsset(asset, network);
  if (!found) {
    const supported = ASSETS.map((a) => `${a.asset}/${a.network}`).join(', ');
    throw rampError('unsupported_asset', `${asset} on ${network} is not supported; supported: ${supported}`, 'network');
  }
  return found;
}

function readAddress(fields: Fields, name: string, asset: AssetOnNetwork): string {
  const address = fields.string(name, { max: 100 });
  if (!isValidAddress(asset.chain, address)) {
    throw rampError('invalid_address', `${name} is not a valid ${asset.network} address`, name);
  }
  return address;
}

function readAmount(fields: Fields, name: string, decimals: number): { minor: bigint; magic: number } {
  const value = fields.string(name, { max: 40 });
  const minor = parseDecimal(value, decimals);
  if (minor === undefined)
    throw fields.fail(name, `${name} must be a positive decimal string with at most ${decimals} decimals`);
  return { minor, magic: magicCentsOfDecimal(value) };
}

/** Crypto on/off-ramp: quotes, buy and sell orders, deposit-address watching, withdrawals. */
export function createCryptoProvider(context: ProviderContext): SimulatedProvider {
  const quotes = new Quotes(context);
  const orders = new Orders(context);
  const watches = new DepositWatches(context);
  const withdrawals = new Withdrawals(context);
  const { kit } = context;
  const magicError = (request: FastifyRequest, magic: number) =>
    failIfMagicError(magic, requestFingerprint('POST', request.url, request.body), context, cryptoDialect);

  return {
    provider: 'crypto',
    register(app: FastifyInstance) {
      app.get(
        '/crypto/v1/assets',
        endpoint(kit, cryptoDialect, () =>
          ok(
            200,
            ASSETS.map((a) => ({
              asset: a.asset,
              network: a.network,
              decimals: a.decimals,
              rate: formatMinor(a.usdCents, 2),
              required_confirmations: a.confirmations,
            })),
          ),
        ),
      );

      app.post(
        '/crypto/v1/quotes',
        endpoint(
          kit,
          cryptoDialect,
          (request) => {
            const fields = new Fields(request.body, invalidCryptoField);
            const side = fields.oneOf('side', ['buy', 'sell'] as const);
            const asset = readAsset(fields);
            fields.oneOf('fiat_currency', ['USD'] as const, 'USD');
            // A buy names what the user pays (fiat_amount) or what they get (crypto_amount); a sell what they send.
            const byFiat = side === 'buy' && (fields.has('fiat_amount') || !fields.has('crypto_amount'));
            if (byFiat && fields.has('crypto_amount'))
              throw fields.fail('crypto_amount', 'give fiat_amount or crypto_amount, not both');
            const amountField = byFiat ? 'fiat_amount' : 'crypto_amount';
            const { minor, magic } = readAmount(fields, amountField, byFiat ? 2 : asset.decimals);
            const priced = side === 'buy' && !byFiat ? priceCryptoBuy(asset, minor) : price(side, asset, minor);
            if (priced.fiatCents < MIN_FIAT_CENTS || priced.cryptoMinor <= 0n || priced.fiatCents > 100_000_000n) {
              throw rampError('amount_out_of_range', 'Amount must be worth 1.00 to 1000000.00 USD', amountField);
            }
            // …02 fails the order once, not its quote as well: a client that retries the
            // order once with its quote replayed gets through, as with every "500 once".
            if (magic === MAGIC_CENTS.errorAlways) magicError(request, magic);
            const quote = quotes.create({ side, asset, magic, ...priced });
            return { ...ok(201, serializeQuote(quote)), createdId: quote.id };
          },
          { idempotent: true },
        ),
      );

      app.post(
        '/crypto/v1/orders',
        endpoint(
          kit,
          cryptoDialect,
          (request) => {
            const fields = new Fields(request.body, invalidCryptoField);
            const quote = quotes.get(fields.string('quote_id', { max: 60 }));
            if (!quote) throw cryptoDialect.error('not_found', 'No such quote', { field: 'quote_id' });
            const destinationAddress =
              quote.side === 'buy' ? readAddress(fields, 'destination_address', quote.asset) : null;
            const customerRef = fields.optionalString('customer_ref', { max: 100 }) ?? null;
            if (quote.orderId)
              throw rampError('quote_already_used', `Quote already used by order ${quote.orderId}`, 'quote_id');
            if (quote.expiresAt <= context.clock.nowMs())
              throw rampError('quote_expired', 'Quote has expired', 'quote_id');
            magicError(request, quote.magic);
            if (quote.magic === MAGIC_CENTS.insufficientFunds) {
              throw rampError('insufficient_liquidity', 'Not enough liquidity to fill this order');
            }
            const order = orders.create(quote, { destinationAddress, customerRef });
            return { ...ok(201, serializeOrder(order)), createdId: order.id };
          },
          { idempotent: true },
        ),
      );

      // By id, and by the merchant's own reference (for one whose create call timed out).
      retrievalRoutes(
        app,
        kit,
        cryptoDialect,
        [
          {
            path: '/crypto/v1/orders/:order_id',
            param: 'order_id',
            find: (value) => orders.get(value),
            missing: 'No such order',
          },
          {
            path: '/crypto/v1/orders/by-customer-ref/:customer_ref',
            param: 'customer_ref',
            find: (value) => orders.byCustomerRef(value),
            missing: 'No order with this customer_ref',
          },
        ],
        (order) => ok(200, serializeOrder(order)),
      );

      app.post(
        '/crypto/v1/deposit-watches',
        endpoint(
          kit,
          cryptoDialect,
          (request) => {
            const fields = new Fields(request.body, invalidCryptoField);
            const asset = readAsset(fields);
            const address = readAddress(fields, 'address', asset);
            const { minor, magic } = readAmount(fields, 'expected_amount', asset.decimals);
            const reference = fields.string('reference', { max: 100 });
            const ttl = fields.has('expires_in_seconds')
              ? fields.integer('expires_in_seconds', { min: 60, max: 7 * 86_400 })
              : DEFAULT_WATCH_TTL_SECONDS;
            if (watches.openOn(address, asset.network)) {
              throw rampError('address_already_watched', 'This address already has an open watch', 'address');
            }
            magicError(request, magic);
            const watch = watches.create({ address, asset, expectedMinor: minor, reference, magic }, ttl * 1000);
            return { ...ok(201, serializeWatch(watch)), createdId: watch.id };
          },
          { idempotent: true },
        ),
      );

      retrievalRoutes(
        app,
        kit,
        cryptoDialect,
        [
          {
            path: '/crypto/v1/deposit-watches/:watch_id',
            param: 'watch_id',
            find: (value) => watches.get(value),
            missing: 'No such deposit watch',
          },
          {
            path: '/crypto/v1/deposit-watches/by-reference/:reference',
            param: 'reference',
            find: (value) => watches.byReference(value),
            missing: 'No deposit watch with this reference',
          },
        ],
        (watch) => ok(200, serializeWatch(watch)),
      );

      app.post(
        '/crypto/v1/withdrawals',
        endpoint(
          kit,
          cryptoDialect,
          (request) => {
            const fields = new Fields(request.body, invalidCryptoField);
            const asset = readAsset(fields);
            const address = readAddress(fields, 'address', asset);
            const { minor, magic } = readAmount(fields, 'amount', asset.decimals);
            const reference = fields.string('reference', { max: 100 });
            magicError(request, magic);
            if (magic === MAGIC_CENTS.insufficientFunds) {
              throw rampError('insufficient_balance', 'The ramp hot wallet cannot cover this withdrawal');
            }
            const withdrawal = withdrawals.create({ asset, address, amountMinor: minor, reference, magic });
            return { ...ok(201, serializeWithdrawal(withdrawal)), createdId: withdrawal.id };
          },
          { idempotent: true },
        ),
      );

      retrievalRoutes(
        app,
        kit,
        cryptoDialect,
        [
          {
            path: '/crypto/v1/withdrawals/:withdrawal_id',
            param: 'withdrawal_id',
            find: (value) => withdrawals.get(value),
            missing: 'No such withdrawal',
          },
          {
            path: '/crypto/v1/withdrawals/by-reference/:reference',
            param: 'reference',
            find: (value) => withdrawals.byReference(value),
            missing: 'No withdrawal with this reference',
          },
        ],
        (withdrawal) => ok(200, serializeWithdrawal(withdrawal)),
      );
    },

    registerAdmin(app: FastifyInstance) {
      // A person running `npm start` cannot send real coins: this sends them for them.
      app.post('/admin/crypto/deposits', async (request, reply) => {
        const body = (request.body ?? {}) as { address?: unknown; network?: unknown; amount?: unknown };
        if (typeof body.address !== 'string' || typeof body.network !== 'string') {
          return adminError(reply, 400, 'address and network are required');
        }
        const watch = watches.openOn(body.address, body.network);
        if (!watch) return adminError(reply, 404, 'no open deposit watch on that address and network');
        const amount =
          typeof body.amount === 'string' && parseDecimal(body.amount, watch.asset.decimals) !== undefined
            ? body.amount
            : formatMinor(watch.expectedMinor, watch.asset.decimals);
        watches.arrive(watch, amount, 'confirm', context.clock.nowMs());
        return serializeWatch(watch);
      });
    },

    reset() {
      quotes.clear();
      orders.clear();
      watches.clear();
      withdrawals.clear();
    },
  };
}
