import { COMMON_STATUS, type CommonError, type Dialect, ProviderError } from '../http/dialect.ts';

/**
 * KYC wire format: camelCase fields, errors as `{ code (HTTP status), errorName,
 * description, correlationId, field }`.
 */
const NAMES: Record<CommonError, string> = {
  unauthorized: 'unauthorized',
  not_found: 'not_found',
  route_not_found: 'route_not_found',
  invalid_parameter: 'validation_error',
  malformed_body: 'malformed_request',
  idempotency_conflict: 'idempotency_conflict',
  idempotency_in_progress: 'idempotency_in_progress',
  invalid_state: 'invalid_state',
  internal: 'internal_error',
  unavailable: 'service_unavailable',
};

let correlations = 0;

export function kycError(status: number, errorName: string, description: string, field?: string): ProviderError {
  const correlationId = `corr-${Date.now().toString(36)}-${(++correlations).toString(36)}`;
  return new ProviderError({
    status,
    body: { code: status, errorName, description, correlationId, field: field ?? null },
  });
}

export const kycDialect: Dialect = {
  provider: 'kyc',
  prefix: '/kyc',
  apiKeyHeader: 'x-app-token',
  apiKeyOf: (value) => value,
  idempotencyHeader: 'x-idempotency-token',
  error(kind, message, options = {}) {
    const error = kycError(options.status ?? COMMON_STATUS[kind], NAMES[kind], message, options.field);
    if (kind === 'unavailable') error.answer.headers = { 'retry-after': '1' };
    return error;
  },
};

export const invalidKycField = (field: string, message: string) =>
  kycDialect.error('invalid_parameter', message, { field });
