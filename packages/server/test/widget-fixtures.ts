/** Shared steps of widget tests: a session made over the Partner API and exchanged for a widget token. */
import assert from 'node:assert/strict';
import type { Clock } from '@rampart/core';
import type { TestApp } from './harness.ts';

/** A clock the test moves by hand. */
export function manualClock(start = new Date()): Clock & { advance(seconds: number): void } {
  let now = start.getTime();
  return { now: () => new Date(now), advance: (seconds) => (now += seconds * 1000) };
}

/** A user profile the sandbox KYC provider takes (it needs a name, an email and a date of birth). */
export const kycProfile = (id: string) => ({
  email: `${id}@example.com`,
  first_name: 'Ada',
  last_name: 'Lovelace',
  date_of_birth: '1990-04-01',
  country: 'US',
  state: 'IN',
});

/** A session made with `auth`'s key (the harness's test key unless said): in that key's mode. */
export async function createSession(t: TestApp, body: Record<string, unknown> = {}, auth = t.auth) {
  const response = await t.app.inject({
    method: 'POST',
    url: '/v1/sessions',
    headers: auth,
    payload: { user_id: 'user-1', operation: 'deposit', ...body },
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json() as { id: string; init_token: string; expires_at: string; widget_url: string; status: string };
}

export async function exchange(t: TestApp, credential: Record<string, string>) {
  return t.app.inject({ method: 'POST', url: '/widget/v1/session/exchange', payload: credential });
}

/** A session ready for widget calls: returns the Authorization header of its widget token. */
export async function widgetSession(t: TestApp, body: Record<string, unknown> = {}, auth = t.auth) {
  const session = await createSession(t, body, auth);
  const exchanged = await exchange(t, { init_token: session.init_token });
  assert.equal(exchanged.statusCode, 200, exchanged.body);
  return { session, widget: { authorization: `Bearer ${exchanged.json().widget_token}` } };
}

export function widgetCall(
  t: TestApp,
  widget: Record<string, string>,
  url: string,
  payload: Record<string, unknown> = {},
) {
  return t.app.inject({ method: 'POST', url, headers: widget, payload });
}
