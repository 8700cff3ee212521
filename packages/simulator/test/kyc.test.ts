import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, startTestSimulator, submitPage } from './harness.ts';

const t = await startTestSimulator();
const HOUR = 3600;

let users = 0;
async function applicant(email: string, extra: Record<string, unknown> = {}) {
  const answer = await t.call('kyc', 'POST', '/kyc/v1/applicants', {
    externalUserId: `user_${++users}`,
    firstName: 'Ada',
    lastName: 'Lovelace',
    email,
    dob: '1990-12-10',
    country: 'GB',
    ...extra,
  });
  assert.equal(answer.status, 201, answer.text);
  return answer.body;
}
const getApplicant = async (id: string) => (await t.call('kyc', 'GET', `/kyc/v1/applicants/${id}`)).body;
const verify = (created: { verificationUrl: string }) =>
  submitPage(created.verificationUrl, { name: 'action', value: 'submit' });

describe('KYC applicants', () => {
  test('an applicant starts not_started with a hosted verification page: a real form with document and liveness', async () => {
    const created = await applicant('ada@example.com');
    assert.match(created.id, /^apl_/);
    assert.equal(created.status, 'not_started');
    assert.equal(created.verificationUrl, `${t.url}/kyc/verify/${created.id}`);
    const html = await (await fetch(created.verificationUrl)).text();
    assert.match(html, /name="document_type"/);
    assert.match(html, /name="liveness"/);
  });

  test('any ordinary email (e.g. verified@…) is verified when the page is submitted, with a webhook', async () => {
    const created = await applicant('verified@example.com', { returnUrl: 'https://operator.example/kyc-done' });
    const { submitted } = await verify(created);
    assert.equal(submitted.status, 303);
    assert.equal(new URL(submitted.headers.get('location')!).searchParams.get('status'), 'verified');
    const verified = await getApplicant(created.id);
    assert.equal(verified.status, 'verified');
    assert.equal(verified.reviewType, 'automatic');
    assert.equal(verified.documentType, 'passport');
    assert.equal(verified.livenessPassed, true);
    const types = await eventually(() => {
      const seen = t.receiver
        .accepted('/kyc')
        .filter((w) => w.body['applicantId'] === created.id)
        .map((w) => `${w.body['type']}:${(w.body['applicant'] as { status: string }).status}`);
      return seen.length === 2 && seen;
    });
    assert.deepEqual(types, ['applicantCreated:not_started', 'applicantReviewed:verified']);
  });

  test('the page refuses a submission without the document and liveness steps', async () => {
    const created = await applicant('steps@example.com');
    const response = await fetch(created.verificationUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'document_type=passport&action=submit',
    });
    assert.equal(response.status, 400);
    assert.equal((await getApplicant(created.id)).status, 'not_started');
  });

  test('pending@… stays pending (manual review) until an admin decides', async () => {
    const created = await applicant('pending@example.com');
    await verify(created);
    t.advance(30 * 24 * HOUR);
    const pending = await getApplicant(created.id);
    assert.equal(pending.status, 'pending');
    assert.equal(pending.reviewType, 'manual');
    const reviewed = await t.admin('POST', `/admin/kyc/applicants/${created.id}/review`, {
      result: 'failed',
      reason: 'sanctions_hit',
    });
    assert.equal(reviewed.body.status, 'failed');
    assert.equal(reviewed.body.failureReason, 'sanctions_hit');
    assert.equal(reviewed.body.rejectType, 'final');
  });

  test('pending+verified@… is pending, then verified after the settle delay', async () => {
    const created = await applicant('pending+verified@example.com');
    await verify(created);
    assert.equal((await getApplicant(created.id)).status, 'pending');
    t.advance(HOUR);
    assert.equal((await getApplicant(created.id)).status, 'verified');
  });

  test('pending+document_expired@… is pending, then failed with document_expired', async () => {
    const created = await applicant('pending+document_expired@example.com');
    await verify(created);
    t.advance(HOUR);
    const failed = await getApplicant(created.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failureReason, 'document_expired');
  });

  for (const [reason, rejectType] of [
    ['document_expired', 'retry'],
    ['document_unreadable', 'retry'],
    ['face_mismatch', 'retry'],
    ['sanctions_hit', 'final'],
    ['duplicate_applicant', 'final'],
  ] as const) {
    test(`failed+${reason}@… fails with ${reason} (${rejectType})`, async () => {
      const created = await applicant(`failed+${reason}@example.com`);
      await verify(created);
      const failed = await getApplicant(created.id);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.failureReason, reason);
      assert.equal(failed.rejectType, rejectType);
      assert.equal(failed.livenessPassed, reason !== 'face_mismatch');
    });
  }

  test('after a retryable failure the page takes a new submission, which is verified', async () => {
    const created = await applicant('failed+face_mismatch@example.com');
    await verify(created);
    await verify(created);
    assert.equal((await getApplicant(created.id)).status, 'verified');
  });

  test('after a final failure the page shows the result and takes no submission', async () => {
    const created = await applicant('failed+sanctions_hit@example.com');
    await verify(created);
    const html = await (await fetch(created.verificationUrl)).text();
    assert.doesNotMatch(html, /<form/);
    const response = await fetch(created.verificationUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'document_type=passport&document_uploaded=yes&liveness=completed&action=submit',
    });
    assert.equal(response.status, 409);
  });

  test('reverify@… is verified, then requires re-verification later; verifying again returns to verified', async () => {
    const created = await applicant('reverify@example.com');
    await verify(created);
    assert.equal((await getApplicant(created.id)).status, 'verified');
    t.advance(HOUR);
    const again = await getApplicant(created.id);
    assert.equal(again.status, 'reverification_required');
    const { html } = await verify(again);
    assert.match(html, /Verify your identity again/);
    assert.equal((await getApplicant(created.id)).status, 'verified');
    const event = await eventually(() =>
      t.receiver
        .accepted('/kyc')
        .find((w) => w.body['applicantId'] === created.id && w.body['type'] === 'applicantReverificationRequired'),
    );
    assert.equal((event.body['applicant'] as { status: string }).status, 'reverification_required');
  });

  test('an applicant under 18 fails with underage; a sanctioned country with country_not_supported', async () => {
    const minor = await applicant('kid@example.com', {
      dob: new Date(Date.now() - 10 * 365 * 86_400_000).toISOString().slice(0, 10),
    });
    await verify(minor);
    assert.equal((await getApplicant(minor.id)).failureReason, 'underage');
    const sanctioned = await applicant('someone@example.com', { country: 'KP' });
    await verify(sanctioned);
    assert.equal((await getApplicant(sanctioned.id)).failureReason, 'country_not_supported');
  });

  test('error@… answers 500 every time; error+once@… once, then the applicant is created', async () => {
    const always = {
      externalUserId: 'err-1',
      firstName: 'A',
      lastName: 'B',
      email: 'error@example.com',
      dob: '1990-01-01',
      country: 'US',
    };
    for (let i = 0; i < 2; i++) {
      const answer = await t.call('kyc', 'POST', '/kyc/v1/applicants', always);
      assert.equal(answer.status, 500);
      assert.equal(answer.body.errorName, 'internal_error');
    }
    const once = { ...always, externalUserId: 'err-2', email: 'error+once@example.com' };
    assert.equal((await t.call('kyc', 'POST', '/kyc/v1/applicants', once)).status, 500);
    assert.equal((await t.call('kyc', 'POST', '/kyc/v1/applicants', once)).status, 201);
  });

  test('pageerror@… has a verification page that fails to load with 500', async () => {
    const created = await applicant('pageerror@example.com');
    assert.equal((await fetch(created.verificationUrl)).status, 500);
  });

  test('a second applicant for the same externalUserId is 409 applicant_exists naming the first', async () => {
    const created = await applicant('dup@example.com', { externalUserId: 'same-user' });
    const again = await t.call('kyc', 'POST', '/kyc/v1/applicants', {
      externalUserId: 'same-user',
      firstName: 'A',
      lastName: 'B',
      email: 'dup2@example.com',
      dob: '1990-01-01',
      country: 'US',
    });
    assert.equal(again.status, 409);
    assert.equal(again.body.errorName, 'applicant_exists');
    assert.equal(again.body.existingApplicantId, created.id);
  });

  test('errors are in the KYC format: missing token 401, invalid field names the field', async () => {
    const unauthorised = await t.call('kyc', 'GET', '/kyc/v1/applicants/apl_x', undefined, { auth: false });
    assert.equal(unauthorised.status, 401);
    assert.equal(unauthorised.body.code, 401);
    assert.equal(unauthorised.body.errorName, 'unauthorized');
    assert.match(unauthorised.body.correlationId, /^corr-/);
    const invalid = await t.call('kyc', 'POST', '/kyc/v1/applicants', {
      externalUserId: 'x',
      firstName: 'A',
      lastName: 'B',
      email: 'a@example.com',
      dob: '1990-02-30',
      country: 'US',
    });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.errorName, 'validation_error');
    assert.equal(invalid.body.field, 'dob');
  });
});
