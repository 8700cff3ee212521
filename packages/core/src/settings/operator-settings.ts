import { RampartError } from '@rampart/errors';
import type { Queryable } from '../storage/database.ts';

export const ACTIONS = ['deposit', 'withdrawal', 'buy', 'sell'] as const;
export type Action = (typeof ACTIONS)[number];

/** When identity verification is demanded. */
export type KycPolicy = 'none' | 'withdrawal' | 'all';

export interface ProviderRule {
  provider: string;
  /** ISO 3166 country (`US`) or country-subdivision (`US-NY`) codes where this provider may not be used. */
  blocked_jurisdictions: string[];
}

/** An operator's cashier configuration. Stored as JSON; every field has a safe default. */
export interface OperatorSettings {
  session_ttl_seconds: number;
  required_gates: { terms: boolean; email: boolean; phone: boolean; kyc: KycPolicy; geo: boolean };
  /** Jurisdictions where no payment may happen at all. */
  blocked_jurisdictions: string[];
  /** Ordered providers per action: the first permitted one is used, the rest are fallbacks. */
  providers: Record<Action, ProviderRule[]>;
  /** Sell (off-ramp) must be switched on deliberately. */
  sell_enabled: boolean;
  /** Where users are sent to verify identity when the operator runs KYC itself. */
  kyc_url: string | null;
  /** Test mode only: allow private and loopback client IPs, which have no location. */
  allow_unlocated_ips_in_test: boolean;
}

export const DEFAULT_SETTINGS: OperatorSettings = {
  session_ttl_seconds: 1800,
  required_gates: { terms: true, email: true, phone: false, kyc: 'withdrawal', geo: true },
  blocked_jurisdictions: [],
  providers: {
    deposit: [
      { provider: 'simbank', blocked_jurisdictions: [] },
      { provider: 'simcard', blocked_jurisdictions: [] },
      { provider: 'simcrypto', blocked_jurisdictions: [] },
    ],
    withdrawal: [
      { provider: 'simbank', blocked_jurisdictions: [] },
      { provider: 'simcrypto', blocked_jurisdictions: [] },
    ],
    buy: [{ provider: 'simcrypto', blocked_jurisdictions: [] }],
    sell: [{ provider: 'simcrypto', blocked_jurisdictions: [] }],
  },
  sell_enabled: false,
  kyc_url: null,
  allow_unlocated_ips_in_test: true,
};

const JURISDICTION = /^[A-Z]{2}(-[A-Z0-9]{1,3})?$/;

function invalid(field: string, provided: unknown, expected: string): never {
  throw new RampartError('invalid_value', { field, provided, expected });
}

function jurisdictions(field: string, value: unknown): string[] {
  if (!Array.isArray(value)) invalid(field, value, 'a list of codes such as US or US-NY');
  return value.map((code, i) => {
    const upper = typeof code === 'string' ? code.toUpperCase() : '';
    if (!JURISDICTION.test(upper)) invalid(`${field}[${i}]`, code, 'a code such as US or US-NY');
    return upper;
  });
}

/** Merges a partial update into current settings, validating every field it touches. */
export function mergeSettings(current: OperatorSettings, patch: Record<string, unknown>): OperatorSettings {
  const next: OperatorSettings = structuredClone(current);
  for (const [key, value] of Object.entries(patch)) {
    switch (key) {
      case 'session_ttl_seconds':
        if (!Number.isInteger(value) || (value as number) < 60 || (value as number) > 7 * 86_400)
          invalid(key, value, '60 to 604800 seconds');
        next.session_ttl_seconds = value as number;
        break;
      case 'required_gates': {
        const gates = value as Record<string, unknown>;
        if (typeof gates !== 'object' || gates === null) invalid(key, value, 'an object');
        for (const [gate, on] of Object.entries(gates)) {
          if (gate === 'kyc') {
            if (on !== 'none' && on !== 'withdrawal' && on !== 'all')
              invalid(`${key}.kyc`, on, 'none, withdrawal or all');
            next.required_gates.kyc = on;
          } else if (gate === 'terms' || gate === 'email' || gate === 'phone' || gate === 'geo') {
            if (typeof on !== 'boolean') invalid(`${key}.${gate}`, on, 'true or false');
            next.required_gates[gate] = on;
          } else invalid(`${key}.${gate}`, on, 'one of terms, email, phone, kyc, geo');
        }
        break;
      }
      case 'blocked_jurisdictions':
        next.blocked_jurisdictions = jurisdictions(key, value);
        break;
      case 'providers': {
        const providers = value as Record<string, unknown>;
        if (typeof providers !== 'object' || providers === null) invalid(key, value, 'an object keyed by action');
        for (const [action, rules] of Object.entries(providers)) {
          if (!(ACTIONS as readonly string[]).includes(action)) invalid(`${key}.${action}`, action, ACTIONS.join(', '));
          if (!Array.isArray(rules)) invalid(`${key}.${action}`, rules, 'a list of providers');
          next.providers[action as Action] = rules.map((rule: unknown, i) => {
            const r = rule as Record<string, unknown>;
            if (typeof r?.['provider'] !== 'string' || !/^[a-z0-9_]{1,32}$/.test(r['provider']))
              invalid(`${key}.${action}[${i}].provider`, r?.['provider'], 'a provider id');
            return {
              provider: r['provider'],
              blocked_jurisdictions: jurisdictions(
                `${key}.${action}[${i}].blocked_jurisdictions`,
                r['blocked_jurisdictions'] ?? [],
              ),
            };
          });
        }
        break;
      }
      case 'sell_enabled':
      case 'allow_unlocated_ips_in_test':
        if (typeof value !== 'boolean') invalid(key, value, 'true or false');
        next[key] = value;
        break;
      case 'kyc_url':
        if (value !== null && (typeof value !== 'string' || !URL.canParse(value))) invalid(key, value, 'a URL or null');
        next.kyc_url = value as string | null;
        break;
      default:
        invalid(key, value, 'a known setting');
    }
  }
  return next;
}

export class OperatorSettingsStore {
  private readonly db: Queryable;

  constructor(db: Queryable) {
    this.db = db;
  }

  async get(operatorId: string, tx: Queryable = this.db): Promise<OperatorSettings> {
    const { rows } = await tx.query<{ settings: Record<string, unknown> }>({
      name: 'operator-settings',
      text: 'SELECT settings FROM operators WHERE id = $1',
      values: [operatorId],
    });
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'operator', id: operatorId });
    // Stored settings were validated on write; defaults fill fields added since.
    return mergeSettings(DEFAULT_SETTINGS, rows[0].settings);
  }

  async update(operatorId: string, patch: Record<string, unknown>): Promise<OperatorSettings> {
    const next = mergeSettings(await this.get(operatorId), patch);
    await this.db.query('UPDATE operators SET settings = $2 WHERE id = $1', [operatorId, JSON.stringify(next)]);
    return next;
  }
}
