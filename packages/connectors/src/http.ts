import { RampartError } from '@rampart/errors';
import { request } from 'undici';
import type { CircuitBreaker } from './circuit-breaker.ts';

export interface ProviderCall {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
}

export interface ProviderAnswer {
  status: number;
  body: unknown;
}

/**
 * One HTTP call to a provider, with every way it can go wrong mapped to a distinct,
 * retryable catalog error — the internal detail (status, cause) goes to `details` for
 * logs, the provider's own words never reach a client:
 * - no connection, reset, circuit open → `upstream_unavailable`
 * - no answer within the timeout       → `upstream_timeout` (outcome unknown!)
 * - a 5xx answer                       → `upstream_error`
 * - a body that is not JSON, a redirect → `upstream_invalid_response`
 * 2xx and 4xx answers are returned for the connector to map.
 */
export async function callProvider(
  provider: string,
  breaker: CircuitBreaker,
  call: ProviderCall,
): Promise<ProviderAnswer> {
  if (!breaker.allow()) throw new RampartError('upstream_unavailable', { provider, reason: 'circuit_open' });
  let status: number;
  let text: string;
  try {
    // undici's request, not fetch: a provider call is on every payment's path, and
    // fetch's web streams cost several times its CPU per call.
    const response = await request(call.url, {
      method: call.method,
      headers: {
        accept: 'application/json',
        ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...call.headers,
      },
      ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}),
      signal: AbortSignal.timeout(call.timeoutMs),
    });
    status = response.statusCode;
    text = await response.body.text();
  } catch (error) {
    breaker.failure();
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new RampartError('upstream_timeout', { provider, timeout_ms: call.timeoutMs }, { cause: error });
    }
    const code = (error as { code?: string }).code ?? '';
    // Refused, or no such host: the call never left (see NEVER_SENT). Anything else may have arrived.
    const reason = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)
      ? 'connection_refused'
      : 'connection_failed';
    throw new RampartError('upstream_unavailable', { provider, reason }, { cause: error });
  }
  if (status >= 500) {
    breaker.failure();
    throw new RampartError('upstream_error', { provider, status });
  }
  let body: unknown;
  try {
    body = text.length === 0 ? null : JSON.parse(text);
  } catch (error) {
    breaker.failure();
    throw new RampartError('upstream_invalid_response', { provider, status }, { cause: error });
  }
  // A redirect is not an answer (redirects are never followed: an API call has nowhere else to go).
  if (typeof body !== 'object' || body === null || (status >= 300 && status < 400)) {
    breaker.failure();
    throw new RampartError('upstream_invalid_response', { provider, status });
  }
  breaker.success();
  return { status, body };
}
