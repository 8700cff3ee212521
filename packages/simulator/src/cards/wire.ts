import { COMMON_STATUS, type CommonError, type Dialect, ProviderError } from '../http/dialect.ts';

/**
 * Card and ACH processor wire format: snake_case, integer minor units, lower-case
 * currencies and statuses, errors as `{ error: { type, code, decline_code, message,
 * param, details } }`.
 */
const ERRORS: Record<CommonError, { type: string; code: string }> = {
  unauthorized: { type: 'authentication_error', code: 'api_key_missing' },
  not_found: { type: 'invalid_request_error', code: 'resource_missing' },
  route_not_found: { type: 'invalid_request_error', code: 'url_invalid' },
  invalid_parameter: { type: 'invalid_request_error', code: 'parameter_invalid' },
  malformed_body: { type: 'invalid_request_error', code: 'body_invalid' },
  idempotency_conflict: { type: 'idempotency_error', code: 'idempotency_key_reused' },
  idempotency_in_progress: { type: 'idempotency_error', code: 'idempotency_key_in_use' },
  invalid_state: { type: 'invalid_request_error', code: 'unexpected_state' },
  internal: { type: 'api_error', code: 'internal_error' },
  unavailable: { type: 'api_error', code: 'service_unavailable' },
};

/** 412 for an illegal state move, as the card/ACH seed answers. */
const STATUS_OVERRIDES: Partial<Record<CommonError, number>> = { invalid_state: 412 };

export function cardsError(
  status: number,
  error: {
    type: string;
    code: string;
    message: string;
    decline_code?: string | null;
    param?: string | null;
    details?: Record<string, unknown>;
    payment?: unknown;
    payout?: unknown;
  },
): ProviderError {
  const { type, code, message, decline_code = null, param = null, ...rest } = error;
  return new ProviderError({ status, body: { error: { type, code, decline_code, message, param, ...rest } } });
}

export const cardsDialect: Dialect = {
  provider: 'cards',
  prefix: '/cards',
  apiKeyHeader: 'authorization',
  apiKeyOf: (value) => (/^Bearer\s+\S+/i.test(value) ? value.replace(/^Bearer\s+/i, '') : ''),
  idempotencyHeader: 'idempotency-key',
  error(kind, message, options = {}) {
    const status = options.status ?? STATUS_OVERRIDES[kind] ?? COMMON_STATUS[kind];
    const error = cardsError(status, { ...ERRORS[kind], message, param: options.field ?? null });
    if (kind === 'unavailable') error.answer.headers = { 'retry-after': '1' };
    return error;
  },
};

export const invalidCardsField = (field: string, message: string) =>
  cardsDialect.error('invalid_parameter', message, { field });
