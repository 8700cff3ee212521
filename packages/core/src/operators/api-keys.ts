import { hash, randomInt } from 'node:crypto';
import { RampartError } from '@rampart/errors';
import type { Clock } from '../clock.ts';
import type { IdGenerator } from '../ids.ts';
import type { ConfigCache } from '../storage/config-cache.ts';
import type { Queryable, Store } from '../storage/database.ts';
import { tenantsOf } from './tenants.ts';

export const KEY_MODES = ['test', 'live'] as const;
export type KeyMode = (typeof KEY_MODES)[number];
export type KeyScope = 'full' | 'read_only';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SECRET_LENGTH = 32; // 32 base62 characters ≈ 190 bits
const SECRET_PATTERN = /^rk_(test|live)_[0-9A-Za-z]{32}$/;

export interface ApiKey {
  id: string;
  operator_id: string;
  mode: KeyMode;
  scope: KeyScope;
  last4: string;
  description: string | null;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  replaced_by: string | null;
}

export interface IssuedKey {
  key: ApiKey;
  /** The only time the plaintext exists outside the operator's hands. */
  secret: string;
}

/** SHA-256 of a secret key (one-shot: it runs on every authenticated request). */
export function hashSecret(secret: string): Buffer {
  return hash('sha256', secret, 'buffer');
}

function generateSecret(mode: KeyMode): string {
  let body = '';
  for (let i = 0; i < SECRET_LENGTH; i++) body += ALPHABET[randomInt(ALPHABET.length)];
  return `rk_${mode}_${body}`;
}

/** The keys of the operator `$1` names, in either of its tenants. */
const OF_OPERATOR = `operator_id IN ${tenantsOf('$1')}`;

const KEY_COLUMNS = 'id, operator_id, mode, scope, last4, description, created_at, expires_at, revoked_at, replaced_by';

export class ApiKeys {
  private readonly db: Store;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;
  private readonly config: ConfigCache | undefined;

  constructor(db: Store, ids: IdGenerator, clock: Clock, config?: ConfigCache) {
    this.db = db;
    this.ids = ids;
    this.clock = clock;
    this.config = config;
  }

  async issue(
    operatorId: string,
    options: { mode: KeyMode; scope: KeyScope; description?: string | null },
    tx: Queryable = this.db,
  ): Promise<IssuedKey> {
    const secret = generateSecret(options.mode);
    const { rows } = await tx.query<ApiKey>(
      `INSERT INTO api_keys (id, operator_id, mode, scope, secret_hash, last4, description, created_at)
       SELECT $1, id, $3, $4, $5, $6, $7, $8 FROM operators WHERE id = ${tenantsOf('$2', '$3')}
       RETURNING ${KEY_COLUMNS}`,
      [
        this.ids('key'),
        operatorId,
        options.mode,
        options.scope,
        hashSecret(secret),
        secret.slice(-4),
        options.description ?? null,
        this.clock.now(),
      ],
    );
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'operator', id: operatorId });
    return { key: rows[0], secret };
  }

  /**
   * The operator's keys (`operatorId` names it by either tenant); with `mode`, only that
   * mode's (a key sees and manages keys of its own mode only: a test key never reaches a
   * live secret).
   */
  async list(operatorId: string, mode?: KeyMode): Promise<ApiKey[]> {
    const { rows } = await this.db.query<ApiKey>(
      `SELECT ${KEY_COLUMNS} FROM api_keys WHERE ${OF_OPERATOR} AND ($2::text IS NULL OR mode = $2)
        ORDER BY created_at, id`,
      [operatorId, mode ?? null],
    );
    return rows;
  }

  async get(operatorId: string, keyId: string, tx: Queryable = this.db): Promise<ApiKey> {
    const { rows } = await tx.query<ApiKey>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE ${OF_OPERATOR} AND id = $2`, [
      operatorId,
      keyId,
    ]);
    const key = rows[0];
    // Another operator's key id is indistinguishable from one that does not exist.
    if (!key) throw new RampartError('resource_not_found', { resource: 'api_key', id: keyId });
    return key;
  }

  /**
   * Issues a replacement with the same mode and scope. The old key keeps working for
   * `overlapSeconds` so deployments can roll without downtime, then stops.
   */
  async rotate(
    operatorId: string,
    keyId: string,
    overlapSeconds: number,
    mode?: KeyMode,
  ): Promise<IssuedKey & { previous: ApiKey }> {
    const rotated = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<ApiKey>(
        `SELECT ${KEY_COLUMNS} FROM api_keys WHERE ${OF_OPERATOR} AND id = $2 AND ($3::text IS NULL OR mode = $3)
          FOR UPDATE`,
        [operatorId, keyId, mode ?? null],
      );
      const old = rows[0];
      if (!old) throw new RampartError('resource_not_found', { resource: 'api_key', id: keyId });
      const now = this.clock.now();
      if (old.revoked_at || old.replaced_by || (old.expires_at && old.expires_at <= now)) {
        throw new RampartError('illegal_state_transition', {
          resource: 'api_key',
          from: old.revoked_at ? 'revoked' : 'rotated',
          to: 'rotated',
        });
      }
      const issued = await this.issue(
        operatorId,
        { mode: old.mode, scope: old.scope, description: old.description },
        tx,
      );
      const expiresAt = new Date(now.getTime() + overlapSeconds * 1000);
      const updated = await tx.query<ApiKey>(
        `UPDATE api_keys SET expires_at = $2, replaced_by = $3 WHERE id = $1 RETURNING ${KEY_COLUMNS}`,
        [keyId, expiresAt, issued.key.id],
      );
      return { ...issued, previous: updated.rows[0]! };
    });
    this.config?.changed(rotated.previous.operator_id);
    return rotated;
  }

  async revoke(operatorId: string, keyId: string, mode?: KeyMode): Promise<ApiKey> {
    const { rows } = await this.db.query<ApiKey>(
      `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3)
        WHERE ${OF_OPERATOR} AND id = $2 AND ($4::text IS NULL OR mode = $4) RETURNING ${KEY_COLUMNS}`,
      [operatorId, keyId, this.clock.now(), mode ?? null],
    );
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'api_key', id: keyId });
    this.config?.changed(rows[0].operator_id);
    return rows[0];
  }
}

export function looksLikeSecretKey(value: string): boolean {
  return SECRET_PATTERN.test(value);
}
