import { request } from 'undici';
import type { FaultBook } from '../faults/fault-book.ts';
import type { Provider } from '../providers.ts';
import { SIGNATURE_HEADER, signatureHeader } from './signature.ts';

export interface DeliveryAttempt {
  at: string;
  /** HTTP status the receiver answered; null when it could not be reached or timed out. */
  status: number | null;
  error: string | null;
}

/** An event a provider emits; `subject` is the id of the object (payment, payout, applicant…) it is about. */
export interface ProviderEvent {
  id: string;
  subject: string;
  type: string;
  payload: unknown;
}

export type DeliveryState = 'held' | 'queued' | 'delivering' | 'retrying' | 'delivered' | 'failed' | 'no_target';

/** One delivery of one event (a duplicated event has two). Served by `GET /admin/webhooks`. */
export interface DeliveryRecord {
  delivery_id: string;
  event_id: string;
  provider: Provider;
  type: string;
  url: string | null;
  state: DeliveryState;
  /** 1, or 2 for the second copy of a duplicated event. */
  copy: number;
  attempts: DeliveryAttempt[];
  created_at: string;
  payload: unknown;
  /** The id of the object the event is about: its deliveries are a lane of their own. */
  subject: string;
  /** The exact bytes sent (and signed). */
  body: string;
}

export interface OutboxOptions {
  secrets: Record<Provider, string>;
  targets: Map<Provider, string>;
  /** Delay before each retry; attempts = length + 1. */
  retryDelaysMs: readonly number[];
  attemptTimeoutMs: number;
  faults: FaultBook;
  wallMs: () => number;
  simulatedIso: () => string;
  newId: () => string;
  onError: (error: unknown) => void;
}

const MAX_RECORDS = 10_000;
/** Deliveries in flight at once, across lanes: a processor does not open a connection per event. */
const MAX_IN_FLIGHT = 32;

interface Held {
  records: DeliveryRecord[];
  timer: NodeJS.Timeout;
}

/**
 * Sends provider events to Rampart: signed, failed ones retried on a bounded schedule.
 * First attempts go out in emission order per object (a payment's `processing` before
 * its `succeeded`), and events about different objects go out side by side, as a real
 * processor's do: one lane per provider would hold every payment's webhook behind the
 * one before it, and under load they would fall ever further behind. Fault rules can
 * make it send an event twice or hold a batch and send it newest first.
 */
export class WebhookOutbox {
  readonly #options: OutboxOptions;
  #records: DeliveryRecord[] = [];
  /** The last delivery queued per `provider subject`, removed once it is done. */
  #lanes = new Map<string, Promise<void>>();
  #held = new Map<Provider, Held>();
  #timers = new Set<NodeJS.Timeout>();
  #closing = new AbortController();
  #inFlight = 0;
  #waitingForSlot: (() => void)[] = [];
  #generation = 0;

  constructor(options: OutboxOptions) {
    this.#options = options;
  }

  publish(provider: Provider, event: ProviderEvent): void {
    const plan = this.#options.faults.planWebhook(provider);
    const body = JSON.stringify(event.payload);
    const copies = plan.duplicate ? 2 : 1;
    for (let copy = 1; copy <= copies; copy++) {
      const record: DeliveryRecord = {
        delivery_id: this.#options.newId(),
        event_id: event.id,
        provider,
        type: event.type,
        url: this.#options.targets.get(provider) ?? null,
        state: 'queued',
        copy,
        attempts: [],
        created_at: this.#options.simulatedIso(),
        payload: event.payload,
        subject: event.subject,
        body,
      };
      this.#records.push(record);
      if (this.#records.length > MAX_RECORDS) this.#records.shift();
      if (plan.reorder) this.#hold(record, plan.reorder);
      else this.#enqueue(record);
    }
  }

  list(filter: { provider?: Provider | undefined; event_id?: string | undefined } = {}): DeliveryRecord[] {
    return this.#records.filter(
      (r) =>
        (!filter.provider || r.provider === filter.provider) && (!filter.event_id || r.event_id === filter.event_id),
    );
  }

  /** Sends held (reordered) events now, newest first. */
  flush(provider?: Provider): void {
    for (const held of [...this.#held.keys()]) if (!provider || held === provider) this.#release(held);
  }

  /** True when nothing is waiting to be sent or retried. */
  idle(): boolean {
    return this.#records.every((r) => !['held', 'queued', 'delivering', 'retrying'].includes(r.state));
  }

  /** Forgets everything; deliveries in flight finish but are not retried. */
  reset(): void {
    this.#generation++;
    for (const held of this.#held.values()) clearTimeout(held.timer);
    this.#held.clear();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#records = [];
    this.#lanes.clear();
  }

  close(): void {
    this.reset();
    this.#closing.abort();
  }

  #hold(record: DeliveryRecord, reorder: { batch: number; holdMs: number }): void {
    record.state = 'held';
    const provider = record.provider;
    let held = this.#held.get(provider);
    if (!held) {
      // Bounded: a batch that never fills is still sent after holdMs.
      const timer = setTimeout(() => this.#release(provider), reorder.holdMs);
      held = { records: [], timer };
      this.#held.set(provider, held);
    }
    held.records.push(record);
    if (held.records.length >= reorder.batch) this.#release(provider);
  }

  #release(provider: Provider): void {
    const held = this.#held.get(provider);
    if (!held) return;
    clearTimeout(held.timer);
    this.#held.delete(provider);
    for (const record of held.records.reverse()) {
      record.state = 'queued';
      this.#enqueue(record);
    }
  }

  #enqueue(record: DeliveryRecord): void {
    if (!record.url) {
      record.state = 'no_target';
      return;
    }
    const generation = this.#generation;
    // One lane per object: its events in order, other objects' alongside.
    const key = `${record.provider} ${record.subject}`;
    const lane = this.#lanes.get(key) ?? Promise.resolve();
    const next: Promise<void> = lane
      .then(() => (generation === this.#generation ? this.#attempt(record, generation) : undefined))
      .catch(this.#options.onError)
      .finally(() => {
        if (this.#lanes.get(key) === next) this.#lanes.delete(key);
      });
    this.#lanes.set(key, next);
  }

  /** One attempt, when a slot is free. */
  async #attempt(record: DeliveryRecord, generation: number): Promise<void> {
    // A finished delivery hands its slot straight to the next one waiting.
    if (this.#inFlight < MAX_IN_FLIGHT) this.#inFlight++;
    else await new Promise<void>((resolve) => this.#waitingForSlot.push(resolve));
    try {
      await this.#send(record, generation);
    } finally {
      const next = this.#waitingForSlot.shift();
      if (next) next();
      else this.#inFlight--;
    }
  }

  async #send(record: DeliveryRecord, generation: number): Promise<void> {
    const { secrets, attemptTimeoutMs, retryDelaysMs, wallMs } = this.#options;
    if (generation !== this.#generation) return;
    record.state = 'delivering';
    const wallNow = wallMs();
    const attempt: DeliveryAttempt = { at: new Date(wallNow).toISOString(), status: null, error: null };
    record.attempts.push(attempt);
    try {
      // undici's request: fetch's web streams would cost the simulator several times the CPU per webhook.
      const response = await request(record.url!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': `rampart-simulator/${record.provider}`,
          [SIGNATURE_HEADER]: signatureHeader(secrets[record.provider], Math.floor(wallNow / 1000), record.body),
        },
        body: record.body,
        signal: AbortSignal.any([AbortSignal.timeout(attemptTimeoutMs), this.#closing.signal]),
      });
      attempt.status = response.statusCode;
      await response.body.dump().catch(() => {});
    } catch (error) {
      attempt.error =
        error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    }
    if (generation !== this.#generation) return;
    if (attempt.status !== null && attempt.status >= 200 && attempt.status < 300) {
      record.state = 'delivered';
      return;
    }
    const delay = retryDelaysMs[record.attempts.length - 1];
    if (delay === undefined || this.#closing.signal.aborted) {
      record.state = 'failed';
      return;
    }
    record.state = 'retrying';
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#attempt(record, generation).catch(this.#options.onError);
    }, delay);
    this.#timers.add(timer);
  }
}
