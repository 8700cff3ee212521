import type { Provider } from '../providers.ts';
import { type FaultRule, MAX_HOLD_MS, parseFaultRule, REQUEST_FAULTS } from './rules.ts';

/** What happens to one request, decided once when it arrives. */
export interface RequestPlan {
  /** Delay before the provider sees the request. */
  latencyMs: number;
  /** Delay after the work, before the answer: the idempotency key stays "in progress" meanwhile. */
  latencyAfterWorkMs: number;
  /** An outage swallows the request whatever else is configured. */
  outage?: { mode: 'reset' | '503'; retryAfterSeconds: number };
  /** The one breaking fault (timeout, error, garbage, reset) and when it strikes. */
  breaking?: FaultRule;
  kinds: string[];
}

export interface WebhookPlan {
  duplicate: boolean;
  reorder?: { batch: number; holdMs: number };
}

const MAX_RULES = 1000;

/** The active fault rules; each request and each webhook event consults it once. */
export class FaultBook {
  #rules: FaultRule[] = [];
  readonly #random: () => number;
  readonly #nowMs: () => number;
  readonly #newId: () => string;

  constructor(options: { random: () => number; nowMs: () => number; newId: () => string }) {
    this.#random = options.random;
    this.#nowMs = options.nowMs;
    this.#newId = options.newId;
  }

  add(input: unknown): FaultRule {
    if (this.#rules.length >= MAX_RULES) throw new Error(`at most ${MAX_RULES} fault rules`);
    const rule = parseFaultRule(input, this.#newId(), this.#nowMs());
    this.#rules.push(rule);
    return rule;
  }

  list(): FaultRule[] {
    this.#dropExpired();
    return this.#rules.map((rule) => ({ ...rule }));
  }

  remove(id: string): boolean {
    const before = this.#rules.length;
    this.#rules = this.#rules.filter((rule) => rule.id !== id);
    return this.#rules.length < before;
  }

  clear(provider?: Provider): void {
    this.#rules = provider ? this.#rules.filter((rule) => rule.provider !== provider) : [];
  }

  planRequest(provider: Provider, method: string, path: string): RequestPlan {
    this.#dropExpired();
    const plan: RequestPlan = { latencyMs: 0, latencyAfterWorkMs: 0, kinds: [] };
    const requestFault = (rule: FaultRule) =>
      rule.provider === provider &&
      (REQUEST_FAULTS as readonly string[]).includes(rule.kind) &&
      (!rule.method || rule.method === method) &&
      (!rule.path || path.startsWith(rule.path));
    const rules = this.#rules.filter(requestFault);
    const outage = rules.find((rule) => rule.kind === 'outage');
    if (outage) {
      const left = Date.parse(outage.until!) - this.#nowMs();
      plan.outage = { mode: outage.mode!, retryAfterSeconds: Math.max(1, Math.ceil(left / 1000)) };
      plan.kinds.push('outage');
      return plan;
    }
    for (const rule of rules) {
      if (rule.kind === 'latency') {
        if (!this.#strikes(rule)) continue;
        if (rule.phase === 'after') plan.latencyAfterWorkMs = Math.min(MAX_HOLD_MS, plan.latencyAfterWorkMs + rule.ms!);
        else plan.latencyMs = Math.min(MAX_HOLD_MS, plan.latencyMs + rule.ms!);
        plan.kinds.push('latency');
      } else if (!plan.breaking && this.#strikes(rule)) {
        plan.breaking = rule;
        plan.kinds.push(rule.kind);
      }
    }
    return plan;
  }

  planWebhook(provider: Provider): WebhookPlan {
    const plan: WebhookPlan = { duplicate: false };
    for (const rule of this.#rules.filter((r) => r.provider === provider)) {
      if (rule.kind === 'duplicate_webhooks' && !plan.duplicate && this.#strikes(rule)) plan.duplicate = true;
      if (rule.kind === 'reorder_webhooks' && !plan.reorder && this.#strikes(rule)) {
        plan.reorder = { batch: rule.batch!, holdMs: rule.hold_ms! };
      }
    }
    return plan;
  }

  /** Rolls the rule's probability and spends one of its count; spent rules disappear. */
  #strikes(rule: FaultRule): boolean {
    if (rule.probability < 1 && this.#random() >= rule.probability) return false;
    if (rule.remaining !== null) {
      rule.remaining -= 1;
      if (rule.remaining <= 0) this.remove(rule.id);
    }
    return true;
  }

  #dropExpired(): void {
    const now = this.#nowMs();
    this.#rules = this.#rules.filter((rule) => rule.kind !== 'outage' || Date.parse(rule.until!) > now);
  }
}
