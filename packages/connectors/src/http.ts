import { RampartError } from '@rampart/errors';
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
 * - a body that is not JSON            → `upstream_invalid_response`
 * 2xx and 4xx answers are returned for the connector to map.
 */
export async function callProvider(
  provider: string,
  breaker: CircuitBreaker,
  call: ProviderCall,
): Promise<ProviderAnswer> {
  if (!breaker.allow()) throw new RampartError('upstream_unavailable', { provider, reason: 'circuit_open' });
  let response: Response;
  let text: string;
  try {
    response = await fetch(call.url, {
      method: call.method,
      headers: {
        accept: 'application/json',
        ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...call.headers,
      },
      ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}),
      redirect: 'error',
      signal: AbortSignal.timeout(call.timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    breaker.failure();
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new RampartError('upstream_timeout', { provider, timeout_ms: call.timeoutMs }, { cause: error });
    }
    throw new RampartError('upstream_unavailable', { provider, reason: 'connection_failed' }, { cause: error });
  }
  if (response.status >= 500) {
    breaker.failure();
    throw new RampartError('upstream_error', { provider, status: response.status });
  }
  let body: unknown;
  try {
    body = text.length === 0 ? null : JSON.parse(text);
  } catch (error) {
    breaker.failure();
    throw new RampartError('upstream_invalid_response', { provider, status: response.status }, { cause: error });
  }
  if (typeof body !== 'object' || body === null) {
    breaker.failure();
    throw new RampartError('upstream_invalid_response', { provider, status: response.status });
  }
  breaker.success();
  return { status: response.status, body };
}
