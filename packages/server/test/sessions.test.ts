import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { errorOf, startTestApp } from './harness.ts';
import { createSession, exchange, manualClock, widgetCall, widgetSession } from './widget-fixtures.ts';

describe('server-created sessions', async () => {
  const clock = manualClock();
  const t = await startTestApp({ clock });

  test('creating a session answers its id, widget URL, expiry and a single-use init token', async () => {
    const session = await createSession(t, {
      currency: 'usdt',
      network: 'trc20',
      amount: '25.00',
      locks: { currency: true, amount: false },
      redirect_url: 'https://operator.example/done',
      language: 'en',
      theme: 'dark',
      client_ip: '203.0.113.9',
    });
    assert.match(session.id, /^ses_/);
    assert.match(session.init_token, /^it_/);
    assert.equal(session.status, 'open');
    assert.match(session.widget_url, new RegExp(`/widget/\\?session=${session.id}$`));
    const fetched = await t.app.inject({ method: 'GET', url: `/v1/sessions/${session.id}`, headers: t.auth });
    const body = fetched.json();
    assert.equal(body.currency, 'USDT');
    assert.equal(body.network, 'TRC20');
    assert.deepEqual(body.locks, { currency: true, amount: false });
    assert.equal(body.client_ip, '203.0.113.9');
    assert.equal(body.init_token, undefined, 'the init token is shown once');
  });

  test('the init token exchanges once for a short-lived EdDSA widget token verifiable with the JWKS', async () => {
    const session = await createSession(t);
    const first = await exchange(t, { init_token: session.init_token });
    assert.equal(first.statusCode, 200);
    const { widget_token: token, expires_at: expiresAt } = first.json();
    assert.equal(decodeProtectedHeader(token).alg, 'EdDSA');
    const lifetime = (new Date(expiresAt).getTime() - clock.now().getTime()) / 1000;
    assert.ok(lifetime > 0 && lifetime <= 300, `lifetime ${lifetime}`);
    const jwks = (await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { currentDate: clock.now() });
    assert.equal(payload.sub, session.id);

    const second = await exchange(t, { init_token: session.init_token });
    assert.equal(second.statusCode, 409);
    const error = errorOf(second);
    assert.equal(error.code, 'init_token_used');
    assert.equal(error.retryable, false);
  });

  test('an unknown init token answers session_invalid', async () => {
    const response = await exchange(t, { init_token: 'it_nope' });
    assert.equal(response.statusCode, 401);
    const error = errorOf(response);
    assert.equal(error.code, 'session_invalid');
    assert.equal(error.retryable, false);
  });

  test('a cancelled session answers session_not_open to the widget and to a late exchange', async () => {
    const { session, widget } = await widgetSession(t);
    const cancelled = await t.app.inject({ method: 'POST', url: `/v1/sessions/${session.id}/cancel`, headers: t.auth });
    assert.equal(cancelled.statusCode, 200);
    assert.equal(cancelled.json().status, 'cancelled');
    const validate = await widgetCall(t, widget, '/widget/v1/session/validate');
    assert.equal(validate.statusCode, 409);
    const error = errorOf(validate);
    assert.equal(error.code, 'session_not_open');
    assert.equal(error.details['status'], 'cancelled');

    const unused = await createSession(t);
    await t.app.inject({ method: 'POST', url: `/v1/sessions/${unused.id}/cancel`, headers: t.auth });
    assert.equal(errorOf(await exchange(t, { init_token: unused.init_token })).code, 'session_not_open');
  });

  test('unknown and other operators’ session ids answer session_not_found', async () => {
    const missing = await t.app.inject({ method: 'GET', url: '/v1/sessions/ses_nope', headers: t.auth });
    assert.equal(missing.statusCode, 404);
    assert.equal(errorOf(missing).code, 'session_not_found');
    const mine = await createSession(t);
    const other = await t.operators.create({ name: 'Other' });
    const foreign = await t.app.inject({
      method: 'GET',
      url: `/v1/sessions/${mine.id}`,
      headers: { authorization: `Bearer ${other.key.secret}` },
    });
    assert.equal(foreign.statusCode, 404);
    assert.equal(errorOf(foreign).code, 'session_not_found');
  });

  test('the widget renews its token while the session is open', async () => {
    const { widget } = await widgetSession(t);
    clock.advance(200);
    const refreshed = await widgetCall(t, widget, '/widget/v1/session/refresh');
    assert.equal(refreshed.statusCode, 200);
    clock.advance(200); // the first token is now past its five minutes
    const stale = await widgetCall(t, widget, '/widget/v1/session/validate');
    assert.equal(stale.statusCode, 401);
    const error = errorOf(stale);
    assert.equal(error.code, 'session_expired');
    assert.equal(error.retryable, true);
    const fresh = { authorization: `Bearer ${refreshed.json().widget_token}` };
    assert.equal((await widgetCall(t, fresh, '/widget/v1/session/validate')).statusCode, 200);
  });

  test('a session past its TTL answers session_ttl_expired (not retryable: a new session is needed), and the sweep marks it with an event', async () => {
    const { session } = await widgetSession(t);
    const late = await createSession(t);
    clock.advance(1801);
    const response = await exchange(t, { init_token: late.init_token });
    assert.equal(response.statusCode, 409);
    const error = errorOf(response);
    assert.deepEqual(
      { code: error.code, retryable: error.retryable, details: error.details },
      { code: 'session_ttl_expired', retryable: false, details: { reason: 'session_ttl', session_id: late.id } },
    );
    const fetched = (await t.app.inject({ method: 'GET', url: `/v1/sessions/${session.id}`, headers: t.auth })).json();
    assert.equal(fetched.status, 'expired');
    const swept = (
      await t.db.query("SELECT count(*)::int AS n FROM events WHERE type = 'session.expired' AND subject_id = $1", [
        session.id,
      ])
    ).rows[0]!.n;
    assert.equal(swept, 0, 'not yet swept');
    const expire = t.app.jobs.find((job) => job.name === 'expire-sessions')!;
    assert.ok(((await expire.run()) as number) >= 2);
    const { rows } = await t.db.query(
      "SELECT count(*)::int AS n FROM events WHERE type = 'session.expired' AND subject_id = $1",
      [session.id],
    );
    assert.equal(rows[0]!.n, 1);
    const stored = await t.db.query('SELECT status FROM sessions WHERE id = $1', [session.id]);
    assert.equal(stored.rows[0]!.status, 'expired');
  });

  test('an expired token of a session that has ended answers how it ended, not "refresh the token"', async () => {
    const ended = await widgetSession(t);
    clock.advance(1500);
    const cancelled = await widgetSession(t);
    const open = await widgetSession(t);
    await t.app.inject({ method: 'POST', url: `/v1/sessions/${cancelled.session.id}/cancel`, headers: t.auth });
    clock.advance(301); // every token is past its five minutes; only `ended`'s session is past its 30 minutes…
    const answers = await Promise.all(
      [ended, cancelled, open].map(async ({ widget }) => {
        const error = errorOf(await widgetCall(t, widget, '/widget/v1/session/validate'));
        return [error.code, error.retryable];
      }),
    );
    assert.deepEqual(answers, [
      ['session_ttl_expired', false],
      ['session_not_open', false],
      ['session_expired', true], // …and an open session's token is refreshed
    ]);
    const forged = `${open.widget.authorization.slice(0, -4)}AAAA`;
    const invalid = errorOf(await widgetCall(t, { authorization: forged }, '/widget/v1/session/validate'));
    assert.equal(invalid.code, 'session_invalid', 'a token that is not genuine is judged before its expiry');
  });

  test('an init token left unused for an hour answers session_ttl_expired, though its session lives on', async () => {
    const ttl = (seconds: number) =>
      t.app.inject({
        method: 'PATCH',
        url: '/v1/operator/settings',
        headers: t.auth,
        payload: { session_ttl_seconds: seconds },
      });
    assert.equal((await ttl(7200)).statusCode, 200);
    try {
      const session = await createSession(t);
      clock.advance(3601);
      const response = await exchange(t, { init_token: session.init_token });
      assert.equal(response.statusCode, 409);
      const error = errorOf(response);
      assert.deepEqual(
        { code: error.code, retryable: error.retryable, details: error.details },
        {
          code: 'session_ttl_expired',
          retryable: false,
          details: { reason: 'init_token_expired', session_id: session.id },
        },
      );
      const fetched = await t.app.inject({ method: 'GET', url: `/v1/sessions/${session.id}`, headers: t.auth });
      assert.equal(fetched.json().status, 'open');
    } finally {
      assert.equal((await ttl(1800)).statusCode, 200);
    }
  });

  test('a missing or malformed widget token answers missing_token or session_invalid', async () => {
    const missing = await t.app.inject({ method: 'POST', url: '/widget/v1/session/validate' });
    assert.equal(errorOf(missing).code, 'missing_token');
    const malformed = await widgetCall(t, { authorization: 'Bearer not.a.jwt' }, '/widget/v1/session/validate');
    assert.equal(malformed.statusCode, 401);
    assert.equal(errorOf(malformed).code, 'session_invalid');
  });

  test('invalid session input answers field errors', async () => {
    const bad = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: t.auth,
      payload: { user_id: 'u', operation: 'deposit', client_ip: 'not-an-ip' },
    });
    assert.equal(bad.statusCode, 422);
    assert.equal(errorOf(bad).details['field'], 'client_ip');
    const missing = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: t.auth,
      payload: { user_id: 'u' },
    });
    assert.equal(missing.statusCode, 400);
    const error = errorOf(missing);
    assert.equal(error.code, 'missing_parameter');
    assert.equal(error.details['field'], 'operation');
  });
});
