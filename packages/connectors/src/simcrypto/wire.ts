/**
 * Wire types of the sandbox crypto on/off-ramp (`/crypto`): every answer is an envelope
 * `{ success, code, message, data }` with a numeric code (0 on success), snake_case
 * fields and amounts as decimal strings in the asset's unit. Every status and every
 * error code it documents is mapped here, exhaustively.
 */
import { getAsset, type ProviderOutcome } from '@rampart/core';
import type { ErrorCode } from '@rampart/errors';
import { RampartError } from '@rampart/errors';

export interface RampEnvelope<T = unknown> {
  success: boolean;
  code: number;
  message: string;
  data: T;
}

/** An asset on a network as the ramp names it, and as Rampart does. */
export interface RampPair {
  /** Rampart's currency and network. */
  currency: string;
  network: string;
  /** The ramp's asset and network codes. */
  asset: string;
  rampNetwork: string;
  /** Decimals the ramp's amounts use for this asset (may differ from Rampart's exponent). */
  decimals: number;
}

export const RAMP_PAIRS: readonly RampPair[] = [
  { currency: 'USDT', network: 'TRC20', asset: 'USDT', rampNetwork: 'TRC20', decimals: 6 },
  { currency: 'USDT', network: 'ERC20', asset: 'USDT', rampNetwork: 'ERC20', decimals: 6 },
  { currency: 'USDT', network: 'BEP20', asset: 'USDT', rampNetwork: 'BEP20', decimals: 6 },
  { currency: 'USDC', network: 'ERC20', asset: 'USDC', rampNetwork: 'ERC20', decimals: 6 },
  { currency: 'BTC', network: 'BITCOIN', asset: 'BTC', rampNetwork: 'BTC', decimals: 8 },
  { currency: 'ETH', network: 'ETHEREUM', asset: 'ETH', rampNetwork: 'ETH', decimals: 18 },
];

export function pairFor(currency: string, network: string | null): RampPair | undefined {
  return RAMP_PAIRS.find((p) => p.currency === currency && p.network === network);
}

function pairOfRamp(asset: string, rampNetwork: string): RampPair | undefined {
  return RAMP_PAIRS.find((p) => p.asset === asset && p.rampNetwork === rampNetwork);
}

export interface RampTransaction {
  tx_hash: string;
  amount: string;
  confirmations: number;
  required_confirmations: number;
}

export type WatchStatus = 'watching' | 'detected' | 'confirming' | 'confirmed' | 'failed' | 'expired';
export type WithdrawalStatus = 'pending' | 'broadcast' | 'confirming' | 'completed' | 'failed';
export type OrderStatus = 'processing' | 'awaiting_deposit' | 'confirming' | 'completed' | 'failed' | 'expired';

export interface DepositWatch {
  watch_id: string;
  status: WatchStatus;
  address: string;
  asset: string;
  network: string;
  expected_amount: string;
  reference: string;
  failure_reason: string | null;
  transaction: RampTransaction | null;
}

export interface Withdrawal {
  withdrawal_id: string;
  status: WithdrawalStatus;
  asset: string;
  network: string;
  address: string;
  amount: string;
  reference: string;
  tx_hash: string | null;
  failure_reason: string | null;
}

export interface Order {
  order_id: string;
  side: 'buy' | 'sell';
  status: OrderStatus;
  quote_id: string;
  asset: string;
  network: string;
  fiat_amount: string;
  crypto_amount: string;
  destination_address: string | null;
  deposit_address: string | null;
  customer_ref: string | null;
  failure_reason: string | null;
}

export interface Quote {
  quote_id: string;
  side: 'buy' | 'sell';
  asset: string;
  network: string;
  fiat_amount: string;
  crypto_amount: string;
  rate: string;
  fee: string;
  expires_at: string;
}

const WATCH_STATUS: Record<WatchStatus, ProviderOutcome['status']> = {
  // Waiting for the user to send: the crypto_address next action says where.
  watching: 'pending',
  detected: 'processing',
  confirming: 'processing',
  confirmed: 'completed',
  failed: 'failed',
  // Nothing arrived before the watch ended.
  expired: 'failed',
};

const WITHDRAWAL_STATUS: Record<WithdrawalStatus, ProviderOutcome['status']> = {
  pending: 'processing',
  broadcast: 'processing',
  confirming: 'processing',
  completed: 'completed',
  failed: 'failed',
};

const ORDER_STATUS: Record<OrderStatus, ProviderOutcome['status']> = {
  processing: 'processing',
  // A sell waits for the crypto at the ramp's address: the crypto_address next action.
  awaiting_deposit: 'pending',
  confirming: 'processing',
  completed: 'completed',
  failed: 'failed',
  // A sell whose crypto did not arrive within the ramp's deposit window: nothing moved.
  expired: 'failed',
};

/** The Rampart network of a ramp network code, for next actions. */
function networkOf(asset: string, rampNetwork: string): string {
  return pairOfRamp(asset, rampNetwork)?.network ?? rampNetwork;
}

function known<S extends string>(map: Record<S, unknown>, status: unknown, provider: string): asserts status is S {
  if (typeof status !== 'string' || !Object.hasOwn(map, status)) {
    throw new RampartError('upstream_invalid_response', { provider, provider_status: String(status) });
  }
}

export function watchOutcome(watch: DepositWatch, provider: string): ProviderOutcome {
  known(WATCH_STATUS, watch.status, provider);
  const status = WATCH_STATUS[watch.status];
  // What the sender actually sent, in Rampart's minor units of the pair.
  const pair = pairOfRamp(watch.asset, watch.network);
  const received =
    pair && watch.transaction
      ? parseRampAmount(watch.transaction.amount, getAsset(pair.currency, pair.network).currency.exponent)
      : undefined;
  return {
    providerRef: watch.watch_id,
    status,
    ...(received !== undefined && status === 'completed'
      ? { amount: received.toString(), amountAsset: { currency: pair!.currency, network: pair!.network } }
      : {}),
    nextAction:
      status === 'pending'
        ? {
            type: 'crypto_address',
            address: watch.address,
            network: networkOf(watch.asset, watch.network),
            amount: watch.expected_amount,
          }
        : null,
    ...(status === 'failed'
      ? {
          failure: {
            code: 'deposit_failed' as const,
            details: {
              provider_status: watch.status,
              provider_reason: watch.failure_reason ?? (watch.status === 'expired' ? 'nothing_received' : null),
            },
          },
        }
      : {}),
  };
}

export function withdrawalOutcome(withdrawal: Withdrawal, provider: string): ProviderOutcome {
  known(WITHDRAWAL_STATUS, withdrawal.status, provider);
  const status = WITHDRAWAL_STATUS[withdrawal.status];
  return {
    providerRef: withdrawal.withdrawal_id,
    status,
    ...(status === 'failed'
      ? { failure: { code: 'withdrawal_failed' as const, details: { provider_reason: withdrawal.failure_reason } } }
      : {}),
  };
}

export function orderOutcome(order: Order, provider: string): ProviderOutcome {
  known(ORDER_STATUS, order.status, provider);
  const status = ORDER_STATUS[order.status];
  const code: ErrorCode = order.side === 'sell' ? 'withdrawal_failed' : 'deposit_failed';
  return {
    providerRef: order.order_id,
    status,
    nextAction:
      status === 'pending' && order.deposit_address
        ? {
            type: 'crypto_address',
            address: order.deposit_address,
            network: networkOf(order.asset, order.network),
            amount: order.crypto_amount,
          }
        : null,
    ...(status === 'failed'
      ? {
          failure: {
            code,
            details: {
              provider_status: order.status,
              provider_reason: order.failure_reason ?? (order.status === 'expired' ? 'nothing_received' : null),
            },
          },
        }
      : {}),
  };
}

/** What Rampart was doing when the ramp refused: the same code means different things. */
export type RampOperation = 'deposit' | 'withdrawal' | 'buy' | 'sell' | 'fetch';

export interface RejectionContext {
  provider: string;
  operation: RampOperation;
  /** Stands in for the provider's id when it refused before creating anything. */
  providerRef: string;
  currency: string;
  network: string | null;
  address?: string | null;
  amount?: string;
}

/**
 * Every code the ramp documents. `outcome` codes are the ramp declining the payment
 * (a failed payment); every other code is a Rampart error. The `5xxxx` codes never get
 * here — `callProvider` turns 5xx answers into `upstream_error` first — and are listed
 * so the table is complete.
 */
export const RAMP_CODES = {
  40001: 'invalid_parameter',
  40002: 'invalid_address',
  40003: 'unsupported_asset',
  40004: 'quote_expired',
  40005: 'amount_out_of_range',
  40006: 'malformed_body',
  40101: 'unauthorized',
  40401: 'not_found',
  40402: 'route_not_found',
  40901: 'idempotency_conflict',
  40902: 'idempotency_in_progress',
  40903: 'address_already_watched',
  40904: 'quote_already_used',
  40905: 'invalid_state',
  42201: 'insufficient_balance',
  42202: 'insufficient_liquidity',
  50001: 'internal',
  50301: 'unavailable',
} as const;

export type RampCode = keyof typeof RAMP_CODES;

const AMOUNT_FIELDS = ['amount', 'expected_amount', 'fiat_amount', 'crypto_amount'];
const ADDRESS_FIELDS = ['address', 'destination_address'];

/** A fault on Rampart's side (a bug or a misconfiguration): logged with its cause, never shown. */
function ours(context: RejectionContext, code: number, message: string): RampartError {
  return new RampartError(
    'internal_error',
    {},
    { cause: new Error(`${context.provider} refused a ${context.operation} request: ${code} ${message}`) },
  );
}

/**
 * Maps a refusal (`success: false`, status < 500) onto a failed outcome or a catalog
 * error. "Outcome unknown" codes (the provider holds an earlier request under this
 * idempotency key that we cannot see) are `upstream_timeout`: like a timeout, they keep
 * the payment open for reconciliation rather than fail it while money may be moving.
 */
export function rejection(
  envelope: RampEnvelope<{ field?: string } | null>,
  context: RejectionContext,
): ProviderOutcome {
  const code = envelope.code;
  const field = envelope.data?.field ?? null;
  const { provider } = context;
  if (!Object.hasOwn(RAMP_CODES, code)) {
    throw new RampartError('upstream_invalid_response', { provider, provider_code: String(code) });
  }
  const kind = RAMP_CODES[code as RampCode];
  const failed = (errorCode: ErrorCode): ProviderOutcome => ({
    providerRef: context.providerRef,
    status: 'failed',
    failure: { code: errorCode, details: { provider_code: String(code), provider_reason: kind } },
  });
  switch (kind) {
    case 'invalid_parameter':
      if (field && AMOUNT_FIELDS.includes(field))
        throw new RampartError('invalid_amount', {
          field: 'amount',
          provided: context.amount ?? null,
          expected: envelope.message,
        });
      if (field && ADDRESS_FIELDS.includes(field) && context.operation === 'withdrawal')
        throw new RampartError('invalid_value', {
          field: 'instrument.address',
          provided: context.address ?? null,
          expected: envelope.message,
        });
      throw ours(context, code, envelope.message);
    case 'invalid_address':
      // Deposit and buy addresses are derived by Rampart: the ramp refusing one is our bug.
      if (context.operation !== 'withdrawal') throw ours(context, code, envelope.message);
      throw new RampartError('invalid_value', {
        field: 'instrument.address',
        provided: context.address ?? null,
        expected: envelope.message,
      });
    case 'unsupported_asset':
      throw new RampartError('wallet_not_supported', {
        currency: context.currency,
        network: context.network ?? 'none',
      });
    case 'quote_expired':
      // The quote lapsed before the order: nothing moved, another try may work.
      throw new RampartError('provider_error', { provider, provider_code: String(code) });
    case 'amount_out_of_range':
      throw new RampartError('invalid_amount', {
        field: 'amount',
        provided: context.amount ?? null,
        expected: `an amount the provider accepts: ${envelope.message}`,
      });
    case 'address_already_watched':
      // The user's address is still waiting for an earlier deposit, which may yet arrive.
      throw new RampartError('deposit_not_completed', { provider, provider_code: String(code) });
    case 'idempotency_conflict':
    case 'idempotency_in_progress':
    case 'quote_already_used':
      throw new RampartError('upstream_timeout', { provider, provider_code: String(code), reason: kind });
    case 'insufficient_balance':
      return failed('withdrawal_failed');
    case 'insufficient_liquidity':
      return failed(context.operation === 'sell' ? 'withdrawal_failed' : 'deposit_failed');
    case 'not_found':
      if (context.operation === 'fetch')
        throw new RampartError('upstream_error', { provider, provider_code: String(code) });
      throw ours(context, code, envelope.message);
    case 'malformed_body':
    case 'unauthorized':
    case 'route_not_found':
    case 'invalid_state':
      throw ours(context, code, envelope.message);
    case 'internal':
    case 'unavailable':
      throw new RampartError('upstream_error', { provider, provider_code: String(code) });
  }
}

/**
 * An amount in Rampart's minor units as the ramp's decimal string. Where the ramp has
 * fewer decimals than Rampart books, an amount it cannot represent exactly is refused
 * rather than rounded: rounding money silently is a wrong amount.
 */
export function toRampAmount(minor: bigint, exponent: number, decimals: number, currency: string): string {
  let units = minor;
  if (decimals >= exponent) units = minor * 10n ** BigInt(decimals - exponent);
  else {
    const step = 10n ** BigInt(exponent - decimals);
    if (minor % step !== 0n) {
      throw new RampartError('invalid_amount', {
        field: 'amount',
        provided: minor.toString(),
        expected: `an amount of ${currency} with at most ${decimals} decimals on this network`,
      });
    }
    units = minor / step;
  }
  if (decimals === 0) return units.toString();
  const digits = units.toString().padStart(decimals + 1, '0');
  return `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}

/** A ramp decimal string as minor units with `decimals` places; undefined if it is not one. */
export function parseRampAmount(value: unknown, decimals: number): bigint | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,30})(?:\.(\d{1,30}))?$/.exec(value);
  if (!match) return undefined;
  const fraction = match[2] ?? '';
  if (fraction.length > decimals) return undefined;
  return BigInt(match[1]! + fraction.padEnd(decimals, '0'));
}
