import { COMMON_STATUS, type CommonError, type Dialect, ProviderError } from '../http/dialect.ts';

/**
 * Crypto ramp wire format: every answer is an envelope `{ success, code, message,
 * data }` with a numeric `code` (0 on success), snake_case fields, amounts as
 * decimal strings in the asset's unit.
 */
const CODES: Record<CommonError, number> = {
  unauthorized: 40101,
  not_found: 40401,
  route_not_found: 40402,
  invalid_parameter: 40001,
  malformed_body: 40006,
  idempotency_conflict: 40901,
  idempotency_in_progress: 40902,
  invalid_state: 40905,
  internal: 50001,
  unavailable: 50301,
};

/** Ramp-specific errors, with their HTTP status and numeric code. */
export const RAMP_ERRORS = {
  invalid_address: { status: 400, code: 40002 },
  unsupported_asset: { status: 400, code: 40003 },
  quote_expired: { status: 400, code: 40004 },
  amount_out_of_range: { status: 400, code: 40005 },
  address_already_watched: { status: 409, code: 40903 },
  quote_already_used: { status: 409, code: 40904 },
  insufficient_balance: { status: 422, code: 42201 },
  insufficient_liquidity: { status: 422, code: 42202 },
} as const;

export function ok(status: number, data: unknown) {
  return { status, body: { success: true, code: 0, message: 'ok', data } };
}

export function rampError(kind: keyof typeof RAMP_ERRORS, message: string, field?: string): ProviderError {
  const { status, code } = RAMP_ERRORS[kind];
  return new ProviderError({ status, body: { success: false, code, message, data: field ? { field } : null } });
}

export const cryptoDialect: Dialect = {
  provider: 'crypto',
  prefix: '/crypto',
  apiKeyHeader: 'x-ramp-key',
  apiKeyOf: (value) => value,
  idempotencyHeader: 'x-ramp-idempotency-key',
  error(kind, message, options = {}) {
    return new ProviderError({
      status: options.status ?? COMMON_STATUS[kind],
      body: { success: false, code: CODES[kind], message, data: options.field ? { field: options.field } : null },
      ...(kind === 'unavailable' ? { headers: { 'retry-after': '1' } } : {}),
    });
  },
};

export const invalidCryptoField = (field: string, message: string) =>
  cryptoDialect.error('invalid_parameter', message, { field });
