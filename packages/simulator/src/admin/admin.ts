import type { SimulatedClock } from '../clock.ts';
import type { FaultBook } from '../faults/fault-book.ts';
import type { FaultKind, FaultRule, Phase } from '../faults/rules.ts';
import type { RequestFilter, RequestLog, RequestLogEntry } from '../http/request-log.ts';
import type { Provider } from '../providers.ts';
import type { Timeline } from '../timeline.ts';
import type { DeliveryRecord, WebhookOutbox } from '../webhooks/outbox.ts';

/** A fault rule as the admin API takes it (README, "Fault injection"). */
export interface FaultRuleInput {
  provider: Provider;
  kind: FaultKind;
  count?: number;
  probability?: number;
  phase?: Phase;
  method?: string;
  path?: string;
  ms?: number;
  hold_ms?: number;
  status?: number;
  body?: 'html' | 'truncated_json';
  duration_ms?: number;
  mode?: 'reset' | '503';
  batch?: number;
}

/** The admin API in-process: the same operations `/admin/*` serves over HTTP. */
export interface SimulatorAdmin {
  /** Forgets every payment, applicant, fault, log, webhook and the clock offset; keeps targets and secrets. */
  reset(): void;
  now(): Date;
  /** Time travel: moves the simulated clock and runs everything that fell due, in order. */
  advanceClock(seconds: number): Date;
  addFault(rule: FaultRuleInput): FaultRule;
  removeFault(id: string): boolean;
  clearFaults(provider?: Provider): void;
  faults(): FaultRule[];
  requests(filter?: RequestFilter): RequestLogEntry[];
  webhooks(filter?: { provider?: Provider; event_id?: string }): DeliveryRecord[];
  /** Sends webhooks held by `reorder_webhooks` now, newest first. */
  flushWebhooks(provider?: Provider): void;
  /** True when no webhook is held, queued, in flight or waiting for a retry. */
  webhooksIdle(): boolean;
  setWebhookTarget(provider: Provider, url: string | null): void;
  webhookTargets(): Partial<Record<Provider, string>>;
}

export function createAdmin(deps: {
  clock: SimulatedClock;
  timeline: Timeline;
  faults: FaultBook;
  log: RequestLog;
  outbox: WebhookOutbox;
  targets: Map<Provider, string>;
  resetState: () => void;
}): SimulatorAdmin {
  const { clock, timeline, faults, log, outbox, targets } = deps;
  return {
    reset() {
      timeline.clear();
      faults.clear();
      log.clear();
      outbox.reset();
      clock.reset();
      deps.resetState();
    },
    now: () => clock.now(),
    advanceClock(seconds) {
      if (!Number.isFinite(seconds) || seconds < 0 || seconds > 10 * 365 * 86_400) {
        throw new RangeError('seconds must be a number from 0 to 315360000');
      }
      clock.advance(seconds * 1000);
      timeline.runDue();
      return clock.now();
    },
    addFault: (rule) => faults.add(rule),
    removeFault: (id) => faults.remove(id),
    clearFaults: (provider) => faults.clear(provider),
    faults: () => faults.list(),
    requests: (filter) => log.list(filter),
    webhooks: (filter) => outbox.list(filter),
    flushWebhooks: (provider) => outbox.flush(provider),
    webhooksIdle: () => outbox.idle(),
    setWebhookTarget(provider, url) {
      if (url === null) targets.delete(provider);
      else {
        if (!URL.canParse(url)) throw new RangeError(`not a URL: ${url}`);
        targets.set(provider, url);
      }
    },
    webhookTargets: () => Object.fromEntries(targets),
  };
}
