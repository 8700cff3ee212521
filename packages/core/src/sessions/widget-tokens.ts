import { createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';
import { RampartError } from '@rampart/errors';
import { decodeJwt, errors, type JWK, jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../clock.ts';

export const WIDGET_TOKEN_ISSUER = 'rampart';
export const WIDGET_TOKEN_AUDIENCE = 'rampart-widget';
/** Widget tokens are short-lived; the widget renews them while the session is open. */
export const WIDGET_TOKEN_TTL_SECONDS = 300;

export interface WidgetClaims {
  sessionId: string;
  operatorId: string;
  userId: string;
  mode: 'test' | 'live';
  expiresAt: Date;
}

// DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const DAY_MS = 86_400_000;

/**
 * Signs and verifies widget tokens (EdDSA JWTs). The signing key rotates daily and
 * is derived from the master secret with HKDF, so every node has the same keys and
 * no private key is ever stored. The JWKS publishes yesterday's and today's keys:
 * a token signed just before midnight stays verifiable for its whole life.
 */
export class WidgetTokens {
  private readonly master: Buffer;
  private readonly clock: Clock;
  private readonly cache = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>();

  constructor(masterSecret: Buffer, clock: Clock) {
    if (masterSecret.length < 32) throw new Error('widget token master secret must be at least 32 bytes');
    this.master = masterSecret;
    this.clock = clock;
  }

  private kidFor(time: Date): string {
    return `wt_${time.toISOString().slice(0, 10).replaceAll('-', '')}`;
  }

  private keyPair(kid: string) {
    let pair = this.cache.get(kid);
    if (!pair) {
      const seed = Buffer.from(hkdfSync('sha256', this.master, 'rampart widget token', kid, 32));
      const privateKey = createPrivateKey({
        key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
        format: 'der',
        type: 'pkcs8',
      });
      pair = { privateKey, publicKey: createPublicKey(privateKey) };
      if (this.cache.size > 8) this.cache.clear();
      this.cache.set(kid, pair);
    }
    return pair;
  }

  private validKids(): string[] {
    const now = this.clock.now();
    return [this.kidFor(now), this.kidFor(new Date(now.getTime() - DAY_MS))];
  }

  async issue(claims: Omit<WidgetClaims, 'expiresAt'>, notAfter: Date): Promise<{ token: string; expiresAt: Date }> {
    const now = this.clock.now();
    const kid = this.kidFor(now);
    // Never outlive the session itself.
    const expiresMs = Math.min(now.getTime() + WIDGET_TOKEN_TTL_SECONDS * 1000, notAfter.getTime());
    const expiresAt = new Date(Math.floor(expiresMs / 1000) * 1000);
    const token = await new SignJWT({ opr: claims.operatorId, usr: claims.userId, mode: claims.mode })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
      .setIssuer(WIDGET_TOKEN_ISSUER)
      .setAudience(WIDGET_TOKEN_AUDIENCE)
      .setSubject(claims.sessionId)
      .setIssuedAt(Math.floor(now.getTime() / 1000))
      .setExpirationTime(expiresAt.getTime() / 1000)
      .sign(this.keyPair(kid).privateKey);
    return { token, expiresAt };
  }

  /**
   * The claims of a token that is genuine but expired (checked as at a second before its
   * expiry), so that its session can say whether a fresh token would help; undefined
   * for any other token.
   */
  async verifyExpired(token: string): Promise<WidgetClaims | undefined> {
    let exp: unknown;
    try {
      exp = decodeJwt(token).exp;
    } catch {
      return undefined;
    }
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return undefined;
    return this.verify(token, new Date((exp - 1) * 1000)).catch(() => undefined);
  }

  async verify(token: string, at: Date = this.clock.now()): Promise<WidgetClaims> {
    const kids = this.validKids();
    try {
      const { payload } = await jwtVerify(
        token,
        (header) => {
          if (!header.kid || !kids.includes(header.kid)) throw new errors.JWKSNoMatchingKey();
          return this.keyPair(header.kid).publicKey;
        },
        {
          issuer: WIDGET_TOKEN_ISSUER,
          audience: WIDGET_TOKEN_AUDIENCE,
          algorithms: ['EdDSA'],
          currentDate: at,
        },
      );
      const { sub, opr, usr, mode, exp } = payload as Record<string, unknown>;
      if (typeof sub !== 'string' || typeof opr !== 'string' || typeof usr !== 'string')
        throw new RampartError('session_invalid', { reason: 'missing_claims' });
      return {
        sessionId: sub,
        operatorId: opr,
        userId: usr,
        mode: mode === 'live' ? 'live' : 'test',
        expiresAt: new Date(Number(exp) * 1000),
      };
    } catch (error) {
      throw tokenError(error);
    }
  }

  jwks(): { keys: JWK[] } {
    return {
      keys: this.validKids().map((kid) => ({
        ...(this.keyPair(kid).publicKey.export({ format: 'jwk' }) as JWK),
        kid,
        alg: 'EdDSA',
        use: 'sig',
      })),
    };
  }
}

/** One translation of token failures for both token kinds: expired is retryable, the rest is not. */
export function tokenError(error: unknown): RampartError {
  if (error instanceof RampartError) return error;
  if (error instanceof errors.JWTExpired) return new RampartError('session_expired', { reason: 'token_expired' });
  const reason =
    error instanceof errors.JWSSignatureVerificationFailed
      ? 'bad_signature'
      : error instanceof errors.JWKSNoMatchingKey
        ? 'unknown_key'
        : error instanceof errors.JWTClaimValidationFailed
          ? `invalid_claim_${error.claim}`
          : error instanceof errors.JOSEAlgNotAllowed
            ? 'algorithm_not_allowed'
            : 'malformed';
  return new RampartError('session_invalid', { reason }, { cause: error });
}
