import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createIdGenerator, EndUsers, EventLog, systemClock } from '@rampart/core';
import { DEFAULT_WEBHOOK_SECRETS, SIGNATURE_HEADER, signatureHeader } from '@rampart/simulator';
import { errorOf, startTestApp, type TestApp } from './harness.ts';
import { simulatorFault } from './payment-fixtures.ts';
import { eventually } from './webhooks-fixtures.ts';
import { widgetCall, widgetSession } from './widget-fixtures.ts';

/** A user with the profile a KYC provider needs, and a widget session for a deposit that requires KYC. */
async function userWith(t: TestApp, id: string, email: string) {
  const put = await t.app.inject({
    method: 'PUT',
    url: `/v1/users/${id}`,
    headers: t.auth,
    payload: {
      email,
      first_name: 'Ada',
      last_name: 'Lovelace',
      date_of_birth: '1990-04-01',
      country: 'US',
      state: 'IN',
    },
  });
  assert.ok(put.statusCode < 300, put.body);
  return (await widgetSession(t, { user_id: id })).widget;
}

/** KYC required for every action, the other gates off. */
async function requireKyc(t: TestApp) {
  const response = await t.app.inject({
    method: 'PATCH',
    url: '/v1/operator/settings',
    headers: t.auth,
    payload: { required_gates: { terms: false, email: false, phone: false, kyc: 'all', geo: false } },
  });
  assert.equal(response.statusCode, 200, response.body);
}

/** What the user does on the provider's hosted page: document and liveness, then submit. */
async function submitVerification(url: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'document_type=passport&document_uploaded=yes&liveness=completed&action=submit',
    redirect: 'manual',
  });
  assert.ok(response.status < 400, `verification page answered ${response.status}`);
}

type KycWebhook = { eventId: string; applicant: { externalUserId: string; status: string } };

/** The webhook the sandbox KYC provider sent about `userId`'s applicant in `status`. */
async function sentBefore(t: TestApp, userId: string, status: string): Promise<KycWebhook> {
  const { webhooks } = (await (await fetch(`${t.simulator!.url}/admin/webhooks?provider=kyc`)).json()) as {
    webhooks: { body: string }[];
  };
  const sent = webhooks
    .map((w) => JSON.parse(w.body) as KycWebhook)
    .find((e) => e.applicant.externalUserId.endsWith(`/${userId}`) && e.applicant.status === status);
  assert.ok(sent, `the provider sent a ${status} webhook for ${userId}`);
  return sent;
}

/** Sends a KYC provider's webhook to Rampart, signed as the sandbox signs. */
async function sendKycWebhook(t: TestApp, event: KycWebhook) {
  const body = JSON.stringify(event);
  const response = await fetch(`${t.url}/v1/provider-webhooks/simkyc`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [SIGNATURE_HEADER]: signatureHeader(DEFAULT_WEBHOOK_SECRETS.kyc, Math.floor(Date.now() / 1000), body),
    },
    body,
  });
  assert.equal(response.status, 200, await response.text());
}

/** Sends it again under a new event id (as a provider resending an old webhook does) and waits until applied. */
async function resentAndApplied(t: TestApp, event: KycWebhook) {
  const eventId = `${event.eventId}-again`;
  await sendKycWebhook(t, { ...event, eventId });
  await eventually(
    'the resent webhook applied',
    async () =>
      (
        await t.db.query<{ done: boolean }>(
          'SELECT processed_at IS NOT NULL AS done FROM provider_events WHERE event_id = $1',
          [eventId],
        )
      ).rows[0],
    (row) => row?.done === true,
  );
}

async function kycStatus(t: TestApp, id: string, wanted: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const status = (await t.app.inject({ method: 'GET', url: `/v1/users/${id}/kyc`, headers: t.auth })).json().status;
    if (status === wanted) return status;
    if (Date.now() > deadline) assert.fail(`kyc is ${status}, expected ${wanted}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('KYC through the identity provider', async () => {
  const t = await startTestApp({ sandbox: true });
  await requireKyc(t);

  test('verification started in the widget, completed on the provider’s page, opens the gate by webhook', async () => {
    const widget = await userWith(t, 'kyc-ok', 'verified@example.com');
    assert.equal(errorOf(await widgetCall(t, widget, '/widget/v1/actions/check')).code, 'kyc_not_started');
    const elsewhere = await widgetCall(t, widget, '/widget/v1/kyc/start', { return_url: 'https://phish.example/' });
    assert.deepEqual([elsewhere.statusCode, errorOf(elsewhere).details['field']], [422, 'return_url']);
    const started = await widgetCall(t, widget, '/widget/v1/kyc/start');
    assert.equal(started.statusCode, 200, started.body);
    await submitVerification(started.json().verification_url);
    await kycStatus(t, 'kyc-ok', 'verified');
    assert.equal((await widgetCall(t, widget, '/widget/v1/actions/check')).statusCode, 200);
    const { rows } = await t.db.query("SELECT data FROM events WHERE type = 'kyc.status_changed' AND subject_id = $1", [
      `${t.operatorId}/kyc-ok`,
    ]);
    assert.ok(rows.some((r) => r.data.to === 'verified'));
  });

  test('a verification in manual review answers kyc_pending', async () => {
    const widget = await userWith(t, 'kyc-review', 'pending@example.com');
    const started = (await widgetCall(t, widget, '/widget/v1/kyc/start')).json();
    await submitVerification(started.verification_url);
    await kycStatus(t, 'kyc-review', 'pending');
    const response = await widgetCall(t, widget, '/widget/v1/actions/check');
    assert.equal(response.statusCode, 403);
    const error = errorOf(response);
    assert.equal(error.code, 'kyc_pending');
    assert.equal(error.retryable, false);
  });

  test('a rejected verification answers kyc_failed with the provider’s reason', async () => {
    const widget = await userWith(t, 'kyc-no', 'failed+face_mismatch@example.com');
    const started = (await widgetCall(t, widget, '/widget/v1/kyc/start')).json();
    await submitVerification(started.verification_url);
    await kycStatus(t, 'kyc-no', 'failed');
    const error = errorOf(await widgetCall(t, widget, '/widget/v1/actions/check'));
    assert.equal(error.code, 'kyc_failed');
    assert.equal(error.details['reason'], 'face_mismatch');
    // The user cannot start over and wipe the rejection.
    const again = await widgetCall(t, widget, '/widget/v1/kyc/start');
    assert.deepEqual(
      [again.statusCode, errorOf(again).code, errorOf(again).details['reason']],
      [403, 'kyc_failed', 'face_mismatch'],
    );
    await kycStatus(t, 'kyc-no', 'failed');
  });

  test('a rejection the operator recorded stands: the user cannot start verification over it', async () => {
    const widget = await userWith(t, 'kyc-fraud', 'verified@example.com');
    const rejected = await t.app.inject({
      method: 'POST',
      url: '/v1/users/kyc-fraud/kyc',
      headers: t.auth,
      payload: { status: 'failed', reason: 'fraud' },
    });
    assert.equal(rejected.statusCode, 200, rejected.body);
    const again = await widgetCall(t, widget, '/widget/v1/kyc/start');
    assert.deepEqual([errorOf(again).code, errorOf(again).details['reason']], ['kyc_failed', 'fraud']);
    const kyc = (await t.app.inject({ method: 'GET', url: '/v1/users/kyc-fraud/kyc', headers: t.auth })).json();
    assert.deepEqual([kyc.status, kyc.reason], ['failed', 'fraud']);
  });

  test('starting KYC without the profile the provider needs answers missing_parameter', async () => {
    const { widget } = await widgetSession(t, { user_id: 'kyc-bare' });
    const response = await widgetCall(t, widget, '/widget/v1/kyc/start');
    assert.equal(response.statusCode, 400);
    assert.equal(errorOf(response).code, 'missing_parameter');
  });

  test('a provider that later asks for re-verification answers reverification_required', async () => {
    const widget = await userWith(t, 'kyc-again', 'reverify@example.com');
    const started = (await widgetCall(t, widget, '/widget/v1/kyc/start')).json();
    await submitVerification(started.verification_url);
    await kycStatus(t, 'kyc-again', 'reverification_required');
    const error = errorOf(await widgetCall(t, widget, '/widget/v1/actions/check'));
    assert.equal(error.code, 'reverification_required');
    assert.ok(error.details['verification_url']);
  });

  test('a verdict the provider sends again after a later one is not applied over it: the current one stands', async () => {
    const widget = await userWith(t, 'kyc-late', 'reverify@example.com');
    const started = (await widgetCall(t, widget, '/widget/v1/kyc/start')).json();
    await submitVerification(started.verification_url);
    await kycStatus(t, 'kyc-late', 'reverification_required');
    // The provider's earlier "verified" webhook comes again, under a new event id, after the later one.
    await resentAndApplied(t, await sentBefore(t, 'kyc-late', 'verified'));
    const kyc = (await t.app.inject({ method: 'GET', url: '/v1/users/kyc-late/kyc', headers: t.auth })).json();
    assert.equal(kyc.status, 'reverification_required');
  });

  /** A user the provider verified on its page. */
  async function verifiedByProvider(id: string) {
    const widget = await userWith(t, id, 'verified@example.com');
    await submitVerification((await widgetCall(t, widget, '/widget/v1/kyc/start')).json().verification_url);
    await kycStatus(t, id, 'verified');
    return widget;
  }

  test('the operator’s rejection of a user the provider verified stands over the provider’s resent “verified”', async () => {
    await verifiedByProvider('kyc-rejected-after');
    const rejected = await t.app.inject({
      method: 'POST',
      url: '/v1/users/kyc-rejected-after/kyc',
      headers: t.auth,
      payload: { status: 'failed', reason: 'fraud' },
    });
    assert.equal(rejected.statusCode, 200, rejected.body);
    await resentAndApplied(t, await sentBefore(t, 'kyc-rejected-after', 'verified'));
    const kyc = (
      await t.app.inject({ method: 'GET', url: '/v1/users/kyc-rejected-after/kyc', headers: t.auth })
    ).json();
    assert.deepEqual([kyc.status, kyc.reason], ['failed', 'fraud']);
  });

  test('the operator’s request to verify again is told to the provider: a resent “verified” does not undo it, a new check does', async () => {
    const widget = await verifiedByProvider('kyc-asked-again');
    const asked = await t.app.inject({
      method: 'POST',
      url: '/v1/users/kyc-asked-again/reverification',
      headers: t.auth,
      payload: { reason: 'document expired' },
    });
    assert.equal(asked.statusCode, 200, asked.body);
    await resentAndApplied(t, await sentBefore(t, 'kyc-asked-again', 'verified'));
    await kycStatus(t, 'kyc-asked-again', 'reverification_required');
    assert.equal(errorOf(await widgetCall(t, widget, '/widget/v1/actions/check')).code, 'reverification_required');
    // The user verifies again, on the provider's page, which takes the new submission.
    const again = await widgetCall(t, widget, '/widget/v1/kyc/start');
    assert.equal(again.statusCode, 200, again.body);
    await submitVerification(again.json().verification_url);
    await kycStatus(t, 'kyc-asked-again', 'verified');
    assert.equal((await widgetCall(t, widget, '/widget/v1/actions/check')).statusCode, 200);
  });

  test('the provider’s later rejection still ends a verification the operator attested', async () => {
    const widget = await userWith(t, 'kyc-attested-then', 'verified@example.com');
    const applicant = (await widgetCall(t, widget, '/widget/v1/kyc/start')).json();
    assert.ok(applicant.verification_url);
    const attested = await t.app.inject({
      method: 'POST',
      url: '/v1/users/kyc-attested-then/kyc',
      headers: t.auth,
      payload: { status: 'verified' },
    });
    assert.equal(attested.statusCode, 200, attested.body);
    // The user had sent the provider their documents meanwhile: it verifies them (which
    // changes nothing: the operator's attestation stands), then asks for the check again.
    await submitVerification(applicant.verification_url);
    const { rows } = await t.db.query<{ id: string }>(
      "SELECT kyc_applicant_id AS id FROM end_users WHERE id = 'kyc-attested-then'",
    );
    // Once it has verified the applicant (its review may take a moment), the provider asks for the check again.
    await eventually(
      'the provider asking for the check again',
      async () =>
        (await fetch(`${t.simulator!.url}/admin/kyc/applicants/${rows[0]!.id}/reverification`, { method: 'POST' }))
          .status,
      (status) => status === 200,
    );
    await kycStatus(t, 'kyc-attested-then', 'reverification_required');
  });

  test('a verdict the provider reached before the one last applied is older news: not applied over it', async () => {
    // As when one node asked the provider, a second asked later and applied the newer
    // verdict first, and the first applies its own after: what each brings is dated.
    const widget = await verifiedByProvider('kyc-dated');
    assert.ok(widget);
    const users = new EndUsers(t.db, systemClock, new EventLog(t.db, createIdGenerator(), systemClock));
    const { rows } = await t.db.query<{ at: Date }>(
      "SELECT kyc_verdict_at AS at FROM end_users WHERE id = 'kyc-dated'",
    );
    const applied = rows[0]!.at;
    assert.ok(applied instanceof Date, 'the provider’s time of the verdict is kept');
    const verdict = (status: 'failed' | 'reverification_required', ms: number) =>
      users.setKyc(t.operatorId, 'kyc-dated', {
        status,
        reason: 'older news',
        attested: false,
        fromProvider: true,
        verdictAt: new Date(applied.getTime() + ms).toISOString(),
      });
    assert.equal((await verdict('failed', -1)).kyc_status, 'verified', 'reached before: not applied');
    assert.equal((await verdict('reverification_required', 1)).kyc_status, 'reverification_required', 'after: applied');
  });

  test('the provider is asked for its verdict before a webhook batch locks anything: a slow one holds no transaction open', async () => {
    const widget = await userWith(t, 'kyc-slow', 'reverify@example.com');
    const started = (await widgetCall(t, widget, '/widget/v1/kyc/start')).json();
    await submitVerification(started.verification_url);
    await kycStatus(t, 'kyc-slow', 'reverification_required');
    await simulatorFault(t, {
      provider: 'kyc',
      kind: 'latency',
      ms: 1_500,
      method: 'GET',
      path: '/kyc/v1/applicants/',
      count: 1,
    });
    const verified = await sentBefore(t, 'kyc-slow', 'verified');
    const eventId = `${verified.eventId}-slow`;
    await sendKycWebhook(t, { ...verified, eventId });
    let longest = 0;
    for (;;) {
      const { rows } = await t.db.query<{ age: number; done: boolean }>(
        `SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float8 AS age,
                (SELECT processed_at IS NOT NULL FROM provider_events WHERE event_id = $1) AS done
           FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL`,
        [eventId],
      );
      longest = Math.max(longest, rows[0]!.age);
      if (rows[0]!.done) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(longest < 1, `a write transaction stayed open ${longest.toFixed(2)} s while the provider answered`);
    await kycStatus(t, 'kyc-slow', 'reverification_required');
  });

  test('a KYC provider that errors answers upstream_error, retryable, and changes nothing', async () => {
    const widget = await userWith(t, 'kyc-down', 'error@example.com');
    const response = await widgetCall(t, widget, '/widget/v1/kyc/start');
    assert.equal(response.statusCode, 502);
    const error = errorOf(response);
    assert.equal(error.code, 'upstream_error');
    assert.equal(error.retryable, true);
    assert.equal(
      (await t.app.inject({ method: 'GET', url: '/v1/users/kyc-down/kyc', headers: t.auth })).json().status,
      'not_started',
    );
  });
});

describe('KYC provider that does not answer in time', async () => {
  const t = await startTestApp({ sandbox: { timeoutMs: 300 } });
  await requireKyc(t);

  test('starting KYC answers upstream_timeout (504, retryable); the retry starts it', async () => {
    const widget = await userWith(t, 'kyc-slow', 'slow@example.com');
    await simulatorFault(t, { provider: 'kyc', kind: 'timeout', hold_ms: 1_000, count: 1 });
    const response = await widgetCall(t, widget, '/widget/v1/kyc/start');
    assert.equal(response.statusCode, 504, response.body);
    const error = errorOf(response);
    assert.equal(error.code, 'upstream_timeout');
    assert.equal(error.retryable, true);
    assert.equal(error.details['timeout_ms'], 300);
    assert.equal(
      (await t.app.inject({ method: 'GET', url: '/v1/users/kyc-slow/kyc', headers: t.auth })).json().status,
      'not_started',
    );
    const retry = await widgetCall(t, widget, '/widget/v1/kyc/start');
    assert.equal(retry.statusCode, 200, retry.body);
    assert.match(retry.json().verification_url, /^http/);
  });
});
