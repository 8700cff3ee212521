import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorOf, startTestApp } from './harness.ts';
import { manualClock } from './widget-fixtures.ts';

describe('operator authentication', async () => {
  const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
  const t = await startTestApp({ clock, env: { RAMPART_KEY_ROTATION_OVERLAP_SECONDS: '3600' } });
  const get = (headers: Record<string, string>, extra: { remoteAddress?: string } = {}) =>
    t.app.inject({ method: 'GET', url: '/v1/operator', headers, ...extra });

  test('a valid secret key reads its own operator', async () => {
    const response = await get(t.auth);
    assert.equal(response.statusCode, 200);
    const body = response.json();
    assert.equal(body.id, t.accountId);
    assert.equal(body.object, 'operator');
    assert.equal(body.key.scope, 'full');
    assert.equal(body.key.mode, 'test');
    assert.ok(response.headers['x-request-id']);
  });

  test('no Authorization header answers missing_token', async () => {
    const response = await get({});
    assert.equal(response.statusCode, 401);
    const error = errorOf(response);
    assert.equal(error.code, 'missing_token');
    assert.equal(error.type, 'authentication');
  });

  test('a malformed or unknown key answers invalid_token', async () => {
    for (const authorization of ['Bearer nope', 'Basic dXNlcjpwYXNz', `Bearer rk_test_${'A'.repeat(32)}`]) {
      const response = await get({ authorization });
      assert.equal(response.statusCode, 401, authorization);
      assert.equal(errorOf(response).code, 'invalid_token', authorization);
    }
  });

  test('keys are stored hashed: the database never holds the secret', async () => {
    const { rows } = await t.db.query('SELECT * FROM api_keys');
    assert.ok(rows.length > 0);
    assert.doesNotMatch(JSON.stringify(rows), new RegExp(t.secret.slice(8)));
  });

  test('a revoked key answers token_revoked at once', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: t.auth, payload: {} });
    assert.equal(created.statusCode, 201);
    const { key, secret } = created.json();
    assert.match(secret, /^rk_test_[0-9A-Za-z]{32}$/);
    assert.equal((await get({ authorization: `Bearer ${secret}` })).statusCode, 200);
    const revoked = await t.app.inject({ method: 'POST', url: `/v1/keys/${key.id}/revoke`, headers: t.auth });
    assert.equal(revoked.statusCode, 200);
    assert.equal(revoked.json().status, 'revoked');
    const response = await get({ authorization: `Bearer ${secret}` });
    assert.equal(response.statusCode, 401);
    assert.equal(errorOf(response).code, 'token_revoked');
  });

  test('a rotated key keeps working for the overlap, then answers token_expired', async () => {
    const created = (await t.app.inject({ method: 'POST', url: '/v1/keys', headers: t.auth, payload: {} })).json();
    const rotated = await t.app.inject({ method: 'POST', url: `/v1/keys/${created.key.id}/rotate`, headers: t.auth });
    assert.equal(rotated.statusCode, 201);
    const body = rotated.json();
    assert.notEqual(body.secret, created.secret);
    assert.equal(body.previous.status, 'expiring');
    assert.equal(body.previous.replaced_by, body.key.id);
    assert.equal((await get({ authorization: `Bearer ${created.secret}` })).statusCode, 200);
    assert.equal((await get({ authorization: `Bearer ${body.secret}` })).statusCode, 200);
    clock.advance(3601);
    const old = await get({ authorization: `Bearer ${created.secret}` });
    assert.equal(old.statusCode, 401);
    assert.equal(errorOf(old).code, 'token_expired');
    assert.equal((await get({ authorization: `Bearer ${body.secret}` })).statusCode, 200);
    const again = await t.app.inject({ method: 'POST', url: `/v1/keys/${created.key.id}/rotate`, headers: t.auth });
    assert.equal(again.statusCode, 412);
    assert.equal(errorOf(again).code, 'illegal_state_transition');
  });

  test('listing keys shows their state and never a secret', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/v1/keys', headers: t.auth });
    assert.equal(response.statusCode, 200);
    const { data } = response.json();
    assert.ok(data.length >= 3);
    assert.deepEqual(new Set(data.map((k: { status: string }) => k.status)), new Set(['active', 'revoked', 'expired']));
    assert.doesNotMatch(response.body, /rk_(test|live)_[0-9A-Za-z]{32}/);
  });

  test('a read-only key may read but a write answers insufficient_scope', async () => {
    const created = (
      await t.app.inject({ method: 'POST', url: '/v1/keys', headers: t.auth, payload: { scope: 'read_only' } })
    ).json();
    const readOnly = { authorization: `Bearer ${created.secret}` };
    assert.equal((await get(readOnly)).statusCode, 200);
    const write = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: readOnly, payload: {} });
    assert.equal(write.statusCode, 403);
    const error = errorOf(write);
    assert.equal(error.code, 'insufficient_scope');
    assert.equal(error.details['key_scope'], 'read_only');
    const secret = await t.app.inject({ method: 'GET', url: '/v1/operator/approval_secret', headers: readOnly });
    assert.equal(secret.statusCode, 403, 'nor a signing secret, though it is a GET');
    assert.equal(errorOf(secret).code, 'insufficient_scope');
    assert.equal(
      (await t.app.inject({ method: 'GET', url: '/v1/operator/approval_secret', headers: t.auth })).statusCode,
      200,
    );
  });

  test('a test key neither sees nor rotates nor revokes a live key (a live secret is never one test key away)', async () => {
    const live = await t.operators.keys.issue(t.operatorId, { mode: 'live', scope: 'full', description: null });
    const liveAuth = { authorization: `Bearer ${live.secret}` };
    const listed = (await t.app.inject({ method: 'GET', url: '/v1/keys', headers: t.auth })).json();
    assert.ok(!listed.data.some((k: { id: string }) => k.id === live.key.id), 'not listed to a test key');
    assert.ok(listed.data.every((k: { mode: string }) => k.mode === 'test'));
    for (const action of ['rotate', 'revoke']) {
      const response = await t.app.inject({
        method: 'POST',
        url: `/v1/keys/${live.key.id}/${action}`,
        headers: t.auth,
      });
      assert.equal(response.statusCode, 404, `${action}: ${response.body}`);
      assert.equal(errorOf(response).code, 'resource_not_found');
    }
    assert.equal((await get(liveAuth)).statusCode, 200, 'the live key still works');
    const own = (await t.app.inject({ method: 'GET', url: '/v1/keys', headers: liveAuth })).json();
    assert.deepEqual(
      own.data.map((k: { id: string }) => k.id),
      [live.key.id],
    );
    const revoked = await t.app.inject({ method: 'POST', url: `/v1/keys/${live.key.id}/revoke`, headers: liveAuth });
    assert.equal(revoked.statusCode, 200, 'a live key manages live keys');
  });

  test('another operator cannot see or touch this operator’s keys', async () => {
    const other = await t.operators.create({ name: 'Other' });
    const mine = (await t.app.inject({ method: 'GET', url: '/v1/keys', headers: t.auth })).json().data[0].id;
    const response = await t.app.inject({
      method: 'POST',
      url: `/v1/keys/${mine}/revoke`,
      headers: { authorization: `Bearer ${other.key.secret}` },
    });
    assert.equal(response.statusCode, 404);
    assert.equal(errorOf(response).code, 'resource_not_found');
    assert.equal((await get(t.auth)).statusCode, 200);
  });
});

describe('allowlists', async () => {
  const t = await startTestApp();
  const call = (remoteAddress: string, origin?: string) =>
    t.app.inject({
      method: 'GET',
      url: '/v1/operator',
      headers: { ...t.auth, ...(origin ? { origin } : {}) },
      remoteAddress,
    });

  test('malformed allowlist entries answer invalid_value naming the entry', async () => {
    const response = await t.app.inject({
      method: 'PATCH',
      url: '/v1/operator',
      headers: t.auth,
      payload: { ip_allowlist: ['10.0.0.0/8', '300.1.1.1'] },
    });
    assert.equal(response.statusCode, 422);
    const error = errorOf(response);
    assert.equal(error.code, 'invalid_value');
    assert.equal(error.details['field'], 'ip_allowlist[1]');
    // A block named by one of its hosts (which was meant?), or an IPv6 zone (a link of one
    // machine): refused as such, never stored half-understood.
    for (const entry of ['10.0.0.1/8', '203.0.113.7/24', '2001:db8::1/32', 'fe80::1%eth0']) {
      const refused = await t.app.inject({
        method: 'PATCH',
        url: '/v1/operator',
        headers: t.auth,
        payload: { ip_allowlist: ['10.0.0.0/8', entry] },
      });
      assert.equal(refused.statusCode, 422, `${entry}: ${refused.body}`);
      assert.deepEqual(
        [errorOf(refused).code, errorOf(refused).details['field']],
        ['invalid_value', 'ip_allowlist[1]'],
      );
    }
  });

  test('an IP outside the IPv4 and IPv6 CIDR allowlist answers ip_not_allowed', async () => {
    const set = await t.app.inject({
      method: 'PATCH',
      url: '/v1/operator',
      headers: t.auth,
      remoteAddress: '127.0.0.1',
      payload: { ip_allowlist: ['127.0.0.0/8', '203.0.113.0/24', '2001:db8::/32'] },
    });
    assert.equal(set.statusCode, 200);
    assert.deepEqual(set.json().ip_allowlist, ['127.0.0.0/8', '203.0.113.0/24', '2001:db8::/32']);
    assert.equal((await call('203.0.113.77')).statusCode, 200);
    assert.equal((await call('::ffff:203.0.113.9')).statusCode, 200);
    assert.equal((await call('2001:db8:1::5')).statusCode, 200);
    for (const ip of ['198.51.100.1', '2001:db9::1']) {
      const response = await call(ip);
      assert.equal(response.statusCode, 403, ip);
      const error = errorOf(response);
      assert.equal(error.code, 'ip_not_allowed');
      assert.equal(error.details['ip'], ip);
    }
  });

  test('a browser Origin not on the allowlist answers origin_not_allowed', async () => {
    const denied = await call('127.0.0.1', 'https://evil.example');
    assert.equal(denied.statusCode, 403);
    assert.equal(errorOf(denied).code, 'origin_not_allowed');
    await t.app.inject({
      method: 'PATCH',
      url: '/v1/operator',
      headers: t.auth,
      remoteAddress: '127.0.0.1',
      payload: { origin_allowlist: ['https://app.example.com'] },
    });
    assert.equal((await call('127.0.0.1', 'https://app.example.com')).statusCode, 200);
    assert.equal(errorOf(await call('127.0.0.1', 'https://app.example.com.evil.io')).code, 'origin_not_allowed');
  });
});

describe('trusted proxy', async () => {
  const t = await startTestApp({ env: { RAMPART_TRUSTED_PROXIES: '10.0.0.0/8' } });
  await t.operators.updateAllowlists(t.operatorId, { ip_allowlist: ['198.51.100.0/24'] });

  test('X-Forwarded-For is believed only from a configured proxy', async () => {
    const viaProxy = await t.app.inject({
      method: 'GET',
      url: '/v1/operator',
      headers: { ...t.auth, 'x-forwarded-for': '198.51.100.4' },
      remoteAddress: '10.1.1.1',
    });
    assert.equal(viaProxy.statusCode, 200);
    const spoofed = await t.app.inject({
      method: 'GET',
      url: '/v1/operator',
      headers: { ...t.auth, 'x-forwarded-for': '198.51.100.4' },
      remoteAddress: '192.0.2.1',
    });
    assert.equal(spoofed.statusCode, 403);
    assert.equal(errorOf(spoofed).details['ip'], '192.0.2.1');
  });
});

describe('rate limit', async () => {
  const t = await startTestApp({ env: { RAMPART_RATE_LIMIT_PER_MINUTE: '3' } });

  test('the request past the per-key limit answers rate_limited with Retry-After', async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal((await t.app.inject({ method: 'GET', url: '/v1/operator', headers: t.auth })).statusCode, 200);
    }
    const limited = await t.app.inject({ method: 'GET', url: '/v1/operator', headers: t.auth });
    assert.equal(limited.statusCode, 429);
    const error = errorOf(limited);
    assert.equal(error.code, 'rate_limited');
    assert.equal(error.retryable, true);
    assert.equal(error.details['retry_after'], 20);
    assert.equal(limited.headers['retry-after'], '20');
  });

  test('secret keys never appear in the logs', () => {
    assert.ok(t.logs.length > 0);
    assert.doesNotMatch(t.logs.join('\n'), new RegExp(t.secret));
  });
});
