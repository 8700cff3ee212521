import { RampartError } from '@rampart/errors';
import type { Clock } from '../clock.ts';
import type { IdGenerator } from '../ids.ts';
import type { ConfigCache } from '../storage/config-cache.ts';
import type { Queryable, Store } from '../storage/database.ts';
import { deepFreeze, type ReadCache } from '../storage/read-cache.ts';
import { IpAllowlist, normaliseOrigin, parseCidr } from './allowlist.ts';
import { ApiKeys, hashSecret, type IssuedKey, type KeyMode, type KeyScope, looksLikeSecretKey } from './api-keys.ts';
import { tenantsOf } from './tenants.ts';

/**
 * One mode of an operator. Test and live are two tenants: `id` is the tenant every
 * operator-scoped row belongs to, `account_id` the operator as its owner knows it (the
 * live tenant's id, which is the one shown).
 */
export interface Operator {
  id: string;
  account_id: string;
  mode: KeyMode;
  name: string;
  ip_allowlist: string[];
  origin_allowlist: string[];
  created_at: Date;
}

/** Who is calling the Partner API, established from a secret key. */
export interface OperatorPrincipal {
  /** The tenant of the key's mode: every read and write of the call is scoped to it. */
  operatorId: string;
  keyId: string;
  mode: KeyMode;
  scope: KeyScope;
}

export interface CallerContext {
  ip: string;
  /** The Origin header when a browser sent one. */
  origin: string | undefined;
}

const OPERATOR_COLUMNS =
  'id, account_id, mode, name, ip_allowlist::text[] AS ip_allowlist, origin_allowlist, created_at';

function validateAllowlists(input: { ip_allowlist?: readonly string[]; origin_allowlist?: readonly string[] }): {
  ip?: string[];
  origin?: string[];
} {
  const result: { ip?: string[]; origin?: string[] } = {};
  if (input.ip_allowlist) {
    result.ip = input.ip_allowlist.map((cidr, index) => {
      const parsed = parseCidr(cidr);
      if (!parsed)
        throw new RampartError('invalid_value', {
          field: `ip_allowlist[${index}]`,
          provided: cidr,
          expected: 'an IPv4 or IPv6 address, or a CIDR block named by its network address (10.0.0.0/8)',
        });
      return `${parsed.address}/${parsed.prefix}`;
    });
  }
  if (input.origin_allowlist) {
    result.origin = input.origin_allowlist.map((origin, index) => {
      const normalised = normaliseOrigin(origin);
      if (!normalised)
        throw new RampartError('invalid_value', {
          field: `origin_allowlist[${index}]`,
          provided: origin,
          expected: 'an origin such as https://app.example.com',
        });
      return normalised;
    });
  }
  return result;
}

interface Credential {
  id: string;
  operator_id: string;
  mode: KeyMode;
  scope: KeyScope;
  expires_at: Date | null;
  revoked_at: Date | null;
  ip_allowlist: string[];
  origin_allowlist: string[];
  allowlist: IpAllowlist;
}

export class Operators {
  readonly keys: ApiKeys;
  private readonly db: Store;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;
  private readonly config: ConfigCache | undefined;
  /** Keys by secret hash: authentication is on every request and keys change rarely. */
  private readonly credentials: ReadCache<Credential> | undefined;
  private readonly profiles: ReadCache<Operator> | undefined;

  constructor(db: Store, ids: IdGenerator, clock: Clock, config?: ConfigCache) {
    this.db = db;
    this.ids = ids;
    this.clock = clock;
    this.config = config;
    this.keys = new ApiKeys(db, ids, clock, config);
    this.credentials = config?.cache<Credential>((_hash, key) => key.operator_id);
    this.profiles = config?.cache<Operator>((id) => id);
  }

  /**
   * Creates an operator — its live and test tenants, with the same allowlists — and its
   * first full-scope key in `mode`, in one transaction. Returns the live tenant.
   */
  async create(input: {
    name: string;
    mode?: KeyMode;
    ip_allowlist?: readonly string[];
    origin_allowlist?: readonly string[];
  }): Promise<{ operator: Operator; key: IssuedKey }> {
    const name = input.name.trim();
    if (name.length === 0 || name.length > 200)
      throw new RampartError('invalid_value', { field: 'name', provided: input.name, expected: '1 to 200 characters' });
    const lists = validateAllowlists(input);
    return this.db.transaction(async (tx) => {
      const liveId = this.ids('op');
      const { rows } = await tx.query<Operator>(
        `INSERT INTO operators (id, account_id, mode, name, ip_allowlist, origin_allowlist, created_at)
         VALUES ($1, $1, 'live', $3, $4::cidr[], $5, $6), ($2, $1, 'test', $3, $4::cidr[], $5, $6)
         RETURNING ${OPERATOR_COLUMNS}`,
        [liveId, this.ids('op'), name, lists.ip ?? [], lists.origin ?? [], this.clock.now()],
      );
      const key = await this.keys.issue(liveId, { mode: input.mode ?? 'test', scope: 'full' }, tx);
      return { operator: rows.find((row) => row.mode === 'live')!, key };
    });
  }

  /** The tenant of `mode` of the operator `id` names (either of its tenants, or its public id). */
  async tenant(id: string, mode: KeyMode): Promise<Operator> {
    const { rows } = await this.db.query<Operator>(
      `SELECT ${OPERATOR_COLUMNS} FROM operators WHERE id = ${tenantsOf('$1', '$2')}`,
      [id, mode],
    );
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'operator', id });
    return rows[0];
  }

  get(id: string, tx: Queryable = this.db): Promise<Operator> {
    if (tx !== this.db || !this.profiles) return this.load(id, tx);
    return this.profiles.get(id, async () => deepFreeze(await this.load(id, tx)));
  }

  private async load(id: string, tx: Queryable): Promise<Operator> {
    const { rows } = await tx.query<Operator>(`SELECT ${OPERATOR_COLUMNS} FROM operators WHERE id = $1`, [id]);
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'operator', id });
    return rows[0];
  }

  /** Every operator, by its live tenant. */
  async list(): Promise<Operator[]> {
    const { rows } = await this.db.query<Operator>(
      `SELECT ${OPERATOR_COLUMNS} FROM operators WHERE mode = 'live' ORDER BY created_at, id`,
    );
    return rows;
  }

  async updateAllowlists(
    id: string,
    input: { ip_allowlist?: readonly string[]; origin_allowlist?: readonly string[] },
  ): Promise<Operator> {
    const lists = validateAllowlists(input);
    const { rows } = await this.db.query<Operator>(
      `UPDATE operators SET ip_allowlist = COALESCE($2::cidr[], ip_allowlist),
                            origin_allowlist = COALESCE($3::text[], origin_allowlist)
        WHERE id = $1 RETURNING ${OPERATOR_COLUMNS}`,
      [id, lists.ip ?? null, lists.origin ?? null],
    );
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'operator', id });
    this.config?.changed(id);
    return rows[0];
  }

  /**
   * Establishes who is calling from a secret key and where the call comes from.
   * Each failure has its own code so an operator can tell a typo from a revoked key
   * from a firewall problem.
   */
  async authenticate(secret: string | undefined, caller: CallerContext): Promise<OperatorPrincipal> {
    if (!secret) throw new RampartError('missing_token');
    if (!looksLikeSecretKey(secret)) throw new RampartError('invalid_token');
    const hash = hashSecret(secret);
    const find = async () => {
      const { rows } = await this.db.query<Omit<Credential, 'allowlist'>>({
        name: 'authenticate-key',
        text: `SELECT k.id, k.operator_id, k.mode, k.scope, k.expires_at, k.revoked_at,
                      o.ip_allowlist::text[] AS ip_allowlist, o.origin_allowlist
                 FROM api_keys k JOIN operators o ON o.id = k.operator_id
                WHERE k.secret_hash = $1`,
        values: [hash],
      });
      // Unknown secrets are not cached: guessing must not evict real keys.
      if (!rows[0]) throw new RampartError('invalid_token');
      return Object.freeze({ ...rows[0], allowlist: new IpAllowlist(rows[0].ip_allowlist) });
    };
    const key = this.credentials ? await this.credentials.get(hash.toString('base64'), find) : await find();
    if (key.revoked_at) throw new RampartError('token_revoked');
    if (key.expires_at && key.expires_at <= this.clock.now()) throw new RampartError('token_expired');
    if (!key.allowlist.allows(caller.ip)) throw new RampartError('ip_not_allowed', { ip: caller.ip });
    if (caller.origin !== undefined && !key.origin_allowlist.includes(normaliseOrigin(caller.origin) ?? '')) {
      throw new RampartError('origin_not_allowed', { origin: caller.origin });
    }
    return { operatorId: key.operator_id, keyId: key.id, mode: key.mode, scope: key.scope };
  }
}
