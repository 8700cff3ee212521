import { createPublicKey } from 'node:crypto';
import { RampartError } from '@rampart/errors';
import { decodeJwt, decodeProtectedHeader, type JWK, jwtVerify } from 'jose';
import type { Clock } from '../clock.ts';
import type { Queryable } from '../storage/database.ts';
import { tokenError } from './widget-tokens.ts';

/** An issuer as Rampart could have issued it (an operator id): visible ASCII, bounded. */
const OPERATOR_ID = /^[\x21-\x7e]{1,200}$/;

/** Operators sign their own session tokens for this audience. */
export const OPERATOR_TOKEN_AUDIENCE = 'rampart';
export const MAX_OPERATOR_TOKEN_LIFETIME_SECONDS = 300;
const CLOCK_SKEW_SECONDS = 30;

export interface SigningKey {
  kid: string;
  mode: 'test' | 'live';
  public_jwk: JWK;
  created_at: Date;
  revoked_at: Date | null;
}

export interface OperatorTokenClaims {
  /** The tenant of the signing key's mode (the token's `iss` is the operator's public id). */
  operatorId: string;
  mode: 'test' | 'live';
  userId: string;
  jti: string;
  expiresAt: Date;
  /** Optional session parameters the operator put in the token. */
  session: Record<string, unknown>;
}

const KEY_COLUMNS = 'kid, mode, public_jwk, created_at, revoked_at';
const invalid = (reason: string) => new RampartError('session_invalid', { reason });

/** A claim stored as text: 1 to 128 characters, none of them NUL (which PostgreSQL's text cannot hold). */
function storableClaim(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 128 && !value.includes('\u0000');
}

/**
 * Session tokens that operators sign themselves (EdDSA, Ed25519) with a key whose
 * public half they registered here. Each token is accepted once (`jti`), lives at
 * most five minutes, and carries the operator as `iss` and the user as `sub`.
 */
export class OperatorTokens {
  private readonly db: Queryable;
  private readonly clock: Clock;

  constructor(db: Queryable, clock: Clock) {
    this.db = db;
    this.clock = clock;
  }

  async register(operatorId: string, mode: 'test' | 'live', jwk: Record<string, unknown>): Promise<SigningKey> {
    const field = (name: string, expected: string): never => {
      throw new RampartError('invalid_value', { field: `jwk.${name}`, provided: jwk[name] ?? null, expected });
    };
    if (jwk['kty'] !== 'OKP') field('kty', 'OKP');
    if (jwk['crv'] !== 'Ed25519') field('crv', 'Ed25519');
    if ('d' in jwk) field('d', 'absent: register the public key only, never the private key');
    if (typeof jwk['kid'] !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(jwk['kid'])) field('kid', 'a key id');
    const publicJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk['x'], kid: jwk['kid'] } as JWK;
    try {
      createPublicKey({ key: publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch {
      field('x', 'a base64url Ed25519 public key');
    }
    const { rows } = await this.db.query<SigningKey>(
      // A kid names one key across the operator's two modes (unique per account): a
      // token's `iss` is the operator's public id, and its kid alone says which tenant
      // (mode) it opens.
      `INSERT INTO operator_signing_keys (operator_id, account_id, kid, mode, public_jwk, created_at)
       SELECT $1, account_id, $2, $3, $4, $5 FROM operators WHERE id = $1
       ON CONFLICT DO NOTHING RETURNING ${KEY_COLUMNS}`,
      [operatorId, publicJwk.kid, mode, JSON.stringify(publicJwk), this.clock.now()],
    );
    if (!rows[0]) throw new RampartError('resource_exists', { resource: 'signing_key', id: publicJwk.kid });
    return rows[0];
  }

  async list(operatorId: string): Promise<SigningKey[]> {
    const { rows } = await this.db.query<SigningKey>(
      `SELECT ${KEY_COLUMNS} FROM operator_signing_keys WHERE operator_id = $1 ORDER BY created_at`,
      [operatorId],
    );
    return rows;
  }

  async revoke(operatorId: string, kid: string): Promise<SigningKey> {
    const { rows } = await this.db.query<SigningKey>(
      `UPDATE operator_signing_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE operator_id = $1 AND kid = $2
       RETURNING ${KEY_COLUMNS}`,
      [operatorId, kid, this.clock.now()],
    );
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'signing_key', id: kid });
    return rows[0];
  }

  /**
   * The live key `kid` of the operator whose public id is `issuer`, with the tenant (mode)
   * it was registered in. Undefined for an unknown issuer or key, or a revoked key.
   */
  async signingKey(
    issuer: string,
    kid: string,
    tx: Queryable = this.db,
  ): Promise<{ operator_id: string; public_jwk: JWK; mode: 'test' | 'live' } | undefined> {
    const { rows } = await tx.query<{ operator_id: string; public_jwk: JWK; mode: 'test' | 'live' }>(
      `SELECT operator_id, public_jwk, mode FROM operator_signing_keys
        WHERE account_id = $1 AND kid = $2 AND revoked_at IS NULL`,
      [issuer, kid],
    );
    return rows[0];
  }

  /** Verifies a token and consumes its `jti` in `tx`, so a replay is refused even across nodes. */
  async verify(token: string, tx: Queryable): Promise<OperatorTokenClaims> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: ReturnType<typeof decodeJwt>;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch (error) {
      throw tokenError(error);
    }
    // Refuse `none`, HS256 and anything else before touching a key.
    if (header.alg !== 'EdDSA' && header.alg !== 'Ed25519') throw invalid('algorithm_not_allowed');
    if (
      typeof unverified.iss !== 'string' ||
      typeof header.kid !== 'string' ||
      !OPERATOR_ID.test(unverified.iss) ||
      !storableClaim(header.kid)
    )
      throw invalid('malformed');
    const key = await this.signingKey(unverified.iss, header.kid, tx);
    if (!key) throw invalid('unknown_issuer_or_key');
    const now = this.clock.now();
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(
        token,
        createPublicKey({ key: key.public_jwk as import('node:crypto').JsonWebKey, format: 'jwk' }),
        {
          algorithms: ['EdDSA', 'Ed25519'],
          issuer: unverified.iss,
          audience: OPERATOR_TOKEN_AUDIENCE,
          requiredClaims: ['sub', 'exp', 'iat', 'jti'],
          clockTolerance: CLOCK_SKEW_SECONDS,
          currentDate: now,
        },
      ));
    } catch (error) {
      throw tokenError(error);
    }
    const { sub, exp, iat, jti } = payload as { sub: unknown; exp: number; iat: number; jti: unknown };
    // Both are stored (the user's id; the id spent against replay): text PostgreSQL holds.
    if (!storableClaim(sub)) throw invalid('invalid_claim_sub');
    if (!storableClaim(jti)) throw invalid('invalid_claim_jti');
    if (exp - iat > MAX_OPERATOR_TOKEN_LIFETIME_SECONDS) throw invalid('lifetime_too_long');
    if (iat * 1000 > now.getTime() + CLOCK_SKEW_SECONDS * 1000) throw invalid('issued_in_future');
    const consumed = await tx.query(
      `INSERT INTO used_token_ids (operator_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [unverified.iss, jti, new Date((exp + CLOCK_SKEW_SECONDS) * 1000)],
    );
    if (consumed.rowCount === 0) throw invalid('token_replayed');
    const { iss: _iss, sub: _sub, aud: _aud, exp: _exp, iat: _iat, jti: _jti, nbf: _nbf, ...session } = payload;
    return {
      operatorId: key.operator_id,
      mode: key.mode,
      userId: sub,
      jti,
      expiresAt: new Date(exp * 1000),
      session,
    };
  }

  /** Background purge of consumed token ids that can no longer be replayed. */
  async purgeUsedIds(batch = 1000): Promise<number> {
    const result = await this.db.query(
      `DELETE FROM used_token_ids WHERE ctid IN (SELECT ctid FROM used_token_ids WHERE expires_at < $1 LIMIT $2)`,
      [this.clock.now(), batch],
    );
    return result.rowCount ?? 0;
  }
}
