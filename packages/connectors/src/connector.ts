import type { Clock } from '@rampart/core';
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

  protected nowSeconds(): number {
    return Math.floor(Date.now() / 1000);
  }
}
