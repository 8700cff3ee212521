import { COMMON_STATUS, type CommonError, type Dialect, ProviderError } from '../http/dialect.ts';
import type { Fields } from '../http/fields.ts';
import { magicCentsOfDecimal, parseDecimal } from '../money.ts';

/**
 * Pay-by-bank wire format: snake_case, amounts as decimal strings, UPPER_CASE
 * statuses, errors as `{ error_code, error_message, parameter, trace_id }`.
 */
const CODES: Record<CommonError, string> = {
  unauthorized: 'UNAUTHORIZED',
  not_found: 'NOT_FOUND',
  route_not_found: 'ROUTE_NOT_FOUND',
  invalid_parameter: 'INVALID_PARAMETER',
  malformed_body: 'MALFORMED_REQUEST',
  idempotency_conflict: 'IDEMPOTENCY_CONFLICT',
  idempotency_in_progress: 'IDEMPOTENCY_IN_PROGRESS',
  invalid_state: 'INVALID_STATE',
  internal: 'INTERNAL_ERROR',
  unavailable: 'SERVICE_UNAVAILABLE',
};

let traces = 0;

export function bankError(status: number, code: string, message: string, parameter?: string): ProviderError {
  const traceId = `trc_${Date.now().toString(36)}${(++traces).toString(36)}`;
  return new ProviderError({
    status,
    body: { error_code: code, error_message: message, parameter: parameter ?? null, trace_id: traceId },
  });
}

export const bankDialect: Dialect = {
  provider: 'bank',
  prefix: '/bank',
  apiKeyHeader: 'x-bank-api-key',
  apiKeyOf: (value) => value,
  idempotencyHeader: 'x-idempotency-key',
  error(kind, message, options = {}) {
    const error = bankError(options.status ?? COMMON_STATUS[kind], CODES[kind], message, options.field);
    if (kind === 'unavailable') error.answer.headers = { 'retry-after': '1' };
    return error;
  },
};

export const invalidBankField = (field: string, message: string) =>
  bankDialect.error('invalid_parameter', message, { field });

const MAX_AMOUNT = 1_000_000_00n;

/** An `amount` field as the bank takes it (payments, payouts, refunds), with its magic cents. */
export function amountOf(fields: Fields): { amount: string; minor: bigint; magic: number } {
  const amount = fields.string('amount', { max: 20 });
  const minor = parseDecimal(amount, 2);
  if (minor === undefined || minor > MAX_AMOUNT) {
    throw fields.fail('amount', 'amount must be a decimal string with at most 2 decimals, from 0.01 to 1000000.00');
  }
  return { amount, minor, magic: magicCentsOfDecimal(amount) };
}
