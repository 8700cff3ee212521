import type { FastifyInstance } from 'fastify';
import type { SimulatedClock } from './clock.ts';
import type { EndpointKit } from './http/endpoint.ts';
import type { IdGenerator } from './ids.ts';
import type { Provider } from './providers.ts';
import type { Timeline } from './timeline.ts';
import type { ProviderEvent } from './webhooks/outbox.ts';

/** What every provider gets from the simulator: time, ids, links, webhooks, shared endpoint plumbing. */
export interface ProviderContext {
  clock: SimulatedClock;
  timeline: Timeline;
  newId: IdGenerator;
  kit: EndpointKit;
  /** Base URL of the simulator for links in answers (hosted pages). */
  publicUrl(): string;
  /** Time from acceptance to settlement / payout / review (simulated ms). */
  settleDelayMs: number;
  /** Time between two blocks on every simulated chain (simulated ms). */
  blockIntervalMs: number;
  /** Sends an event; `subject` is the id of the object it is about (its events go out in order). */
  publish(provider: Provider, event: ProviderEvent): void;
  /**
   * True the first time a request with this fingerprint is seen: the "provider error
   * once" magic fails the first try and lets the retry through.
   */
  firstSighting(fingerprint: string): boolean;
}

/** A provider: its routes, its admin routes, and a way to forget everything. */
export interface SimulatedProvider {
  provider: Provider;
  register(app: FastifyInstance): void;
  registerAdmin(app: FastifyInstance): void;
  reset(): void;
}
