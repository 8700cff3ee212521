import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorOf, startTestApp } from './harness.ts';
import { listedEvents } from './webhooks-fixtures.ts';

describe('end users', async () => {
  const t = await startTestApp();
  const put = (id: string, payload: Record<string, unknown>, headers = t.auth) =>
    t.app.inject({ method: 'PUT', url: `/v1/users/${encodeURIComponent(id)}`, headers, payload });

  test('an operator registers a user by its own id, then updates it', async () => {
    const created = await put('acct-1001', {
      email: 'Ada@Example.com',
      phone: '(212) 555-0123',
      country: 'us',
      state: 'ny',
      date_of_birth: '1990-04-01',
      first_name: 'Ada',
    });
    assert.equal(created.statusCode, 201);
    const user = created.json();
    assert.equal(user.id, 'acct-1001');
    assert.equal(user.email, 'ada@example.com');
    assert.equal(user.phone, '+12125550123', 'national number normalised to E.164 with the user’s country');
    assert.equal(user.country, 'US');
    assert.equal(user.state, 'NY');
    assert.deepEqual(
      { status: user.kyc.status, blocked: user.blocked, email_verified: user.email_verified },
      { status: 'not_started', blocked: false, email_verified: false },
    );
    const updated = await put('acct-1001', { last_name: 'Lovelace' });
    assert.equal(updated.statusCode, 200);
    assert.equal(updated.json().last_name, 'Lovelace');
    assert.equal(updated.json().email, 'ada@example.com', 'fields not given are kept');
  });

  test('invalid profile values answer invalid_value naming the field', async () => {
    for (const [payload, field] of [
      [{ phone: '12345' }, 'phone'],
      [{ email: 'not-an-email' }, 'email'],
      [{ country: 'USA' }, 'country'],
      [{ date_of_birth: '1990-02-30' }, 'date_of_birth'],
    ] as const) {
      const response = await put('acct-bad', payload);
      assert.equal(response.statusCode, 422, JSON.stringify(payload));
      assert.equal(errorOf(response).code, 'invalid_value');
      assert.equal(errorOf(response).details['field'], field);
    }
  });

  test('GET /v1/users/{id}/kyc returns the KYC status', async () => {
    await put('acct-kyc', {});
    const response = await t.app.inject({ method: 'GET', url: '/v1/users/acct-kyc/kyc', headers: t.auth });
    assert.equal(response.statusCode, 200);
    assert.equal(response.json().status, 'not_started');
    const attested = await t.app.inject({
      method: 'POST',
      url: '/v1/users/acct-kyc/kyc',
      headers: t.auth,
      payload: { status: 'verified' },
    });
    assert.deepEqual([attested.json().status, attested.json().attested], ['verified', true]);
  });

  test('another operator’s user id is user_not_found, never visible', async () => {
    await put('acct-private', { email: 'p@example.com' });
    const other = await t.operators.create({ name: 'Other' });
    const auth = { authorization: `Bearer ${other.key.secret}` };
    for (const url of ['/v1/users/acct-private', '/v1/users/acct-private/kyc']) {
      const response = await t.app.inject({ method: 'GET', url, headers: auth });
      assert.equal(response.statusCode, 404);
      assert.equal(errorOf(response).code, 'user_not_found');
      assert.doesNotMatch(response.body, /p@example\.com/);
    }
    const theirs = await put('acct-private', { email: 'q@example.com' }, auth);
    assert.equal(theirs.statusCode, 201, 'the same user id is a different user of the other operator');
  });

  test('a changed email is no longer verified', async () => {
    await put('acct-mail', { email: 'a@example.com' });
    await t.db.query("UPDATE end_users SET email_verified_at = now() WHERE id = 'acct-mail'");
    assert.equal((await put('acct-mail', { first_name: 'Same' })).json().email_verified, true);
    assert.equal((await put('acct-mail', { email: 'b@example.com' })).json().email_verified, false);
  });

  test('user changes are recorded as events', async () => {
    const { rows } = await t.db.query('SELECT type FROM events WHERE subject_id = $1 ORDER BY sequence', [
      `${t.operatorId}/acct-1001`,
    ]);
    assert.deepEqual(
      rows.map((r) => r.type),
      ['user.created', 'user.updated'],
    );
  });

  test('a user’s events name the user by the operator’s own id, and are found by it', async () => {
    const listed = await listedEvents(t, { subject_id: 'acct-1001' });
    assert.deepEqual(
      listed.map((e) => [e.type, e.subject_id, e.sequence, e.data.user_id]),
      [
        ['user.created', 'acct-1001', 1, 'acct-1001'],
        ['user.updated', 'acct-1001', 2, 'acct-1001'],
      ],
    );
    const one = await t.app.inject({ method: 'GET', url: `/v1/events/${listed[0].id}`, headers: t.auth });
    assert.equal(one.json().subject_id, 'acct-1001');
  });
});
