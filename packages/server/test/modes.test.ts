import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { OPERATOR_TOKEN_AUDIENCE } from '@rampart/core';
import { HDKey } from '@scure/bip32';
import { SignJWT } from 'jose';
import { errorOf, startTestApp } from './harness.ts';
import {
  BANK_ACCOUNT,
  CARD_3DS,
  cardWebhook,
  createPayment,
  openForPayments,
  signedCardEvent,
  WALLET_XPUB,
} from './payment-fixtures.ts';
import { eventually, listedEvents } from './webhooks-fixtures.ts';
import { kycProfile, widgetCall, widgetSession } from './widget-fixtures.ts';

/**
 * Test and live are two tenants of one operator. Test keys are handed to developers and
 * CI, and leak more than live ones: nothing a test key does may reach a live user, live
 * setting or live resource, and a live key sees nothing of test mode.
 */
describe('test and live modes of one operator', async () => {
  const t = await startTestApp({ sandbox: true });
  const testAuth = t.auth;
  const live = await t.operators.keys.issue(t.operatorId, { mode: 'live', scope: 'full' });
  const liveAuth = { authorization: `Bearer ${live.secret}` };
  const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, auth: object, payload?: object) =>
    t.app.inject({ method, url, headers: { ...auth }, ...(payload ? { payload } : {}) });

  test('both keys name the same operator, each in its own mode', async () => {
    const asTest = (await call('GET', '/v1/operator', testAuth)).json();
    const asLive = (await call('GET', '/v1/operator', liveAuth)).json();
    assert.deepEqual([asTest.id, asTest.mode, asLive.id, asLive.mode], [t.accountId, 'test', t.accountId, 'live']);
  });

  test('a test key changes only test settings', async () => {
    const changed = await call('PATCH', '/v1/operator/settings', testAuth, {
      required_gates: { terms: false, email: false, phone: false, kyc: 'none', geo: false },
    });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.equal(changed.json().required_gates.kyc, 'none');
    const liveSettings = (await call('GET', '/v1/operator/settings', liveAuth)).json();
    assert.notEqual(liveSettings.required_gates.kyc, 'none', 'live KYC stays required');
  });

  test('a test key cannot verify, unblock or even see a live user', async () => {
    assert.equal((await call('PUT', '/v1/users/eve', liveAuth, { email: 'eve@example.com' })).statusCode, 201);
    assert.equal((await call('POST', '/v1/users/eve/block', liveAuth, { reason: 'fraud' })).statusCode, 200);

    assert.equal(errorOf(await call('GET', '/v1/users/eve', testAuth)).code, 'user_not_found');
    assert.equal(errorOf(await call('POST', '/v1/users/eve/unblock', testAuth, {})).code, 'user_not_found');
    // The test key's own `eve` is a test user: verifying it verifies nobody live.
    await call('PUT', '/v1/users/eve', testAuth, {});
    assert.equal((await call('POST', '/v1/users/eve/kyc', testAuth, { status: 'verified' })).statusCode, 200);

    const liveEve = (await call('GET', '/v1/users/eve', liveAuth)).json();
    assert.deepEqual([liveEve.kyc.status, liveEve.blocked], ['not_started', true]);
  });

  test('payments, their events and their references are seen only in their mode', async () => {
    await openForPayments(t);
    const deposit = await createPayment(t, { user_id: 'tess', amount: '12.00', reference: 'order-77' });
    assert.equal(deposit.json().status, 'completed', deposit.body);
    const id = deposit.json().id as string;

    assert.equal(errorOf(await call('GET', `/v1/payments/${id}`, liveAuth)).code, 'payment_not_found');
    assert.equal(errorOf(await call('GET', '/v1/payments/by_reference/order-77', liveAuth)).code, 'payment_not_found');
    assert.equal(errorOf(await call('POST', `/v1/payments/${id}/cancel`, liveAuth, {})).code, 'payment_not_found');
    assert.deepEqual((await call('GET', '/v1/payments', liveAuth)).json().data, []);
    const liveEvents = (await call('GET', '/v1/events', liveAuth)).json().data as { type: string }[];
    assert.ok(!liveEvents.some((event) => event.type.startsWith('payment.')), JSON.stringify(liveEvents));

    assert.equal((await call('GET', `/v1/payments/${id}`, testAuth)).json().status, 'completed');
    const [completed] = await listedEvents(t, { subject_id: id, type: 'payment.completed' });
    assert.equal(completed?.data.payment?.mode, 'test', 'its events say the mode too');
    assert.equal((await call('GET', `/v1/payments/${id}`, testAuth)).json().mode, 'test');
  });

  // Wired as `npm start` wires it: the sandbox serves test mode alone.
  test('the sandbox moves no live money and verifies no live user', async () => {
    await openForPayments(t, {}, liveAuth);
    const card = { user_id: 'lena', amount: '25.00' };
    const payOut = { user_id: 'lena', kind: 'withdrawal', method: 'bank', amount: '5.00', instrument: BANK_ACCOUNT };
    for (const attempt of [card, payOut]) {
      const refused = await createPayment(t, attempt, liveAuth);
      assert.equal(refused.statusCode, 403, refused.body);
      assert.equal(errorOf(refused).code, 'action_not_permitted');
      assert.equal(errorOf(refused).details['denyReason'], 'Not available in live mode');
    }
    assert.deepEqual((await call('GET', '/v1/payments', liveAuth)).json().data, [], 'nothing was recorded');
    await openForPayments(t);
    const asTest = await createPayment(t, card);
    assert.equal(asTest.json().status, 'completed', asTest.body);

    const profile = kycProfile('lena');
    for (const auth of [liveAuth, testAuth])
      assert.ok((await call('PUT', '/v1/users/lena', auth, profile)).statusCode < 300);
    const { widget: liveWidget } = await widgetSession(t, { user_id: 'lena' }, liveAuth);
    // The widget is told so before the user tries.
    const livePermissions = (await widgetCall(t, liveWidget, '/widget/v1/session/validate')).json().permissions;
    assert.deepEqual(livePermissions['deposit-simcard'], {
      granted: false,
      description: 'Deposit with simcard',
      denyReason: 'Not available in live mode',
    });
    const liveKyc = await widgetCall(t, liveWidget, '/widget/v1/kyc/start');
    assert.equal(liveKyc.statusCode, 503, liveKyc.body);
    assert.deepEqual(errorOf(liveKyc).details, { reason: 'no KYC provider configured for live mode' });
    const { widget: testWidget } = await widgetSession(t, { user_id: 'lena' });
    const testPermissions = (await widgetCall(t, testWidget, '/widget/v1/session/validate')).json().permissions;
    assert.equal(testPermissions['deposit-simcard'].granted, true);
    const testKyc = await widgetCall(t, testWidget, '/widget/v1/kyc/start');
    assert.equal(testKyc.statusCode, 200, testKyc.body);
    assert.match(testKyc.json().verification_url, /^http:\/\/127\.0\.0\.1:\d+\//);
  });

  test('terms and webhook endpoints published with a test key are not live', async () => {
    const published = await call('POST', '/v1/terms', testAuth, {
      version: 'test-1',
      url: 'https://operator.example/terms/test-1',
    });
    assert.equal(published.statusCode, 201, published.body);
    assert.equal((await call('GET', '/v1/terms/current', liveAuth)).json().terms, null);

    const endpoint = await call('POST', '/v1/webhook_endpoints', testAuth, { url: 'https://hooks.example/rampart' });
    assert.equal(endpoint.statusCode, 201, endpoint.body);
    assert.deepEqual((await call('GET', '/v1/webhook_endpoints', liveAuth)).json().data, []);
    const id = endpoint.json().id as string;
    assert.equal(errorOf(await call('GET', `/v1/webhook_endpoints/${id}`, liveAuth)).code, 'resource_not_found');
  });

  test('a test key cannot open or close the live allowlists', async () => {
    const { operators } = t;
    const other = await startTestApp({ database: t.db });
    const liveOther = await operators.keys.issue(other.operatorId, { mode: 'live', scope: 'full' });
    const closed = await other.app.inject({
      method: 'PATCH',
      url: '/v1/operator',
      headers: other.auth,
      payload: { ip_allowlist: ['203.0.113.0/24'] },
    });
    assert.equal(closed.json().ip_allowlist[0], '203.0.113.0/24');
    const asLive = await other.app.inject({
      method: 'GET',
      url: '/v1/operator',
      headers: { authorization: `Bearer ${liveOther.secret}` },
    });
    assert.deepEqual([asLive.statusCode, asLive.json().ip_allowlist], [200, []]);
    const asTest = await other.app.inject({ method: 'GET', url: '/v1/operator', headers: other.auth });
    assert.equal(errorOf(asTest).code, 'ip_not_allowed');
  });

  test('a signing key id names one key across both modes; its token opens a session in its mode', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'shared-kid' };
    assert.equal((await call('POST', '/v1/signing_keys', testAuth, { jwk })).statusCode, 201);
    const again = await call('POST', '/v1/signing_keys', liveAuth, { jwk });
    assert.equal(again.statusCode, 409, again.body);
    assert.equal(errorOf(again).code, 'resource_exists');

    const token = await new SignJWT({ operation: 'deposit' })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'shared-kid' })
      .setIssuer(t.accountId)
      .setSubject('tokened')
      .setAudience(OPERATOR_TOKEN_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('2m')
      .setJti('mode-jti-1')
      .sign(privateKey);
    const exchanged = await t.app.inject({
      method: 'POST',
      url: '/widget/v1/session/exchange',
      payload: { operator_token: token },
    });
    assert.equal(exchanged.statusCode, 200, exchanged.body);
    const sessionId = exchanged.json().session_id as string;
    const validated = await t.app.inject({
      method: 'POST',
      url: '/widget/v1/session/validate',
      headers: { authorization: `Bearer ${exchanged.json().widget_token}` },
    });
    assert.deepEqual([validated.json().operatorId, validated.json().mode], [t.accountId, 'test']);
    assert.equal((await call('GET', `/v1/sessions/${sessionId}`, testAuth)).json().mode, 'test');
    assert.equal(errorOf(await call('GET', `/v1/sessions/${sessionId}`, liveAuth)).code, 'session_not_found');
  });

  test('a wallet key registered in one mode cannot be registered in the other', async () => {
    const xpub = WALLET_XPUB;
    const asLive = await call('PATCH', '/v1/operator/settings', liveAuth, { crypto_xpubs: { ETH: xpub } });
    assert.equal(asLive.statusCode, 200, asLive.body);
    const asTest = await call('PATCH', '/v1/operator/settings', testAuth, { crypto_xpubs: { ETH: xpub } });
    assert.equal(asTest.statusCode, 422, asTest.body);
    assert.deepEqual([errorOf(asTest).code, errorOf(asTest).details['field']], ['invalid_value', 'crypto_xpubs.ETH']);
    // Nor the same wallet written another way (another depth byte, parent fingerprint or
    // child number): its chain code and public key derive the same addresses.
    const key = HDKey.fromExtendedKey(xpub);
    for (const reencoded of [
      new HDKey({ ...keyParts(key), depth: key.depth + 1 }).publicExtendedKey,
      new HDKey({ ...keyParts(key), parentFingerprint: key.parentFingerprint + 1, index: 7 }).publicExtendedKey,
    ]) {
      assert.notEqual(reencoded, xpub);
      const again = await call('PATCH', '/v1/operator/settings', testAuth, { crypto_xpubs: { ETHEREUM: reencoded } });
      assert.equal(again.statusCode, 422, again.body);
      assert.equal(errorOf(again).details['field'], 'crypto_xpubs.ETHEREUM');
    }
    // Text that only looks like a key (its checksum broken) is no key at all.
    const broken = `${xpub.slice(0, -1)}${xpub.endsWith('5') ? '6' : '5'}`;
    const refused = await call('PATCH', '/v1/operator/settings', testAuth, { crypto_xpubs: { TRC20: broken } });
    assert.deepEqual([refused.statusCode, errorOf(refused).details['field']], [422, 'crypto_xpubs.TRC20']);
  });

  test('the database refuses a row whose mode is not its tenant’s', async () => {
    await assert.rejects(
      t.db.query(
        `INSERT INTO api_keys (id, operator_id, mode, scope, secret_hash, last4, created_at)
         VALUES ('key_wrong_mode', $1, 'live', 'full', '\\x00', 'xxxx', now())`,
        [t.operatorId],
      ),
      /api_keys_tenant_mode/,
    );
  });
});

describe('a live payment or user that reached the sandbox before it served test mode alone', async () => {
  // As it was before: the sandbox served live mode too. Then the same database under `npm start`'s wiring.
  const before = await startTestApp({ sandbox: { live: true } });
  const live = await before.operators.keys.issue(before.operatorId, { mode: 'live', scope: 'full' });
  const liveAuth = { authorization: `Bearer ${live.secret}` };
  await openForPayments(before, {}, liveAuth);
  const pending = await createPayment(before, { user_id: 'old', amount: '500.00', instrument: CARD_3DS }, liveAuth);
  assert.equal(pending.json().status, 'pending', pending.body);
  const profile = kycProfile('old');
  await before.app.inject({ method: 'PUT', url: '/v1/users/old', headers: liveAuth, payload: profile });
  const { widget } = await widgetSession(before, { user_id: 'old' }, liveAuth);
  assert.equal((await widgetCall(before, widget, '/widget/v1/kyc/start')).statusCode, 200);
  const { body: forgedPayment } = await cardWebhook(before, pending.json().id, 'evt_forged_live', 'succeeded');
  await before.app.close();
  const now = await startTestApp({ sandbox: true, database: before.db });

  /** Waits until Rampart has tried to apply a recorded provider event, and answers its last error. */
  const lastError = (eventId: string) =>
    eventually(
      `${eventId} tried`,
      async () =>
        (
          await now.db.query<{ attempts: number; last_error: string | null }>(
            'SELECT attempts, last_error FROM provider_events WHERE event_id = $1',
            [eventId],
          )
        ).rows[0],
      (row) => row !== undefined && row.attempts > 0,
    ).then((row) => row?.last_error);

  test('is not completed by a sandbox webhook (whose secret is public)', async () => {
    assert.equal((await signedCardEvent(now, forgedPayment).deliver()).received, true);
    assert.equal(await lastError('evt_forged_live'), 'payment_not_found');
    const payment = await now.app.inject({
      method: 'GET',
      url: `/v1/payments/${pending.json().id}`,
      headers: liveAuth,
    });
    assert.equal(payment.json().status, 'pending');
    // The operator ends it: the sandbox is not asked (it no longer serves live mode).
    const cancel = await now.app.inject({
      method: 'POST',
      url: `/v1/payments/${pending.json().id}/cancel`,
      headers: liveAuth,
      payload: {},
    });
    assert.equal(cancel.json().status, 'cancelled', cancel.body);
  });

  test('is not verified by a sandbox KYC verdict', async () => {
    const { rows } = await now.db.query<{ applicant: string }>(
      'SELECT kyc_applicant_id AS applicant FROM end_users WHERE id = $1 AND kyc_applicant_id IS NOT NULL',
      ['old'],
    );
    const applicant = rows[0]!.applicant;
    const body = JSON.stringify({
      eventId: 'evt_forged_kyc',
      type: 'applicant.reviewed',
      applicantId: applicant,
      applicant: { id: applicant, status: 'verified' },
    });
    const ts = Math.floor(Date.now() / 1000);
    const signature = `t=${ts},v1=${createHmac('sha256', 'whsec_sim_kyc').update(`${ts}.${body}`).digest('hex')}`;
    const sent = await fetch(`${now.url}/v1/provider-webhooks/simkyc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sim-signature': signature },
      body,
    });
    assert.equal(sent.status, 200, await sent.text());
    assert.equal(await lastError('evt_forged_kyc'), 'user_not_found');
    const user = await now.app.inject({ method: 'GET', url: '/v1/users/old', headers: liveAuth });
    assert.equal(user.json().kyc.status, 'not_started');
  });
});

/** What an extended key is made of, to write it out again with other metadata. */
function keyParts(key: HDKey) {
  return {
    depth: key.depth,
    index: key.index,
    parentFingerprint: key.parentFingerprint,
    chainCode: key.chainCode!,
    publicKey: key.publicKey!,
  };
}
