import type { Clock, ProviderOutcome } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import { CircuitBreaker } from './circuit-breaker.ts';
import { callProvider, type ProviderAnswer, type ProviderCall } from './http.ts';

/** What every connector is configured with. */
export interface ConnectorOptions {
  /** Base URL of the provider's API; a function so it can be known after start-up. */
  baseUrl: () => string;
  apiKey: string;
  webhookSecret: string;
  /** Per call; a payment call that outlives it has an unknown outcome. */
  timeoutMs?: number;
  clock: Clock;
  breaker?: CircuitBreaker;
}

/** The plumbing connectors share: calls with upstream-fault mapping and a circuit breaker. */
export abstract class HttpConnector {
  readonly id: string;
  protected readonly options: ConnectorOptions;
  readonly breaker: CircuitBreaker;

  constructor(id: string, options: ConnectorOptions) {
    this.id = id;
    this.options = options;
    this.breaker = options.breaker ?? new CircuitBreaker();
  }

  protected call(call: Omit<ProviderCall, 'url' | 'timeoutMs'> & { path: string }): Promise<ProviderAnswer> {
    const { path, ...rest } = call;
    return callProvider(this.id, this.breaker, {
      ...rest,
      url: `${this.options.baseUrl().replace(/\/$/, '')}${path}`,
      timeoutMs: this.options.timeoutMs ?? 10_000,
    });
  }

  /**
   * Asks the provider to cancel (POST `path`), then reads its view with `read`: the
   * payment cancelled if it could be, or what it has become if the provider refused (it
   * was already paid, say). A provider fault is an upstream error: nothing is known to
   * have changed.
   */
  protected async cancelThenRead(
    path: string,
    headers: Record<string, string>,
    read: () => Promise<ProviderOutcome>,
  ): Promise<ProviderOutcome> {
    const answer = await this.call({ method: 'POST', path, headers });
    if (answer.status >= 500) throw new RampartError('upstream_error', { provider: this.id, status: answer.status });
    return read();
  }

  protected nowSeconds(): number {
    return Math.floor(Date.now() / 1000);
  }
}
