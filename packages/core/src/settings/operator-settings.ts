import { createHash } from 'node:crypto';
import { RampartError } from '@rampart/errors';
import { createBase58check } from '@scure/base';
import { getCurrency, parseAmount } from '../money/index.ts';
import type { NoAnswerPolicy } from '../payments/approval.ts';
import { checkedFee, type FeeSetting } from '../payments/fees.ts';
import type { ConfigCache } from '../storage/config-cache.ts';
import type { Queryable, Store } from '../storage/database.ts';
import { deepFreeze, type ReadCache } from '../storage/read-cache.ts';
import { isWebUrl } from '../web-url.ts';

export const ACTIONS = ['deposit', 'withdrawal', 'buy', 'sell'] as const;
export type Action = (typeof ACTIONS)[number];

/** When identity verification is demanded. */
export type KycPolicy = 'none' | 'withdrawal' | 'all';

export interface ProviderRule {
  provider: string;
  /** ISO 3166 country (`US`) or country-subdivision (`US-NY`) codes where this provider may not be used. */
  blocked_jurisdictions: string[];
}

/** A currency (and network) the operator takes payments in, and who keeps user balances. */
export interface EnabledCurrency {
  currency: string;
  network: string | null;
  /**
   * `ledger`: Rampart keeps user balances and refuses to overdraw them.
   * `record`: Rampart only records movements; the operator decides balances (approval).
   */
  balances: 'ledger' | 'record';
}

/** Amounts as decimal strings in the currency's major unit, e.g. "10.00". */
export interface Limit {
  min?: string;
  max?: string;
  /** Rolling 24 hours per user. */
  daily?: string;
}

export interface ApprovalSettings {
  /** The operator's endpoint asked to approve each withdrawal; null: no approval step. */
  url: string | null;
  timeout_ms: number;
  /** Further attempts after a failed call (network error, 5xx, timeout). */
  retries: number;
  /**
   * What no usable answer means: decline (as withdrawals unavailable), approve, or hold
   * the withdrawal for review by hand.
   */
  on_no_answer: NoAnswerPolicy;
  /** How long a withdrawal waits for review before it is declined as withdrawals unavailable. */
  review_hours: number;
}

export interface MessageSettings {
  /**
   * The operator's endpoint that delivers verification mail and SMS (signed POSTs).
   * Null: test mode shows messages in the development outbox; live mode cannot send them.
   */
  url: string | null;
  timeout_ms: number;
  /** Further attempts after a failed call (network error, 5xx, timeout). */
  retries: number;
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
  currencies: EnabledCurrency[];
  /**
   * Extended public keys (BIP32) per network that deposit addresses are derived from,
   * one address per user. Only public keys: no private key ever lives in Rampart.
   */
  crypto_xpubs: Record<string, string>;
  /** Per action, per currency code. */
  limits: Record<Action, Record<string, Limit>>;
  /**
   * How long raising or removing a user's own limit (`PATCH /v1/users/{id}/limits`) waits
   * before it holds; lowering one holds at once. 0: at once.
   */
  limit_increase_delay_hours: number;
  /**
   * Per action, per currency code: the fee (fixed and/or percent). A pay-in's comes out of
   * what the user is credited, a pay-out's is debited on top of what is paid out.
   */
  fees: Record<Action, Record<string, FeeSetting>>;
  approval: ApprovalSettings;
  messages: MessageSettings;
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
  currencies: [
    { currency: 'USD', network: null, balances: 'ledger' },
    { currency: 'EUR', network: null, balances: 'ledger' },
    { currency: 'USDT', network: 'TRC20', balances: 'ledger' },
    { currency: 'USDT', network: 'ERC20', balances: 'ledger' },
    { currency: 'BTC', network: 'BITCOIN', balances: 'ledger' },
    { currency: 'ETH', network: 'ETHEREUM', balances: 'ledger' },
  ],
  crypto_xpubs: {},
  limits: {
    deposit: { USD: { min: '1.00', max: '10000.00', daily: '50000.00' } },
    withdrawal: { USD: { min: '1.00', max: '10000.00', daily: '25000.00' } },
    buy: {},
    sell: {},
  },
  limit_increase_delay_hours: 24,
  fees: { deposit: {}, withdrawal: {}, buy: {}, sell: {} },
  approval: { url: null, timeout_ms: 3000, retries: 1, on_no_answer: 'decline', review_hours: 72 },
  messages: { url: null, timeout_ms: 5000, retries: 1 },
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

/**
 * Merges a patch of an operator endpoint Rampart calls (`url`, `timeout_ms`, `retries`),
 * with `extra` reading, by name, the fields only that endpoint has.
 */
function mergeHook<T extends { url: string | null; timeout_ms: number; retries: number }>(
  key: string,
  current: T,
  value: unknown,
  ignoreUnknown: boolean,
  extra: Record<string, (v: unknown) => Partial<T>> = {},
): T {
  if (typeof value !== 'object' || value === null) invalid(key, value, 'an object');
  const next = { ...current };
  for (const [field, v] of Object.entries(value)) {
    if (field === 'url') {
      if (v !== null && !isWebUrl(v)) invalid(`${key}.url`, v, 'an http(s) URL or null');
      next.url = v as string | null;
    } else if (field === 'timeout_ms') {
      if (!Number.isInteger(v) || (v as number) < 100 || (v as number) > 15_000)
        invalid(`${key}.timeout_ms`, v, '100 to 15000');
      next.timeout_ms = v as number;
    } else if (field === 'retries') {
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 3) invalid(`${key}.retries`, v, '0 to 3');
      next.retries = v as number;
    } else {
      const read = Object.hasOwn(extra, field) ? extra[field] : undefined;
      if (read) Object.assign(next, read(v));
      else if (!ignoreUnknown)
        invalid(`${key}.${field}`, v, ['url', 'timeout_ms', 'retries', ...Object.keys(extra)].join(', '));
    }
  }
  return next;
}

/**
 * Merges a partial update into current settings, validating every field it touches.
 * `unknown: 'ignore'` is for settings as stored: a field this release does not know was
 * written by a later one (while a deployment rolls) and is left to it, not refused.
 */
export function mergeSettings(
  current: OperatorSettings,
  patch: Record<string, unknown>,
  options: { unknown?: 'refuse' | 'ignore' } = {},
): OperatorSettings {
  const next: OperatorSettings = structuredClone(current);
  const ignoring = options.unknown === 'ignore';
  for (const [key, value] of Object.entries(patch)) {
    switch (key) {
      case 'session_ttl_seconds':
        if (!Number.isInteger(value) || (value as number) < 60 || (value as number) > 7 * 86_400)
          invalid(key, value, '60 to 604800 seconds');
        next.session_ttl_seconds = value as number;
        break;
      case 'fees': {
        if (typeof value !== 'object' || value === null || Array.isArray(value))
          invalid(key, value, 'an object keyed by action');
        for (const [action, perCurrency] of Object.entries(value)) {
          if (!(ACTIONS as readonly string[]).includes(action)) invalid(`${key}.${action}`, action, ACTIONS.join(', '));
          if (typeof perCurrency !== 'object' || perCurrency === null || Array.isArray(perCurrency))
            invalid(`${key}.${action}`, perCurrency, 'an object keyed by currency (an empty one: no fees)');
          const out: Record<string, FeeSetting> = {};
          for (const [code, fee] of Object.entries(perCurrency)) {
            out[code.toUpperCase()] = checkedFee(fee, code, `${key}.${action}.${code}`);
          }
          next.fees[action as Action] = out;
        }
        break;
      }
      case 'limit_increase_delay_hours':
        if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 720)
          invalid(key, value, '0 to 720 hours');
        next.limit_increase_delay_hours = value as number;
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
      case 'currencies': {
        if (!Array.isArray(value) || value.length > 100) invalid(key, value, 'a list of currencies');
        next.currencies = value.map((entry: unknown, i) => {
          const e = entry as Record<string, unknown>;
          if (typeof e?.['currency'] !== 'string' || !/^[A-Za-z0-9]{2,10}$/.test(e['currency']))
            invalid(`${key}[${i}].currency`, e?.['currency'], 'a currency code');
          const network = e['network'] ?? null;
          if (network !== null && (typeof network !== 'string' || !/^[A-Za-z0-9_]{2,20}$/.test(network)))
            invalid(`${key}[${i}].network`, network, 'a network such as TRC20, or null');
          const balances = e['balances'] ?? 'ledger';
          if (balances !== 'ledger' && balances !== 'record')
            invalid(`${key}[${i}].balances`, balances, 'ledger or record');
          return {
            currency: e['currency'].toUpperCase(),
            network: network === null ? null : (network as string).toUpperCase(),
            balances,
          };
        });
        // A user has one balance of a currency, whatever network it came by: Rampart keeps
        // it (`ledger`) or the operator does (`record`), for all its networks alike.
        next.currencies.forEach((entry, i) => {
          const first = next.currencies.find((other) => other.currency === entry.currency)!;
          if (first.balances !== entry.balances)
            invalid(
              `${key}[${i}].balances`,
              entry.balances,
              `${first.balances}, as on ${entry.currency}'s other networks: a user has one ${entry.currency} balance`,
            );
        });
        break;
      }
      case 'crypto_xpubs': {
        const xpubs = value as Record<string, unknown>;
        if (typeof xpubs !== 'object' || xpubs === null) invalid(key, value, 'an object keyed by network');
        const out: Record<string, string> = {};
        for (const [network, xpub] of Object.entries(xpubs)) {
          if (typeof xpub !== 'string' || !/^[xt]pub[1-9A-HJ-NP-Za-km-z]{100,112}$/.test(xpub) || !walletOf(xpub))
            invalid(
              `${key}.${network}`,
              typeof xpub === 'string' && xpub.startsWith('xprv') ? '[private key refused]' : xpub,
              'an extended public key (xpub…); never a private key',
            );
          out[network.toUpperCase()] = xpub;
        }
        next.crypto_xpubs = out;
        break;
      }
      case 'limits': {
        const limits = value as Record<string, unknown>;
        if (typeof limits !== 'object' || limits === null) invalid(key, value, 'an object keyed by action');
        for (const [action, perCurrency] of Object.entries(limits)) {
          if (!(ACTIONS as readonly string[]).includes(action)) invalid(`${key}.${action}`, action, ACTIONS.join(', '));
          if (typeof perCurrency !== 'object' || perCurrency === null)
            invalid(`${key}.${action}`, perCurrency, 'an object keyed by currency');
          const out: Record<string, Limit> = {};
          for (const [currency, limit] of Object.entries(perCurrency as Record<string, unknown>)) {
            const l = limit as Record<string, unknown>;
            const entry: Limit = {};
            const field = `${key}.${action}.${currency}`;
            for (const bound of ['min', 'max', 'daily'] as const) {
              const v = l?.[bound];
              if (v === undefined) continue;
              if (typeof v !== 'string' || !/^\d{1,30}(\.\d{1,18})?$/.test(v))
                invalid(`${field}.${bound}`, v, 'a decimal string such as 10.00');
              // Written, checked as the amounts it bounds will be: a limit its currency cannot hold
              // (too many decimals, zero) would otherwise refuse every payment in it, blaming the
              // client. Read back as stored: one written before this check still loads.
              if (!ignoring) parseAmount(v, getCurrency(currency.toUpperCase(), field), `${field}.${bound}`);
              entry[bound] = v;
            }
            out[currency.toUpperCase()] = entry;
          }
          next.limits[action as Action] = out;
        }
        break;
      }
      case 'approval':
        next.approval = mergeHook(key, next.approval, value, ignoring, {
          on_no_answer: (v) => {
            if (v !== 'decline' && v !== 'approve' && v !== 'review')
              invalid(`${key}.on_no_answer`, v, 'decline, approve or review');
            return { on_no_answer: v };
          },
          review_hours: (v) => {
            if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 720)
              invalid(`${key}.review_hours`, v, '1 to 720 hours');
            return { review_hours: v as number };
          },
        });
        break;
      case 'messages':
        next.messages = mergeHook(key, next.messages, value, ignoring);
        break;
      case 'kyc_url':
        if (value !== null && !isWebUrl(value)) invalid(key, value, 'an http(s) URL or null');
        next.kyc_url = value as string | null;
        break;
      default:
        if (!ignoring) invalid(key, value, 'a known setting');
    }
  }
  return next;
}

const base58check = createBase58check((data: Uint8Array) => new Uint8Array(createHash('sha256').update(data).digest()));

/**
 * The wallet an extended public key is (its chain code and public key, hex), or '' for
 * text that is none (a bad checksum or length). Version, depth, parent fingerprint and
 * child number are what an export writes about the key, not the key.
 */
export function walletOf(xpub: string): string {
  try {
    const bytes = base58check.decode(xpub);
    return bytes.length === 78 ? Buffer.from(bytes.subarray(13)).toString('hex') : '';
  } catch {
    return '';
  }
}

export class OperatorSettingsStore {
  private readonly db: Store;
  private readonly config: ConfigCache | undefined;
  private readonly cache: ReadCache<OperatorSettings> | undefined;

  constructor(db: Store, config?: ConfigCache) {
    this.db = db;
    this.config = config;
    this.cache = config?.cache<OperatorSettings>((operatorId) => operatorId);
  }

  /** Read on every request, so served from the process's cache (frozen: shared by callers) outside transactions. */
  get(operatorId: string, tx: Queryable = this.db): Promise<OperatorSettings> {
    if (tx !== this.db || !this.cache) return this.load(operatorId, tx);
    return this.cache.get(operatorId, async () => deepFreeze(await this.load(operatorId, tx)));
  }

  private async load(operatorId: string, tx: Queryable): Promise<OperatorSettings> {
    return (await this.loadStored(operatorId, tx)).settings;
  }

  /** The settings, and the JSON they were read from (with any field a later release wrote). */
  private async loadStored(
    operatorId: string,
    tx: Queryable,
    { forUpdate = false }: { forUpdate?: boolean } = {},
  ): Promise<{ settings: OperatorSettings; stored: Record<string, unknown> }> {
    const { rows } = await tx.query<{ settings: Record<string, unknown> }>({
      name: forUpdate ? 'operator-settings-for-update' : 'operator-settings',
      text: `SELECT settings FROM operators WHERE id = $1${forUpdate ? ' FOR NO KEY UPDATE' : ''}`,
      values: [operatorId],
    });
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'operator', id: operatorId });
    // Stored settings were validated on write; defaults fill fields added since, and
    // fields a later release added are left to it.
    const stored = rows[0].settings;
    return { settings: mergeSettings(DEFAULT_SETTINGS, stored, { unknown: 'ignore' }), stored };
  }

  /**
   * Merges `patch` into the operator's settings, read under the operator's row lock: two
   * changes at once apply one after the other, and neither loses what the other wrote.
   */
  async update(operatorId: string, patch: Record<string, unknown>): Promise<OperatorSettings> {
    const next = await this.db.transaction(async (tx) => {
      const { settings, stored } = await this.loadStored(operatorId, tx, { forUpdate: true });
      const next = mergeSettings(settings, patch);
      if (patch['crypto_xpubs'] !== undefined) await this.assertWalletsOwn(tx, operatorId, next.crypto_xpubs);
      // Written over what was stored, so that fields of a later release (nodes of two
      // releases share the database while a deployment rolls) survive this one's change.
      const hooks = (name: 'approval' | 'messages') => ({ ...(stored[name] as object | undefined), ...next[name] });
      const written = { ...stored, ...next, approval: hooks('approval'), messages: hooks('messages') };
      // With the settings, in one statement: the floor of every user account of a currency
      // as its balances mode now says (none in `record` mode, zero in `ledger` mode), so that
      // a currency switched to `ledger` refuses overdrafts of users it already has.
      const currencies = patch['currencies'] === undefined ? [] : next.currencies;
      await tx.query(
        `WITH written AS (UPDATE operators SET settings = $2 WHERE id = $1)
         UPDATE ledger_accounts a SET floor = c.floor
           FROM (SELECT DISTINCT currency, CASE WHEN balances = 'ledger' THEN 0 END::numeric AS floor
                   FROM unnest($3::text[], $4::text[]) AS m(currency, balances)) c
          WHERE a.operator_id = $1 AND a.kind = 'user' AND a.currency = c.currency AND a.floor IS DISTINCT FROM c.floor`,
        [operatorId, JSON.stringify(written), currencies.map((c) => c.currency), currencies.map((c) => c.balances)],
      );
      return next;
    });
    this.config?.changed(operatorId);
    return next;
  }

  /**
   * A wallet key belongs to one operator and mode: deposit addresses are derived from it
   * in order, so two registrations of one xpub would hand out the same addresses (and
   * the second would find each taken). Test and live of one operator count as two: a
   * test key registering the live wallet would take its addresses from live deposits.
   */
  private async assertWalletsOwn(tx: Queryable, operatorId: string, xpubs: Record<string, string>): Promise<void> {
    // One registration of wallets at a time, across operators: two at once would each
    // miss the other's key.
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('rampart:crypto_xpubs'))");
    const { rows } = await tx.query<{ xpub: string }>(
      `SELECT DISTINCT x.value AS xpub FROM operators o, jsonb_each_text(o.settings -> 'crypto_xpubs') x
        WHERE o.id <> $1`,
      [operatorId],
    );
    // Compared by the wallet itself (its chain code and public key, whatever the depth or
    // parent fingerprint its export wrote): one key re-encoded derives the same addresses.
    const taken = new Set(rows.map((row) => walletOf(row.xpub)));
    const network = Object.keys(xpubs).find((name) => taken.has(walletOf(xpubs[name]!)));
    if (network === undefined) return;
    invalid(
      `crypto_xpubs.${network}`,
      xpubs[network],
      'an extended public key that no other operator, and not your other mode, has registered',
    );
  }
}
