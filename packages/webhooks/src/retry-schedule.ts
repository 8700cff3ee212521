/** Up to this much later than scheduled, so failed deliveries do not retry in lockstep. */
const JITTER = 0.2;

/**
 * Delay before the next attempt after `attemptsMade` failed ones, or `undefined` when the
 * schedule is used up (the delivery is exhausted). A `Retry-After` from the receiver may
 * push the retry later, never earlier, and at most to `retryAfterMaxMs`.
 */
export function nextRetryDelay(
  attemptsMade: number,
  schedule: readonly number[],
  options: { retryAfterMs?: number | undefined; retryAfterMaxMs: number; random: () => number },
): number | undefined {
  if (attemptsMade >= schedule.length) return undefined;
  const base = schedule[attemptsMade]!;
  const jittered = Math.round(base * (1 + JITTER * options.random()));
  if (options.retryAfterMs === undefined) return jittered;
  return Math.max(jittered, Math.min(options.retryAfterMs, options.retryAfterMaxMs));
}

/** `Retry-After: 120` or an HTTP date; `undefined` when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, now: Date): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1_000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}
