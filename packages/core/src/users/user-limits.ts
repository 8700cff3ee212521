/**
 * Limits of one end user (responsible gambling): how much they may deposit, withdraw,
 * buy or sell per rolling day, week (7 days) or month (30 days), in a currency. Set by
 * the operator, usually at the user's own request, on top of the operator's limits for
 * everyone. Tightening takes effect at once. Loosening (raising or removing a limit)
 * waits the operator's cooling-off delay first, as regulators ask: a user in a bad
 * moment cannot lift the limit they set in a better one.
 */
import { RampartError } from '@rampart/errors';
import { formatAmount, getCurrency, parseAmount } from '../money/index.ts';
import { ACTIONS, type Action } from '../settings/operator-settings.ts';

const DAY_MS = 86_400_000;

/** The rolling windows a limit covers. */
export const LIMIT_PERIODS = { day: DAY_MS, week: 7 * DAY_MS, month: 30 * DAY_MS } as const;
export type LimitPeriod = keyof typeof LIMIT_PERIODS;

/** One limit as stored: in minor units, and a loosening waiting out its delay. */
export interface StoredLimit {
  amount: string | null;
  next?: { amount: string | null; at: string };
}

/** `end_users.limits`: action → currency → period → limit. */
export type UserLimits = Partial<Record<Action, Record<string, Partial<Record<LimitPeriod, StoredLimit>>>>>;

/** A limit in force for a payment: the window it covers and its amount in minor units. */
export interface LimitInForce {
  period: LimitPeriod;
  limit: bigint;
}

const asAmount = (value: string | null) => (value === null ? null : BigInt(value));

/** The amount in force at `now`: a waiting change counts once its time has come. */
function inForce(entry: StoredLimit, now: Date): bigint | null {
  if (entry.next && Date.parse(entry.next.at) <= now.getTime()) return asAmount(entry.next.amount);
  return asAmount(entry.amount);
}

/** The user's limits on `action` in `currency` in force at `now`. */
export function limitsInForce(limits: UserLimits, action: Action, currency: string, now: Date): LimitInForce[] {
  const periods = limits[action]?.[currency];
  if (!periods) return [];
  const out: LimitInForce[] = [];
  for (const period of Object.keys(LIMIT_PERIODS) as LimitPeriod[]) {
    const entry = periods[period];
    const limit = entry ? inForce(entry, now) : null;
    if (limit !== null) out.push({ period, limit });
  }
  return out;
}

function invalid(field: string, provided: unknown, expected: string): never {
  throw new RampartError('invalid_value', { field, provided, expected });
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Applies a change such as `{"deposit": {"USD": {"day": "100.00", "week": null}}}` (null:
 * no limit). A lower limit, or a first one, holds at once and drops any loosening still
 * waiting; a higher one, or a removal, holds `delayMs` after `now` (at once when 0).
 */
export function changeLimits(current: UserLimits, patch: unknown, now: Date, delayMs: number): UserLimits {
  if (!isObject(patch) || Object.keys(patch).length === 0) invalid('limits', patch, 'an object of actions');
  const next: UserLimits = structuredClone(current);
  for (const [action, currencies] of Object.entries(patch)) {
    if (!(ACTIONS as readonly string[]).includes(action)) invalid(action, action, ACTIONS.join(', '));
    if (!isObject(currencies)) invalid(action, currencies, 'an object of currencies');
    for (const [code, periods] of Object.entries(currencies)) {
      const currency = getCurrency(code, `${action}.${code}`);
      if (!isObject(periods)) invalid(`${action}.${code}`, periods, 'an object of periods: day, week, month');
      for (const [period, value] of Object.entries(periods)) {
        const field = `${action}.${currency.code}.${period}`;
        if (!Object.hasOwn(LIMIT_PERIODS, period)) invalid(field, period, 'day, week or month');
        const wanted = value === null ? null : parseAmount(value, currency, field);
        const byCurrency = next[action as Action] ?? {};
        const byPeriod = byCurrency[currency.code] ?? {};
        const entry = byPeriod[period as LimitPeriod];
        const current = entry ? inForce(entry, now) : null;
        const tighter = wanted !== null && (current === null || wanted <= current);
        if (wanted === null && (current === null || delayMs === 0)) delete byPeriod[period as LimitPeriod];
        else if (tighter || delayMs === 0) byPeriod[period as LimitPeriod] = { amount: String(wanted) };
        else {
          byPeriod[period as LimitPeriod] = {
            amount: current === null ? null : current.toString(),
            next: {
              amount: wanted === null ? null : wanted.toString(),
              at: new Date(now.getTime() + delayMs).toISOString(),
            },
          };
        }
        byCurrency[currency.code] = byPeriod;
        next[action as Action] = byCurrency;
        if (Object.keys(byPeriod).length === 0) delete byCurrency[currency.code];
        if (Object.keys(byCurrency).length === 0) delete next[action as Action];
      }
    }
  }
  return next;
}

/** The limits as the API shows them: one row per action, currency and period, with any loosening still waiting. */
export function presentLimits(limits: UserLimits, now: Date) {
  const rows: {
    action: Action;
    currency: string;
    period: LimitPeriod;
    amount: string | null;
    pending: { amount: string | null; effective_at: string } | null;
  }[] = [];
  for (const action of ACTIONS) {
    for (const [code, periods] of Object.entries(limits[action] ?? {})) {
      const currency = getCurrency(code);
      const shown = (minor: bigint | null) => (minor === null ? null : formatAmount(minor, currency));
      for (const period of Object.keys(LIMIT_PERIODS) as LimitPeriod[]) {
        const entry = periods[period];
        if (!entry) continue;
        const waiting = entry.next && Date.parse(entry.next.at) > now.getTime() ? entry.next : undefined;
        const amount = shown(inForce(entry, now));
        if (amount === null && !waiting) continue;
        rows.push({
          action,
          currency: code,
          period,
          amount,
          pending: waiting ? { amount: shown(asAmount(waiting.amount)), effective_at: waiting.at } : null,
        });
      }
    }
  }
  return rows;
}
