import { isProvider, type Provider } from '../providers.ts';

/** Faults on a provider's HTTP answers. */
export const REQUEST_FAULTS = ['latency', 'timeout', 'error', 'garbage', 'reset', 'outage'] as const;
/** Faults on a provider's webhook deliveries. */
export const WEBHOOK_FAULTS = ['duplicate_webhooks', 'reorder_webhooks'] as const;
export type FaultKind = (typeof REQUEST_FAULTS)[number] | (typeof WEBHOOK_FAULTS)[number];

/** Before: the provider never did the work. After: it did (money moved), then the answer broke. */
export type Phase = 'before' | 'after';

/** The longest anything is held: a timeout or latency never outlives this. */
export const MAX_HOLD_MS = 60_000;

export interface FaultRule {
  id: string;
  provider: Provider;
  kind: FaultKind;
  /** Only requests with this method (upper case); null: any. */
  method: string | null;
  /** Only requests whose path starts with this; null: any. */
  path: string | null;
  /** Requests (or webhook events) still to affect; null: until removed. */
  remaining: number | null;
  probability: number;
  phase: Phase;
  /** latency: added delay. */
  ms?: number;
  /** timeout: how long the connection is held before it is dropped; reorder_webhooks: longest hold. */
  hold_ms?: number;
  /** error: the 5xx status. */
  status?: number;
  /** garbage: what the unparseable body looks like. */
  body?: 'html' | 'truncated_json';
  /** outage: how requests fail and until when (simulated clock, ISO). */
  mode?: 'reset' | '503';
  until?: string;
  /** reorder_webhooks: how many events are held before they go out in reverse order. */
  batch?: number;
}

export class FaultInputError extends Error {}

function optionalInt(input: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new FaultInputError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function oneOf<T extends string>(input: Record<string, unknown>, name: string, allowed: readonly T[], fallback: T): T {
  const value = input[name] ?? fallback;
  if (!(allowed as readonly unknown[]).includes(value)) {
    throw new FaultInputError(`${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/** Validates an admin request body into a rule (see README, "Fault injection"). */
export function parseFaultRule(input: unknown, id: string, nowMs: number): FaultRule {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw new FaultInputError('body must be an object');
  const body = input as Record<string, unknown>;
  if (!isProvider(body['provider'])) throw new FaultInputError('provider must be one of bank, cards, crypto, kyc');
  const kind = oneOf<FaultKind>(body, 'kind', [...REQUEST_FAULTS, ...WEBHOOK_FAULTS], 'error');
  if (body['kind'] === undefined) throw new FaultInputError('kind is required');
  const probability = body['probability'] ?? 1;
  if (typeof probability !== 'number' || !(probability > 0 && probability <= 1)) {
    throw new FaultInputError('probability must be a number in (0, 1]');
  }
  const method = body['method'];
  if (method !== undefined && (typeof method !== 'string' || !/^[A-Za-z]{3,7}$/.test(method))) {
    throw new FaultInputError('method must be an HTTP method');
  }
  const path = body['path'];
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) {
    throw new FaultInputError('path must start with /');
  }
  const rule: FaultRule = {
    id,
    provider: body['provider'],
    kind,
    method: typeof method === 'string' ? method.toUpperCase() : null,
    path: typeof path === 'string' ? path : null,
    remaining: optionalInt(body, 'count', 1, 1_000_000) ?? null,
    probability,
    phase: oneOf<Phase>(body, 'phase', ['before', 'after'], 'before'),
  };
  switch (kind) {
    case 'latency':
      rule.ms = optionalInt(body, 'ms', 1, MAX_HOLD_MS) ?? 500;
      break;
    case 'timeout':
      rule.hold_ms = optionalInt(body, 'hold_ms', 1, MAX_HOLD_MS) ?? MAX_HOLD_MS;
      break;
    case 'error':
      rule.status = optionalInt(body, 'status', 500, 599) ?? 500;
      break;
    case 'garbage':
      rule.body = oneOf(body, 'body', ['html', 'truncated_json'] as const, 'truncated_json');
      break;
    case 'reset':
      break;
    case 'outage': {
      const duration = optionalInt(body, 'duration_ms', 1, 24 * 3600 * 1000);
      if (duration === undefined) throw new FaultInputError('duration_ms is required for an outage');
      rule.mode = oneOf(body, 'mode', ['reset', '503'] as const, '503');
      rule.until = new Date(nowMs + duration).toISOString();
      break;
    }
    case 'duplicate_webhooks':
      break;
    case 'reorder_webhooks':
      rule.batch = optionalInt(body, 'batch', 2, 100) ?? 2;
      rule.hold_ms = optionalInt(body, 'hold_ms', 1, MAX_HOLD_MS) ?? 2000;
      break;
  }
  return rule;
}
