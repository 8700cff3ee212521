import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorOf, startTestApp, type TestApp } from './harness.ts';
import { widgetCall, widgetSession } from './widget-fixtures.ts';

const NEW_YORK = '72.229.28.185';
const INDIANA = '4.4.4.4';
const LONDON = '81.2.69.142';

async function settings(t: TestApp, patch: Record<string, unknown>) {
  const response = await t.app.inject({
    method: 'PATCH',
    url: '/v1/operator/settings',
    headers: t.auth,
    payload: patch,
  });
  assert.equal(response.statusCode, 200, response.body);
}

async function check(t: TestApp, widget: Record<string, string>, body: Record<string, unknown> = {}) {
  return widgetCall(t, widget, '/widget/v1/actions/check', body);
}

/** The gate error a check answers, with the envelope's fixed fields asserted. */
async function blockedBy(t: TestApp, widget: Record<string, string>, body: Record<string, unknown> = {}) {
  const response = await check(t, widget, body);
  assert.equal(response.statusCode, 403, response.body);
  const error = errorOf(response);
  assert.equal(error.retryable, false);
  return error;
}

describe('compliance gates, one condition at a time', async () => {
  const t = await startTestApp({ sandbox: true }); // the providers the settings name are the sandbox's
  await settings(t, { required_gates: { terms: true, email: true, phone: true, kyc: 'all', geo: true } });
  await t.app.inject({
    method: 'PUT',
    url: '/v1/users/gated',
    headers: t.auth,
    payload: { email: 'gated@example.com', phone: '+14155550123', country: 'US', state: 'IN' },
  });
  await t.app.inject({
    method: 'POST',
    url: '/v1/terms',
    headers: t.auth,
    payload: { version: '2026-01', url: 'https://operator.example/terms/2026-01' },
  });
  const { widget } = await widgetSession(t, { user_id: 'gated', client_ip: INDIANA });

  test('validate reports each gate and the permissions', async () => {
    const response = await widgetCall(t, widget, '/widget/v1/session/validate');
    assert.equal(response.statusCode, 200);
    const body = response.json();
    assert.equal(body.userId, 'gated');
    assert.deepEqual(
      Object.fromEntries(Object.entries(body.gates).map(([k, v]) => [k, (v as { completed: boolean }).completed])),
      { terms: false, 'email-verify': false, 'phone-verify': false, kyc: false, geoip: true },
    );
    assert.equal(body.gates.geoip.description, 'IP address in US-IN');
    assert.deepEqual(body.permissions['deposit-simbank'], { granted: true, description: 'Deposit with simbank' });
    assert.equal(body.permissions['sell-simcrypto'].granted, false);
    assert.equal(body.permissions['sell-simcrypto'].denyReason, 'Off-ramp not enabled');
  });

  test('terms: not accepted, then accepted; a new version opens the gate again', async () => {
    const error = await blockedBy(t, widget);
    assert.equal(error.code, 'terms_not_accepted');
    assert.equal(error.details['terms_version'], '2026-01');
    const old = await widgetCall(t, widget, '/widget/v1/terms/accept', { version: '2025-01' });
    assert.equal(errorOf(old).code, 'invalid_value');
    assert.equal((await widgetCall(t, widget, '/widget/v1/terms/accept', { version: '2026-01' })).statusCode, 200);
    assert.notEqual((await blockedBy(t, widget)).code, 'terms_not_accepted');
    await t.app.inject({
      method: 'POST',
      url: '/v1/terms',
      headers: t.auth,
      payload: { version: '2026-02', url: 'https://operator.example/terms/2026-02' },
    });
    assert.equal((await blockedBy(t, widget)).details['terms_version'], '2026-02');
    assert.equal((await widgetCall(t, widget, '/widget/v1/terms/accept', { version: '2026-02' })).statusCode, 200);
  });

  test('links shown to users are http(s) only: a javascript: terms or KYC URL is refused', async () => {
    const terms = await t.app.inject({
      method: 'POST',
      url: '/v1/terms',
      headers: t.auth,
      payload: { version: 'evil', url: 'javascript:alert(document.cookie)' },
    });
    assert.equal(terms.statusCode, 422, terms.body);
    assert.deepEqual([errorOf(terms).code, errorOf(terms).details['field']], ['invalid_value', 'url']);
    const kyc = await t.app.inject({
      method: 'PATCH',
      url: '/v1/operator/settings',
      headers: t.auth,
      payload: { kyc_url: 'javascript:alert(1)' },
    });
    assert.equal(kyc.statusCode, 422, kyc.body);
    assert.deepEqual([errorOf(kyc).code, errorOf(kyc).details['field']], ['invalid_value', 'kyc_url']);
  });

  test('email: not verified until the one-time link from the outbox is opened', async () => {
    assert.equal((await blockedBy(t, widget)).code, 'email_not_verified');
    const sent = await widgetCall(t, widget, '/widget/v1/email/start');
    assert.equal(sent.statusCode, 200);
    assert.equal(sent.json().sent_to, 'gated@example.com');
    const outbox = (
      await t.app.inject({ method: 'GET', url: '/dev/outbox?format=json&to=gated@example.com', headers: t.auth })
    ).json();
    const link = /(\/widget\/v1\/email\/verify\?token=\S+)/.exec(outbox.data[0].body)![1]!;
    const opened = await t.app.inject({ method: 'GET', url: link });
    assert.equal(opened.statusCode, 200);
    assert.match(opened.body, /verified/);
    const reused = await t.app.inject({ method: 'GET', url: link });
    assert.equal(errorOf(reused).code, 'invalid_value', 'the link works once');
    const secret = new URL(link, 'http://x').searchParams.get('token')!;
    assert.ok(
      t.logs.some((line) => line.includes('/widget/v1/email/verify')),
      'the request is logged…',
    );
    assert.ok(!t.logs.some((line) => line.includes(secret)), '…without its token');
  });

  test('phone: not verified until the SMS code is entered; wrong codes are limited', async () => {
    assert.equal((await blockedBy(t, widget)).code, 'phone_not_verified');
    assert.equal((await widgetCall(t, widget, '/widget/v1/phone/start')).statusCode, 200);
    const sms = (
      await t.app.inject({ method: 'GET', url: '/dev/outbox?format=json&to=%2B14155550123', headers: t.auth })
    ).json();
    const code = /(\d{6})/.exec(sms.data[0].body)![1]!;
    const wrong = code === '000000' ? '111111' : '000000';
    const attempt = await widgetCall(t, widget, '/widget/v1/phone/verify', { code: wrong });
    assert.equal(attempt.statusCode, 422);
    assert.equal(errorOf(attempt).details['field'], 'code');
    assert.equal((await widgetCall(t, widget, '/widget/v1/phone/verify', { code })).json().phone_verified, true);
  });

  test('kyc: not started for a deposit, required for a withdrawal, failed, re-verification', async () => {
    const notStarted = await blockedBy(t, widget, { action: 'deposit' });
    assert.equal(notStarted.code, 'kyc_not_started');
    assert.match(String(notStarted.details['kyc_url']), /step=kyc/);
    const required = await blockedBy(t, widget, { action: 'withdrawal' });
    assert.equal(required.code, 'kyc_required');
    assert.ok(required.details['kyc_url']);

    await t.app.inject({
      method: 'POST',
      url: '/v1/users/gated/kyc',
      headers: t.auth,
      payload: { status: 'failed', reason: 'document_expired' },
    });
    const failed = await blockedBy(t, widget);
    assert.equal(failed.code, 'kyc_failed');
    assert.equal(failed.details['reason'], 'document_expired');

    await t.app.inject({
      method: 'POST',
      url: '/v1/users/gated/kyc',
      headers: t.auth,
      payload: { status: 'verified' },
    });
    const allowed = await check(t, widget);
    assert.equal(allowed.statusCode, 200);
    assert.deepEqual(allowed.json().providers, ['simbank', 'simcard', 'simcrypto']);

    await t.app.inject({
      method: 'POST',
      url: '/v1/users/gated/reverification',
      headers: t.auth,
      payload: { reason: 'risk' },
    });
    const again = await blockedBy(t, widget);
    assert.equal(again.code, 'reverification_required');
    assert.ok(again.details['verification_url']);
    await t.app.inject({
      method: 'POST',
      url: '/v1/users/gated/kyc',
      headers: t.auth,
      payload: { status: 'verified' },
    });
  });

  test('a blocked customer is refused, with the reason', async () => {
    await t.app.inject({
      method: 'POST',
      url: '/v1/users/gated/block',
      headers: t.auth,
      payload: { reason: 'fraud review' },
    });
    const error = await blockedBy(t, widget);
    assert.equal(error.code, 'customer_blocked');
    assert.equal(error.details['reason'], 'fraud review');
    await t.app.inject({ method: 'POST', url: '/v1/users/gated/unblock', headers: t.auth });
    assert.equal((await check(t, widget)).statusCode, 200);
  });

  test('sell without off-ramp answers offramp_not_enabled', async () => {
    const error = await blockedBy(t, widget, { action: 'sell' });
    assert.equal(error.code, 'offramp_not_enabled');
  });
});

describe('geofence and provider permissions', async () => {
  const t = await startTestApp({ sandbox: true }); // the providers the settings name are the sandbox's
  await settings(t, {
    required_gates: { terms: false, email: false, phone: false, kyc: 'none', geo: true },
    blocked_jurisdictions: ['US-NY', 'KP'],
    providers: {
      deposit: [
        { provider: 'simcrypto', blocked_jurisdictions: ['GB'] },
        { provider: 'simbank', blocked_jurisdictions: [] },
      ],
    },
  });

  test('a client IP in a blocked state answers geofence_blocked with stateCode and reason', async () => {
    const { widget } = await widgetSession(t, { user_id: 'ny-user', client_ip: NEW_YORK });
    const error = await blockedBy(t, widget);
    assert.equal(error.code, 'geofence_blocked');
    assert.equal(error.details['stateCode'], 'NY');
    assert.equal(error.details['country'], 'US');
    assert.match(String(error.details['reason']), /NY/);
    const validate = (await widgetCall(t, widget, '/widget/v1/session/validate')).json();
    assert.equal(validate.gates.geoip.completed, false);
  });

  test('a provider denied in the user’s jurisdiction falls back to a permitted one', async () => {
    const { widget } = await widgetSession(t, { user_id: 'uk-user', client_ip: LONDON });
    const permissions = (await widgetCall(t, widget, '/widget/v1/session/validate')).json().permissions;
    assert.deepEqual(permissions['deposit-simcrypto'], {
      granted: false,
      description: 'Deposit with simcrypto',
      denyReason: 'Blocked in GB',
    });
    const allowed = await check(t, widget);
    assert.equal(allowed.statusCode, 200);
    assert.deepEqual(allowed.json().providers, ['simbank']);
    const denied = await blockedBy(t, widget, { provider: 'simcrypto' });
    assert.equal(denied.code, 'action_not_permitted');
    assert.equal(denied.details['denyReason'], 'Blocked in GB');
    assert.equal(denied.details['provider'], 'simcrypto');
  });

  test('an address with no location is refused in live mode', async () => {
    const live = await t.operators.keys.issue(t.operatorId, { mode: 'live', scope: 'full' });
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { authorization: `Bearer ${live.secret}` },
      payload: { user_id: 'hidden', operation: 'deposit', client_ip: '10.1.2.3' },
    });
    const exchanged = await t.app.inject({
      method: 'POST',
      url: '/widget/v1/session/exchange',
      payload: { init_token: created.json().init_token },
    });
    const widget = { authorization: `Bearer ${exchanged.json().widget_token}` };
    assert.equal((await blockedBy(t, widget)).code, 'geofence_blocked');
  });

  test('the widget API refuses a page origin the operator has not allowed', async () => {
    const { widget } = await widgetSession(t, { user_id: 'web', client_ip: INDIANA });
    const foreign = await t.app.inject({
      method: 'POST',
      url: '/widget/v1/session/validate',
      headers: { ...widget, origin: 'https://phish.example' },
    });
    assert.equal(foreign.statusCode, 403);
    assert.equal(errorOf(foreign).code, 'origin_not_allowed');
    // Through the partner API, so that the app's own cache of the operator is updated at once.
    const allowing = await t.app.inject({
      method: 'PATCH',
      url: '/v1/operator',
      headers: t.auth,
      payload: { origin_allowlist: ['https://casino.example'] },
    });
    assert.equal(allowing.statusCode, 200, allowing.body);
    const allowed = await t.app.inject({
      method: 'POST',
      url: '/widget/v1/session/validate',
      headers: { ...widget, origin: 'https://casino.example' },
    });
    assert.equal(allowed.statusCode, 200);
  });

  test('a refused page origin does not use up the init token: the allowed page can still exchange it', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: t.auth,
      payload: { user_id: 'origin-first', operation: 'deposit', client_ip: INDIANA },
    });
    const exchange = (origin: string) =>
      t.app.inject({
        method: 'POST',
        url: '/widget/v1/session/exchange',
        headers: { origin },
        payload: { init_token: created.json().init_token },
      });
    const refused = await exchange('https://phish.example');
    assert.equal(refused.statusCode, 403, refused.body);
    assert.equal(errorOf(refused).code, 'origin_not_allowed');
    const allowed = await exchange('https://casino.example');
    assert.equal(allowed.statusCode, 200, allowed.body);
  });

  test("the widget's own page is allowed without RAMPART_PUBLIC_URL: its Origin is the address it calls", async () => {
    const { widget } = await widgetSession(t, { user_id: 'own-page', client_ip: INDIANA });
    const from = (origin: string, host: string) =>
      t.app.inject({ method: 'POST', url: '/widget/v1/session/validate', headers: { ...widget, origin, host } });
    assert.equal((await from('http://rampart.internal:8080', 'rampart.internal:8080')).statusCode, 200);
    // Another host, port or scheme is another site.
    for (const [origin, host] of [
      ['http://rampart.internal:8080', 'other.internal:8080'],
      ['http://rampart.internal:9090', 'rampart.internal:8080'],
      ['https://rampart.internal:8080', 'rampart.internal:8080'],
    ] as const) {
      const refused = await from(origin, host);
      assert.equal(refused.statusCode, 403, `${origin} calling ${host}`);
      assert.equal(errorOf(refused).code, 'origin_not_allowed');
    }
  });
});
