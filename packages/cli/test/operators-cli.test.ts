import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { startTestApp } from '../../server/test/harness.ts';

const MAIN = new URL('../src/main.ts', import.meta.url).pathname;
const run = promisify(execFile);

test('rampart operators create | allowlist and keys create | rotate | revoke act on what the API serves', {
  timeout: 60_000,
}, async () => {
  const t = await startTestApp();
  const env = { PATH: process.env['PATH'] ?? '', DATABASE_URL: t.db.connectionString };
  const cli = async (...args: string[]) =>
    JSON.parse((await run(process.execPath, [MAIN, ...args, '--json'], { env })).stdout);
  const call = (secret: string) =>
    t.app.inject({ method: 'GET', url: '/v1/operator', headers: { authorization: `Bearer ${secret}` } });

  const created = await cli('operators', 'create', '--name', 'Acme Sportsbook', '--origin', 'https://acme.example');
  assert.match(created.secret, /^rk_test_/);
  assert.equal(created.operator.name, 'Acme Sportsbook');
  assert.equal((await call(created.secret)).json().id, created.operator.id);

  const readOnly = await cli('keys', 'create', '--operator', created.operator.id, '--scope', 'read_only');
  const write = await t.app.inject({
    method: 'POST',
    url: '/v1/keys',
    headers: { authorization: `Bearer ${readOnly.secret}` },
    payload: {},
  });
  assert.equal(write.json().error.code, 'insufficient_scope');

  const rotated = await cli(
    'keys',
    'rotate',
    '--operator',
    created.operator.id,
    '--key',
    created.key.id,
    '--overlap',
    '0',
  );
  assert.equal((await call(rotated.secret)).statusCode, 200);
  assert.equal((await call(created.secret)).json().error.code, 'token_expired');

  await cli('keys', 'revoke', '--operator', created.operator.id, '--key', rotated.key.id);
  assert.equal((await call(rotated.secret)).json().error.code, 'token_revoked');

  // Each mode has its own allowlists: closing the test mode leaves live keys working.
  const live = await cli('keys', 'create', '--operator', created.operator.id, '--mode', 'live');
  await cli('operators', 'allowlist', '--operator', created.operator.id, '--mode', 'test', '--ip', '203.0.113.0/24');
  const denied = await call(readOnly.secret);
  assert.equal(denied.json().error.code, 'ip_not_allowed');
  const operator = (await call(live.secret)).json();
  assert.deepEqual([operator.id, operator.mode, operator.ip_allowlist], [created.operator.id, 'live', []]);

  const listed = await cli('keys', 'list', '--operator', created.operator.id);
  assert.deepEqual(listed.map((k: { mode: string }) => k.mode).sort(), ['live', 'test', 'test', 'test']);
  assert.ok(listed.every((k: Record<string, unknown>) => !('secret' in k) && !('secret_hash' in k)));
});

test('rampart outbox shows the verification mail the development transport kept', { timeout: 60_000 }, async () => {
  const t = await startTestApp();
  const env = { PATH: process.env['PATH'] ?? '', DATABASE_URL: t.db.connectionString };
  await t.app.inject({
    method: 'PUT',
    url: '/v1/users/mailme',
    headers: t.auth,
    payload: { email: 'mailme@example.com' },
  });
  const session = (
    await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: t.auth,
      payload: { user_id: 'mailme', operation: 'deposit' },
    })
  ).json();
  const token = (
    await t.app.inject({
      method: 'POST',
      url: '/widget/v1/session/exchange',
      payload: { init_token: session.init_token },
    })
  ).json().widget_token;
  await t.app.inject({ method: 'POST', url: '/widget/v1/email/start', headers: { authorization: `Bearer ${token}` } });
  const { stdout } = await run(process.execPath, [MAIN, 'outbox', '--to', 'mailme@example.com'], { env });
  assert.match(stdout, /mailme@example\.com/);
  assert.match(stdout, /\/widget\/v1\/email\/verify\?token=vch_/);
});
