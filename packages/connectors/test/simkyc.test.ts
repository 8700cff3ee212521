import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EndUser, ProviderNotice } from '@rampart/core';
import { isRampartError, type RampartError } from '@rampart/errors';
import { createTestDatabase } from '../../server/test/harness.ts';
import { DEFAULT_WEBHOOK_SECRETS, signatureHeader } from '../../simulator/src/index.ts';
import { CircuitBreaker } from '../src/circuit-breaker.ts';
import { SimKycConnector } from '../src/simkyc/simkyc.ts';
import { type KycError, kycRejection } from '../src/simkyc/wire.ts';
import { uniqueId } from './conformance.ts';
import { seedOperator, startSandbox } from './sandbox.ts';

const sandbox = await startSandbox({ settleDelayMs: 60_000 });
const { db } = await createTestDatabase();
const people = await seedOperator(db);
const kyc = (extra: { timeoutMs?: number } = {}) =>
  new SimKycConnector(sandbox.options('kyc', { breaker: new CircuitBreaker({ threshold: 1_000 }), ...extra }));
const connector = kyc();

async function refusal(work: Promise<unknown>): Promise<RampartError> {
  try {
    await work;
  } catch (error) {
    if (isRampartError(error)) return error;
    throw error;
  }
  assert.fail('expected a RampartError');
}

/** A user whose email local part picks the provider's outcome (see the simulator's KYC emails). */
async function applicant(emailLocal: string, profile: Partial<EndUser> = {}) {
  const user = await people.user(uniqueId('user'), { email: `${emailLocal}@example.com`, ...profile });
  return { user, reference: `${people.operatorId}/${user.id}` };
}

/** Submits the hosted page the way a browser would: a document and the liveness check. */
async function verify(verificationUrl: string): Promise<void> {
  const response = await fetch(verificationUrl, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      document_type: 'passport',
      document_uploaded: 'yes',
      liveness: 'completed',
      action: 'submit',
    }).toString(),
  });
  assert.ok(response.status === 303 || response.status === 200, `verification page answered ${response.status}`);
}

/** The notices the provider's webhooks map to for one applicant, in order. */
async function noticesFor(applicantId: string): Promise<ProviderNotice['subject'][]> {
  await sandbox.webhooksDelivered();
  return sandbox
    .deliveries('kyc')
    .filter((d) => JSON.parse(d.raw).applicantId === applicantId)
    .map((d) => connector.readWebhook(d.headers, d.raw).subject);
}

describe('starting identity verification', () => {
  test('creates an applicant with the user’s profile and gives its hosted page', async () => {
    const { user, reference } = await applicant('verified');
    const started = await connector.createApplicant({
      reference,
      user,
      returnUrl: 'https://operator.example/kyc-done',
    });
    assert.match(started.applicantId, /^apl_/);
    assert.equal(started.verificationUrl, `${sandbox.sim.url}/kyc/verify/${started.applicantId}`);
    const response = await fetch(`${sandbox.sim.url}/kyc/v1/applicants/${started.applicantId}`, {
      headers: { 'x-app-token': 'sk_test' },
    });
    const stored = (await response.json()) as Record<string, unknown>;
    assert.deepEqual(
      [stored['externalUserId'], stored['firstName'], stored['dob'], stored['country'], stored['email']],
      [reference, 'Ada', '1990-12-10', 'GB', user.email],
    );
  });

  test('starting again resumes the user’s applicant instead of creating a second', async () => {
    const { user, reference } = await applicant('verified');
    const first = await connector.createApplicant({ reference, user, returnUrl: null });
    const again = await connector.createApplicant({ reference, user, returnUrl: null });
    assert.deepEqual(again, first);
    const creates = sandbox.sim.admin
      .requests({ provider: 'kyc' })
      .filter((r) => r.method === 'POST' && r.created_id === first.applicantId);
    assert.equal(creates.length, 1);
  });

  test('a profile without a field the provider needs is missing_parameter, and nothing is sent', async () => {
    const { user, reference } = await applicant('verified', { date_of_birth: null });
    const before = sandbox.sim.admin.requests({ provider: 'kyc' }).length;
    const error = await refusal(connector.createApplicant({ reference, user, returnUrl: null }));
    assert.equal(error.code, 'missing_parameter');
    assert.equal(error.details['field'], 'date_of_birth');
    assert.equal(sandbox.sim.admin.requests({ provider: 'kyc' }).length, before);
  });

  test('a value the provider refuses is invalid_value on Rampart’s name for the field', async () => {
    const { user, reference } = await applicant('verified', { date_of_birth: '2999-01-01' });
    const error = await refusal(connector.createApplicant({ reference, user, returnUrl: null }));
    assert.equal(error.code, 'invalid_value');
    assert.equal(error.details['field'], 'date_of_birth');
    assert.equal(error.details['provided'], '2999-01-01');
  });

  test('a provider error is upstream_error; a one-off one (error+once@) clears on retry', async () => {
    const always = await applicant('error');
    assert.equal((await refusal(connector.createApplicant({ ...always, returnUrl: null }))).code, 'upstream_error');
    assert.equal((await refusal(connector.createApplicant({ ...always, returnUrl: null }))).code, 'upstream_error');
    const once = await applicant('error+once');
    assert.equal((await refusal(connector.createApplicant({ ...once, returnUrl: null }))).code, 'upstream_error');
    assert.match((await connector.createApplicant({ ...once, returnUrl: null })).applicantId, /^apl_/);
  });

  const faults = [
    { rule: { kind: 'reset' as const }, code: 'upstream_unavailable' },
    { rule: { kind: 'garbage' as const }, code: 'upstream_invalid_response' },
    { rule: { kind: 'timeout' as const, hold_ms: 5_000 }, code: 'upstream_timeout' },
  ];
  for (const { rule, code } of faults) {
    test(`a ${rule.kind} fault is ${code}`, async () => {
      const added = sandbox.sim.admin.addFault({ provider: 'kyc', path: '/kyc/v1/applicants', ...rule });
      try {
        const { user, reference } = await applicant('verified');
        const error = await refusal(kyc({ timeoutMs: 250 }).createApplicant({ reference, user, returnUrl: null }));
        assert.equal(error.code, code);
        assert.equal(error.entry.retryable, true);
      } finally {
        sandbox.sim.admin.removeFault(added.id);
      }
    });
  }
});

describe('verdicts by webhook', () => {
  const outcomes: [email: string, status: string, reason: string | null][] = [
    ['verified', 'verified', null],
    ['failed', 'failed', 'document_unreadable'],
    ['failed+sanctions_hit', 'failed', 'sanctions_hit'],
    ['pending', 'pending', null],
  ];
  for (const [email, status, reason] of outcomes) {
    test(`${email}@ is ${status}${reason ? ` (${reason})` : ''}, by webhook and when asked`, async () => {
      const { user, reference } = await applicant(email);
      const { applicantId, verificationUrl } = await connector.createApplicant({ reference, user, returnUrl: null });
      await verify(verificationUrl);
      const notices = await noticesFor(applicantId);
      assert.deepEqual(notices[0], { type: 'ignored', reason: 'applicantCreated: applicant not started' });
      const last = notices.at(-1) as { at?: string };
      assert.deepEqual(notices.at(-1), { type: 'kyc', applicantId, status, reason, at: last.at });
      assert.ok(last.at && !Number.isNaN(Date.parse(last.at)), 'dated by when the provider reached it');
      assert.deepEqual(await connector.verdict(applicantId), notices.at(-1));
    });
  }

  test('a manual review decides a pending applicant', async () => {
    const { user, reference } = await applicant('pending');
    const { applicantId, verificationUrl } = await connector.createApplicant({ reference, user, returnUrl: null });
    await verify(verificationUrl);
    const review = await fetch(`${sandbox.sim.url}/admin/kyc/applicants/${applicantId}/review`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ result: 'failed', reason: 'face_mismatch' }),
    });
    assert.equal(review.status, 200);
    const statuses = (await noticesFor(applicantId)).map((n) =>
      n.type === 'kyc' ? `${n.status}:${n.reason}` : n.type,
    );
    assert.deepEqual(statuses, ['ignored', 'pending:null', 'failed:face_mismatch']);
  });

  test('a verified user asked to verify again is reverification_required, then verified after a new submission', async () => {
    const { user, reference } = await applicant('reverify');
    const { applicantId, verificationUrl } = await connector.createApplicant({ reference, user, returnUrl: null });
    await verify(verificationUrl);
    sandbox.sim.admin.advanceClock(60);
    assert.equal((await connector.verdict(applicantId))?.status, 'reverification_required');
    const resumed = await connector.createApplicant({ reference, user, returnUrl: null });
    assert.equal(resumed.applicantId, applicantId);
    await verify(resumed.verificationUrl);
    const statuses = (await noticesFor(applicantId)).map((n) => (n.type === 'kyc' ? n.status : n.type));
    assert.deepEqual(statuses, ['ignored', 'verified', 'reverification_required', 'verified']);
  });

  test('a webhook with a bad or stale signature is invalid_token', async () => {
    await sandbox.webhooksDelivered();
    const delivery = sandbox.deliveries('kyc').at(-1)!;
    const secret = DEFAULT_WEBHOOK_SECRETS.kyc;
    const now = Math.floor(Date.now() / 1000);
    const forged = signatureHeader('whsec_not_the_secret', now, delivery.raw);
    const stale = signatureHeader(secret, now - 3600, delivery.raw);
    for (const header of [forged, stale]) {
      assert.throws(() => connector.readWebhook({ 'x-sim-signature': header }, delivery.raw), {
        code: 'invalid_token',
      });
    }
    assert.equal(connector.readWebhook(delivery.headers, delivery.raw).eventId, JSON.parse(delivery.raw).eventId);
  });
});

describe('KYC provider errors', () => {
  const error = (errorName: string, field: string | null = null): KycError => ({
    code: 400,
    errorName,
    description: `${errorName} description`,
    correlationId: 'corr-1',
    field,
  });
  const table: [errorName: string, field: string | null, expected: string][] = [
    ['validation_error', 'dob', 'invalid_value'],
    ['validation_error', 'country', 'invalid_value'],
    ['validation_error', 'somethingElse', 'internal_error'],
    ['malformed_request', null, 'internal_error'],
    ['unauthorized', null, 'internal_error'],
    ['not_found', null, 'internal_error'],
    ['route_not_found', null, 'internal_error'],
    ['idempotency_conflict', null, 'internal_error'],
    ['idempotency_in_progress', null, 'internal_error'],
    ['invalid_state', null, 'internal_error'],
    ['internal_error', null, 'upstream_error'],
    ['service_unavailable', null, 'upstream_error'],
    ['something_new', null, 'upstream_invalid_response'],
  ];
  for (const [name, field, expected] of table) {
    test(`${name}${field ? ` on ${field}` : ''} is ${expected}`, () => {
      const mapped = kycRejection('simkyc', 400, error(name, field), { dob: '2999-01-01', country: 'gb' });
      assert.equal(mapped.code, expected);
      if (expected === 'invalid_value') {
        assert.equal(mapped.details['field'], field === 'dob' ? 'date_of_birth' : field);
        assert.ok(mapped.details['provided']);
      }
    });
  }
});
