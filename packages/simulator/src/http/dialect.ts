import type { Provider } from '../providers.ts';

/** Errors every provider can answer; each provider renders them in its own wire format. */
export type CommonError =
  | 'unauthorized'
  | 'not_found'
  | 'route_not_found'
  | 'invalid_parameter'
  | 'malformed_body'
  | 'idempotency_conflict'
  | 'idempotency_in_progress'
  | 'invalid_state'
  | 'internal'
  | 'unavailable';

/** An answer in a provider's own format: what handlers return or throw. */
export interface ProviderAnswer {
  status: number;
  /** JSON value, or a string sent as-is (HTML pages, scripts). */
  body: unknown;
  headers?: Record<string, string>;
}

/** Thrown by handlers to answer with a provider error; `answer` is already in wire format. */
export class ProviderError extends Error {
  readonly answer: ProviderAnswer;

  constructor(answer: ProviderAnswer) {
    super(`provider answered ${answer.status}`);
    this.answer = answer;
  }
}

/** How one provider speaks: where it lives, which headers it reads, how its errors look. */
export interface Dialect {
  provider: Provider;
  prefix: string;
  /** Lower-case header name carrying the API key. */
  apiKeyHeader: string;
  /** How the key is read from the header, e.g. stripping `Bearer `. */
  apiKeyOf(headerValue: string): string;
  /** Lower-case header name carrying the idempotency key. */
  idempotencyHeader: string;
  error(kind: CommonError, message: string, options?: { field?: string; status?: number }): ProviderError;
}

export const COMMON_STATUS: Record<CommonError, number> = {
  unauthorized: 401,
  not_found: 404,
  route_not_found: 404,
  invalid_parameter: 400,
  malformed_body: 400,
  idempotency_conflict: 409,
  idempotency_in_progress: 409,
  invalid_state: 409,
  internal: 500,
  unavailable: 503,
};
