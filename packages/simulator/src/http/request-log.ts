import type { IncomingMessage } from 'node:http';
import type { Provider } from '../providers.ts';

/** One provider request as the simulator received it (served by `GET /admin/requests`). */
export interface RequestLogEntry {
  seq: number;
  at: string;
  provider: Provider;
  method: string;
  path: string;
  idempotency_key: string | null;
  /** The answer came from the idempotency store: no work was done. */
  replayed: boolean;
  /** Id of the resource this request created (charge, payout, applicant …), if any. */
  created_id: string | null;
  /** Fault kinds applied to this request. */
  faults: string[];
  /** HTTP status sent; null when the connection was reset or held until the client left. */
  status: number | null;
}

const MAX_ENTRIES = 10_000;

export interface RequestFilter {
  provider?: Provider | undefined;
  idempotency_key?: string | undefined;
}

/** A bounded log of provider requests, so tests can prove a retry charged once. */
export class RequestLog {
  #entries: RequestLogEntry[] = [];
  #byRequest = new WeakMap<IncomingMessage, RequestLogEntry>();
  #seq = 0;

  open(raw: IncomingMessage, provider: Provider, at: string): RequestLogEntry {
    const entry: RequestLogEntry = {
      seq: ++this.#seq,
      at,
      provider,
      method: raw.method ?? 'GET',
      path: raw.url ?? '/',
      idempotency_key: null,
      replayed: false,
      created_id: null,
      faults: [],
      status: null,
    };
    this.#entries.push(entry);
    if (this.#entries.length > MAX_ENTRIES) this.#entries.shift();
    this.#byRequest.set(raw, entry);
    return entry;
  }

  of(raw: IncomingMessage): RequestLogEntry | undefined {
    return this.#byRequest.get(raw);
  }

  list(filter: RequestFilter = {}): RequestLogEntry[] {
    return this.#entries.filter(
      (e) =>
        (!filter.provider || e.provider === filter.provider) &&
        (!filter.idempotency_key || e.idempotency_key === filter.idempotency_key),
    );
  }

  clear(): void {
    this.#entries = [];
  }
}
