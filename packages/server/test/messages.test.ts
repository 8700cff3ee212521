import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { errorOf, startTestApp, type TestApp } from './harness.ts';
import { widgetCall, widgetSession } from './widget-fixtures.ts';

/** The operator's message endpoint: records what it is sent and answers as told. */
async function messageEndpoint() {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const behaviour: { status: number; delayMs: number; hold?: Promise<void> | undefined } = { status: 200, delayMs: 0 };
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ headers: request.headers, body });
      const answer = () => setTimeout(() => response.writeHead(behaviour.status).end(), behaviour.delayMs);
      if (behaviour.hold) void behaviour.hold.then(answer);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/messages`, received, behaviour };
}

const settings = (t: TestApp, auth: Record<string, string>, payload: Record<string, unknown>) =>
  t.app.inject({ method: 'PATCH', url: '/v1/operator/settings', headers: auth, payload });

/** The dev outbox's messages to `to`, as the key of `auth` (its own tenant's only). */
const outboxFor = async (t: TestApp, to: string, auth: Record<string, string>) =>
  (
    await t.app.inject({ method: 'GET', url: `/dev/outbox?format=json&to=${encodeURIComponent(to)}`, headers: auth })
  ).json().data as unknown[];

describe('verification messages reach users through the operator’s message endpoint', async () => {
  // A development server (the dev outbox is on) that lets the operator's endpoints be on loopback.
  const t = await startTestApp({ env: { RAMPART_WEBHOOK_ALLOW_PRIVATE_URLS: 'true' } });
  const live = await t.operators.keys.issue(t.operatorId, { mode: 'live', scope: 'full' });
  const liveAuth = { authorization: `Bearer ${live.secret}` };
  const endpoint = await messageEndpoint();
  const secret = (await t.app.inject({ method: 'GET', url: '/v1/operator/approval_secret', headers: liveAuth })).json()
    .secret as string;

  /** A live user with an email and a phone, and a widget session of theirs. */
  async function liveUser(id: string) {
    const email = `${id}@example.com`;
    const phone = '+14155550123';
    const put = await t.app.inject({
      method: 'PUT',
      url: `/v1/users/${id}`,
      headers: liveAuth,
      payload: { email, phone },
    });
    assert.ok(put.statusCode < 300, put.body);
    const { widget } = await widgetSession(t, { user_id: id }, liveAuth);
    return { email, phone, widget };
  }
  const userOf = async (id: string) =>
    (await t.app.inject({ method: 'GET', url: `/v1/users/${id}`, headers: liveAuth })).json();

  test('with no message endpoint a live message is not sent, and nothing of it is kept; a test one goes to the dev outbox', async () => {
    const { email, widget } = await liveUser('nowhere');
    const refused = await widgetCall(t, widget, '/widget/v1/email/start');
    assert.equal(refused.statusCode, 503, refused.body);
    assert.deepEqual(errorOf(refused).details, {
      reason: 'no message endpoint configured for live mode (settings: messages.url)',
    });
    assert.deepEqual(await outboxFor(t, email, liveAuth), [], 'no live link in the dev outbox');
    const kept = await t.db.query('SELECT 1 FROM dev_outbox WHERE destination = $1', [email]);
    assert.equal(kept.rowCount, 0, 'nor anywhere else');
    const sent = await t.db.query('SELECT 1 FROM verification_challenges WHERE user_id = $1 AND sent_at IS NOT NULL', [
      'nowhere',
    ]);
    assert.equal(sent.rowCount, 0, 'no challenge that could be confirmed');

    await t.app.inject({ method: 'PUT', url: '/v1/users/nowhere', headers: t.auth, payload: { email } });
    const { widget: testWidget } = await widgetSession(t, { user_id: 'nowhere' });
    assert.equal((await widgetCall(t, testWidget, '/widget/v1/email/start')).statusCode, 200);
    assert.equal((await outboxFor(t, email, t.auth)).length, 1, 'the test message is in the dev outbox');
    // Only for its own operator: not for anyone without a key, nor for another operator.
    const anonymous = await t.app.inject({ method: 'GET', url: '/dev/outbox?format=json' });
    assert.equal(errorOf(anonymous).code, 'missing_token');
    const other = await t.operators.create({ name: 'Other' });
    assert.deepEqual(await outboxFor(t, email, { authorization: `Bearer ${other.key.secret}` }), []);
  });

  test('the email link and the SMS code arrive signed at the endpoint, and verify the live user', async () => {
    assert.equal((await settings(t, liveAuth, { messages: { url: endpoint.url } })).statusCode, 200);
    const { email, phone, widget } = await liveUser('ada');
    const start = await widgetCall(t, widget, '/widget/v1/email/start');
    assert.deepEqual(start.json(), { sent_to: email, expires_in: 86_400 });

    const mail = endpoint.received.at(-1)!;
    const signed = new Webhook(secret).verify(mail.body, mail.headers as Record<string, string>) as Record<
      string,
      string
    >;
    assert.deepEqual(
      [signed['type'], signed['mode'], signed['user_id'], signed['channel'], signed['to']],
      ['verification.email', 'live', 'ada', 'email', email],
    );
    assert.ok(signed['body']!.includes(signed['link']!), 'the text carries the link');
    assert.ok(Date.parse(signed['expires_at']!) > Date.now());
    assert.throws(() =>
      new Webhook(secret).verify(mail.body.replace('ada', 'eve'), mail.headers as Record<string, string>),
    );
    const opened = await t.app.inject({
      method: 'GET',
      url: new URL(signed['link']!).pathname + new URL(signed['link']!).search,
    });
    assert.equal(opened.statusCode, 200, opened.body);
    assert.equal((await userOf('ada')).email_verified, true);

    assert.equal((await widgetCall(t, widget, '/widget/v1/phone/start')).statusCode, 200);
    const sms = new Webhook(secret).verify(
      endpoint.received.at(-1)!.body,
      endpoint.received.at(-1)!.headers as Record<string, string>,
    ) as Record<string, string>;
    assert.deepEqual(
      [sms['type'], sms['to'], sms['body']],
      ['verification.sms', phone, `Your verification code is ${sms['code']}`],
    );
    const verified = await widgetCall(t, widget, '/widget/v1/phone/verify', { code: sms['code']! });
    assert.equal(verified.json().phone_verified, true, verified.body);
    assert.deepEqual(await outboxFor(t, email, liveAuth), [], 'nothing went to the dev outbox');
  });

  test('an endpoint that fails answers an upstream error; what it was sent is void, yet counts against the hour’s sends', async () => {
    await settings(t, liveAuth, { messages: { url: endpoint.url, timeout_ms: 300, retries: 1 } });
    const { widget } = await liveUser('bob');
    const before = endpoint.received.length;
    endpoint.behaviour.status = 500;
    const broken = await widgetCall(t, widget, '/widget/v1/phone/start');
    assert.equal(broken.statusCode, 502, broken.body);
    assert.deepEqual([errorOf(broken).code, errorOf(broken).retryable], ['upstream_error', true]);
    assert.deepEqual(errorOf(broken).details, { provider: 'operator message endpoint' });
    assert.equal(endpoint.received.length - before, 2, 'a 5xx is tried again once');
    const { code } = JSON.parse(endpoint.received.at(-1)!.body) as { code: string };
    // The code the endpoint was sent while it failed opens nothing.
    const stale = await widgetCall(t, widget, '/widget/v1/phone/verify', { code });
    assert.equal(errorOf(stale).code, 'invalid_value', 'the code of a failed send is void');
    assert.equal((await userOf('bob')).phone_verified, false);

    endpoint.behaviour.status = 400;
    assert.equal(errorOf(await widgetCall(t, widget, '/widget/v1/phone/start')).code, 'upstream_error');
    assert.equal(endpoint.received.length - before, 3, 'a 4xx is not tried again');

    Object.assign(endpoint.behaviour, { status: 200, delayMs: 1_000 });
    const slow = await widgetCall(t, widget, '/widget/v1/phone/start');
    assert.deepEqual([slow.statusCode, errorOf(slow).code], [504, 'upstream_timeout']);
    endpoint.behaviour.delayMs = 0;

    await settings(t, liveAuth, { messages: { url: 'http://127.0.0.1:9/messages' } });
    const gone = await widgetCall(t, widget, '/widget/v1/phone/start');
    assert.deepEqual([gone.statusCode, errorOf(gone).code], [502, 'upstream_unavailable']);

    // A timed-out send may have reached the phone: failures count, or a failing endpoint
    // would let anyone send a user messages without end. Four so far; one more, then none.
    await settings(t, liveAuth, { messages: { url: endpoint.url } });
    assert.equal((await widgetCall(t, widget, '/widget/v1/phone/start')).statusCode, 200);
    assert.equal(errorOf(await widgetCall(t, widget, '/widget/v1/phone/start')).code, 'rate_limited');
  });

  test('ten sends at once get the hour’s five and no more', async () => {
    await settings(t, liveAuth, { messages: { url: endpoint.url, timeout_ms: 5_000, retries: 0 } });
    const { widget } = await liveUser('dee');
    const before = endpoint.received.length;
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => widgetCall(t, widget, '/widget/v1/phone/start')),
    );
    const codes = answers.map((answer) => (answer.statusCode === 200 ? 'sent' : errorOf(answer).code)).sort();
    assert.deepEqual(codes, [...Array(5).fill('rate_limited'), ...Array(5).fill('sent')]);
    assert.equal(endpoint.received.length - before, 5, 'five messages, not ten');
  });

  test('a code opens nothing until the endpoint has taken its message', async () => {
    await settings(t, liveAuth, { messages: { url: endpoint.url, timeout_ms: 10_000, retries: 0 } });
    const { widget } = await liveUser('cy');
    let release = () => {};
    endpoint.behaviour.hold = new Promise<void>((resolve) => (release = resolve));
    const before = endpoint.received.length;
    const starting = widgetCall(t, widget, '/widget/v1/phone/start');
    while (endpoint.received.length === before) await new Promise((resolve) => setTimeout(resolve, 10));
    const { code } = JSON.parse(endpoint.received.at(-1)!.body) as { code: string };
    const early = await widgetCall(t, widget, '/widget/v1/phone/verify', { code });
    assert.equal(errorOf(early).code, 'invalid_value', 'not while the send is in flight');
    release();
    endpoint.behaviour.hold = undefined;
    assert.equal((await starting).statusCode, 200);
    const verified = await widgetCall(t, widget, '/widget/v1/phone/verify', { code });
    assert.equal(verified.json().phone_verified, true, verified.body);
  });

  test('the endpoint is a setting of each mode, checked like the approval URL', async () => {
    const bad = await settings(t, liveAuth, { messages: { url: 'ftp://example.com/messages' } });
    assert.deepEqual([errorOf(bad).code, errorOf(bad).details['field']], ['invalid_value', 'messages.url']);
    const unknown = await settings(t, liveAuth, { messages: { template: 'x' } });
    assert.deepEqual(
      [errorOf(unknown).details['field'], errorOf(unknown).details['expected']],
      ['messages.template', 'url, timeout_ms, retries'],
    );
    const asTest = (await t.app.inject({ method: 'GET', url: '/v1/operator/settings', headers: t.auth })).json();
    assert.equal(asTest.messages.url, null, 'the live endpoint is not test mode’s');

    const deployed = await startTestApp({ database: t.db, env: { RAMPART_DEV_TOOLS: 'false' } });
    const refused = await settings(deployed, liveAuth, { messages: { url: endpoint.url } });
    assert.deepEqual([errorOf(refused).code, errorOf(refused).details['field']], ['invalid_value', 'messages.url']);
  });
});

describe('on a development server, only test mode may point Rampart at private addresses', async () => {
  const t = await startTestApp(); // the dev tools are on, private URLs not allowed by configuration
  const live = await t.operators.keys.issue(t.operatorId, { mode: 'live', scope: 'full' });
  const liveAuth = { authorization: `Bearer ${live.secret}` };
  const endpoint = await messageEndpoint();

  test('a loopback approval or message endpoint is taken for test mode and refused for live', async () => {
    for (const hook of ['approval', 'messages']) {
      const asTest = await settings(t, t.auth, { [hook]: { url: endpoint.url } });
      assert.equal(asTest.statusCode, 200, asTest.body);
      const asLive = await settings(t, liveAuth, { [hook]: { url: endpoint.url } });
      assert.deepEqual([errorOf(asLive).code, errorOf(asLive).details['field']], ['invalid_value', `${hook}.url`]);
    }
  });

  test('a live one stored anyway is never called', async () => {
    await t.db.query(`UPDATE operators SET settings = jsonb_set(settings, '{messages}', $2::jsonb) WHERE id = $1`, [
      t.accountId,
      JSON.stringify({ url: endpoint.url, timeout_ms: 1000, retries: 0 }),
    ]);
    await t.app.inject({ method: 'PUT', url: '/v1/users/mo', headers: liveAuth, payload: { email: 'mo@example.com' } });
    const { widget } = await widgetSession(t, { user_id: 'mo' }, liveAuth);
    const before = endpoint.received.length;
    const refused = await widgetCall(t, widget, '/widget/v1/email/start');
    assert.deepEqual([refused.statusCode, errorOf(refused).code], [502, 'upstream_unavailable']);
    assert.equal(endpoint.received.length, before, 'nothing reached the loopback endpoint');
  });
});
