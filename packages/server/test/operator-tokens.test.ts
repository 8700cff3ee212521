import assert from 'node:assert/strict';
import { createSecretKey, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { type JWK, SignJWT } from 'jose';
import { errorOf, startTestApp } from './harness.ts';
import { exchange, manualClock, widgetCall } from './widget-fixtures.ts';

function ed25519(kid: string): { privateKey: KeyObject; jwk: JWK } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, jwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid } };
}

describe('operator-signed session tokens', async () => {
  const clock = manualClock();
  const t = await startTestApp({ clock });
  const key = ed25519('key-2026');
  const register = (jwk: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/v1/signing_keys', headers: t.auth, payload: { jwk } });
  assert.equal((await register(key.jwk as Record<string, unknown>)).statusCode, 201);

  const nowSeconds = () => Math.floor(clock.now().getTime() / 1000);
  /** A token as an operator would sign it; each override breaks one rule. */
  async function token(
    overrides: {
      claims?: Record<string, unknown>;
      kid?: string;
      key?: KeyObject;
      lifetime?: number;
      audience?: string;
    } = {},
  ) {
    const iat = nowSeconds();
    return new SignJWT({ operation: 'deposit', currency: 'USD', ...overrides.claims })
      .setProtectedHeader({ alg: 'EdDSA', kid: overrides.kid ?? 'key-2026' })
      .setIssuer(t.accountId)
      .setSubject('user-42')
      .setAudience(overrides.audience ?? 'rampart')
      .setIssuedAt(iat)
      .setExpirationTime(iat + (overrides.lifetime ?? 300))
      .setJti(randomUUID())
      .sign(overrides.key ?? key.privateKey);
  }
  const invalidReason = async (operatorToken: string) => {
    const response = await exchange(t, { operator_token: operatorToken });
    assert.equal(response.statusCode, 401, response.body);
    const error = errorOf(response);
    assert.equal(error.code, 'session_invalid');
    assert.equal(error.retryable, false);
    return error.details['reason'];
  };

  test('a registered key must be a public Ed25519 JWK with a kid', async () => {
    const { jwk: withPrivate } = ed25519('k2');
    const privateJwk = { ...withPrivate, d: 'AAAA' };
    const response = await register(privateJwk as Record<string, unknown>);
    assert.equal(response.statusCode, 422);
    assert.equal(errorOf(response).details['field'], 'jwk.d');
    assert.equal(errorOf(await register({ kty: 'RSA', kid: 'r' })).details['field'], 'jwk.kty');
    const again = await register(key.jwk as Record<string, unknown>);
    assert.equal(again.statusCode, 409);
    assert.equal(errorOf(again).code, 'resource_exists');
  });

  test('a valid token opens a session for its subject without a server-to-server call', async () => {
    const response = await exchange(t, { operator_token: await token() });
    assert.equal(response.statusCode, 200, response.body);
    const widget = { authorization: `Bearer ${response.json().widget_token}` };
    const validated = await widgetCall(t, widget, '/widget/v1/session/validate');
    assert.equal(validated.statusCode, 200);
    assert.equal(validated.json().userId, 'user-42');
    assert.equal(validated.json().session.currency, 'USD');
  });

  test('a token’s locks hold in the widget; a session claim of the wrong form is refused', async () => {
    const locked = await exchange(t, {
      operator_token: await token({ claims: { amount: '25.00', locks: { amount: true, currency: true } } }),
    });
    assert.equal(locked.statusCode, 200, locked.body);
    const widget = { authorization: `Bearer ${locked.json().widget_token}` };
    const changed = await widgetCall(t, widget, '/widget/v1/payments', {
      method: 'card',
      amount: '999.00',
      currency: 'EUR',
    });
    assert.deepEqual([errorOf(changed).code, errorOf(changed).details['field']], ['invalid_value', 'currency']);
    for (const [claims, field] of [
      [{ currency: 'U$D' }, 'currency'],
      [{ network: 7 }, 'network'],
      [{ language: 'english' }, 'language'],
      [{ theme: 'neon' }, 'theme'],
      [{ locks: { amount: 'yes' } }, 'locks'],
      [{ locks: { limit: true } }, 'locks'],
    ] as const) {
      const refused = await exchange(t, { operator_token: await token({ claims }) });
      assert.equal(refused.statusCode, 422, `${field}: ${refused.body}`);
      assert.deepEqual([errorOf(refused).code, errorOf(refused).details['field']], ['invalid_value', field]);
    }
    // A claim Rampart does not know is ignored, as JWT asks.
    assert.equal(
      (await exchange(t, { operator_token: await token({ claims: { tenant_hint: 'x' } }) })).statusCode,
      200,
    );
  });

  test('a subject or jti the database could not hold (a NUL) answers session_invalid, never a 5xx', async () => {
    const signed = (claims: { sub?: string; jti?: string }) => {
      const iat = nowSeconds();
      return new SignJWT({ operation: 'deposit' })
        .setProtectedHeader({ alg: 'EdDSA', kid: 'key-2026' })
        .setIssuer(t.accountId)
        .setSubject(claims.sub ?? 'user-42')
        .setAudience('rampart')
        .setIssuedAt(iat)
        .setExpirationTime(iat + 60)
        .setJti(claims.jti ?? randomUUID())
        .sign(key.privateKey);
    };
    assert.equal(await invalidReason(await signed({ jti: `a\u0000${randomUUID()}` })), 'invalid_claim_jti');
    assert.equal(await invalidReason(await signed({ sub: 'user\u00004' })), 'invalid_claim_sub');
  });

  test('a replayed jti is refused', async () => {
    const once = await token();
    assert.equal((await exchange(t, { operator_token: once })).statusCode, 200);
    assert.equal(await invalidReason(once), 'token_replayed');
  });

  test('bad signature, unknown kid, wrong issuer, wrong audience and malformed tokens answer session_invalid', async () => {
    assert.equal(await invalidReason(await token({ key: ed25519('key-2026').privateKey })), 'bad_signature');
    assert.equal(await invalidReason(await token({ kid: 'unknown-kid' })), 'unknown_issuer_or_key');
    /** Signed with the operator's key, but naming another issuer. */
    const issuedBy = (issuer: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid: 'key-2026' })
        .setIssuer(issuer)
        .setSubject('user-42')
        .setAudience('rampart')
        .setIssuedAt(nowSeconds())
        .setExpirationTime(nowSeconds() + 60)
        .setJti(randomUUID())
        .sign(key.privateKey);
    assert.equal(await invalidReason(await issuedBy('op_someone_else')), 'unknown_issuer_or_key');
    assert.equal(await invalidReason(await token({ audience: 'someone-else' })), 'invalid_claim_aud');
    assert.equal(await invalidReason('eyJhbGciOiJFZERTQSJ9.not-json.sig'), 'malformed');
    // An issuer or key id no operator could have: refused before the database sees it.
    assert.equal(await invalidReason(await issuedBy(`${t.accountId}\u0000`)), 'malformed');
    assert.equal(await invalidReason(await token({ kid: 'key\u00002026' })), 'malformed');
  });

  test('alg none and HS256 are refused before any key is used', async () => {
    const header = (alg: string) => Buffer.from(JSON.stringify({ alg, kid: 'key-2026' })).toString('base64url');
    const body = Buffer.from(
      JSON.stringify({
        iss: t.accountId,
        sub: 'user-42',
        aud: 'rampart',
        iat: nowSeconds(),
        exp: nowSeconds() + 60,
        jti: randomUUID(),
      }),
    ).toString('base64url');
    assert.equal(await invalidReason(`${header('none')}.${body}.`), 'algorithm_not_allowed');
    const hs256 = await new SignJWT({ sub: 'user-42', jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', kid: 'key-2026' })
      .setIssuer(t.accountId)
      .setAudience('rampart')
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(createSecretKey(Buffer.from(key.jwk.x!, 'base64url')));
    assert.equal(await invalidReason(hs256), 'algorithm_not_allowed');
  });

  test('a lifetime over five minutes is refused', async () => {
    assert.equal(await invalidReason(await token({ lifetime: 301 })), 'lifetime_too_long');
  });

  test('an expired token answers session_expired, retryable: refresh and carry on', async () => {
    const expired = await token({ lifetime: 60 });
    clock.advance(120);
    const response = await exchange(t, { operator_token: expired });
    assert.equal(response.statusCode, 401);
    const error = errorOf(response);
    assert.equal(error.code, 'session_expired');
    assert.equal(error.retryable, true);
    assert.equal((await exchange(t, { operator_token: await token() })).statusCode, 200);
  });

  test('clock skew of up to 30 seconds is tolerated', async () => {
    const skewed = await token({ lifetime: 60 });
    clock.advance(80);
    assert.equal((await exchange(t, { operator_token: skewed })).statusCode, 200);
  });

  test('a revoked key’s tokens are refused at once', async () => {
    const other = ed25519('key-old');
    await register(other.jwk as Record<string, unknown>);
    const revoked = await t.app.inject({ method: 'POST', url: '/v1/signing_keys/key-old/revoke', headers: t.auth });
    assert.equal(revoked.json().status, 'revoked');
    assert.equal(await invalidReason(await token({ kid: 'key-old', key: other.privateKey })), 'unknown_issuer_or_key');
  });
});
