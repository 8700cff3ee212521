/** How delivery behaves; read once by the composition root, never from the environment here. */
export interface WebhookConfig {
  /** Delay before each attempt, in ms; its length is the number of attempts. */
  retrySchedule: number[];
  /** A response must be complete within this; the attempt fails otherwise. */
  timeoutMs: number;
  /** An endpoint whose every attempt failed for this long is disabled. */
  disableAfterMs: number;
  /** Longest wait a `Retry-After` header can ask for. */
  retryAfterMaxMs: number;
  /** Let every endpoint point at private, loopback and link-local addresses (SSRF guard off). */
  allowPrivateUrls: boolean;
  /** How long the previous signing secret is still signed with after a rotation. */
  secretRotationOverlapMs: number;
  /** Requests in flight per worker; 0 runs no worker on this node. */
  concurrency: number;
  /** How often an idle worker looks for work. */
  pollIntervalMs: number;
  /** How long ended deliveries and their attempt logs are kept; 0 keeps them for good. */
  logRetentionMs: number;
}

export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [
  0,
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];

export const defaultWebhookConfig: WebhookConfig = {
  retrySchedule: [...DEFAULT_RETRY_SCHEDULE_MS],
  timeoutMs: 15_000,
  disableAfterMs: 5 * 86_400_000,
  retryAfterMaxMs: 3_600_000,
  allowPrivateUrls: false,
  secretRotationOverlapMs: 86_400_000,
  concurrency: 64,
  pollIntervalMs: 500,
  logRetentionMs: 90 * 86_400_000,
};

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `250ms`, `5s`, `5m`, `2h`, `3d`, or a bare number of seconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]) * UNITS[match[2] ?? 's']!;
  return Number.isFinite(value) ? Math.round(value) : undefined;
}

type Env = Readonly<Record<string, string | undefined>>;
type Fail = (variable: string, problem: string) => never;

/**
 * Reads the RAMPART_WEBHOOK_* variables from the environment the composition root hands
 * over; `fail` raises its configuration error.
 */
export function parseWebhookConfig(env: Env, fail: Fail): WebhookConfig {
  const duration = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = parseDuration(raw);
    if (value === undefined) return fail(name, `expected a duration such as 30s, 5m or 2h, got ${JSON.stringify(raw)}`);
    if (value < min || value > max) return fail(name, `expected ${min} ms to ${max} ms, got ${value} ms`);
    return value;
  };
  const whole = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw.trim())) return fail(name, `expected a whole number, got ${JSON.stringify(raw)}`);
    const value = Number(raw);
    if (value < min || value > max) return fail(name, `expected ${min} to ${max}, got ${value}`);
    return value;
  };

  // 0 keeps the logs for good; otherwise at least a day, so that no attempt still being
  // recorded (a worker's late result) can find its delivery purged.
  const retention = (value: number): number =>
    value === 0 || value >= 86_400_000
      ? value
      : fail('RAMPART_WEBHOOK_LOG_RETENTION', `expected 0 (keep for good) or at least 1d, got ${value} ms`);

  let retrySchedule = [...DEFAULT_RETRY_SCHEDULE_MS];
  const rawSchedule = env['RAMPART_WEBHOOK_RETRY_SCHEDULE'];
  if (rawSchedule) {
    retrySchedule = rawSchedule.split(',').map((part) => {
      const value = parseDuration(part);
      if (value === undefined || value > 7 * 86_400_000)
        return fail('RAMPART_WEBHOOK_RETRY_SCHEDULE', `${JSON.stringify(part.trim())} is not a duration up to 7d`);
      return value;
    });
    if (retrySchedule.length > 50) fail('RAMPART_WEBHOOK_RETRY_SCHEDULE', 'at most 50 attempts');
  }

  const allowRaw = (env['RAMPART_WEBHOOK_ALLOW_PRIVATE_URLS'] ?? '').trim().toLowerCase();
  if (!['', '0', '1', 'true', 'false'].includes(allowRaw))
    fail('RAMPART_WEBHOOK_ALLOW_PRIVATE_URLS', `expected true or false, got ${JSON.stringify(allowRaw)}`);

  return {
    retrySchedule,
    timeoutMs: duration('RAMPART_WEBHOOK_TIMEOUT', defaultWebhookConfig.timeoutMs, 100, 60_000),
    disableAfterMs: duration('RAMPART_WEBHOOK_DISABLE_AFTER', defaultWebhookConfig.disableAfterMs, 0, 90 * 86_400_000),
    retryAfterMaxMs: duration('RAMPART_WEBHOOK_RETRY_AFTER_MAX', defaultWebhookConfig.retryAfterMaxMs, 0, 86_400_000),
    allowPrivateUrls: allowRaw === '1' || allowRaw === 'true',
    secretRotationOverlapMs: duration(
      'RAMPART_WEBHOOK_SECRET_OVERLAP',
      defaultWebhookConfig.secretRotationOverlapMs,
      0,
      30 * 86_400_000,
    ),
    concurrency: whole('RAMPART_WEBHOOK_CONCURRENCY', defaultWebhookConfig.concurrency, 0, 1_000),
    pollIntervalMs: duration('RAMPART_WEBHOOK_POLL_INTERVAL', defaultWebhookConfig.pollIntervalMs, 10, 60_000),
    logRetentionMs: retention(
      duration('RAMPART_WEBHOOK_LOG_RETENTION', defaultWebhookConfig.logRetentionMs, 0, 3_650 * 86_400_000),
    ),
  };
}
