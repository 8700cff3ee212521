import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InjectOptions } from 'fastify';
import { errorOf, startTestApp } from './harness.ts';

describe('HTTP contract', async () => {
  const t = await startTestApp({
    env: { RAMPART_BODY_LIMIT_BYTES: '2048' },
    routes: (app) => {
      app.get('/test/explode', async () => {
        throw new Error('connection to 10.1.2.3 refused: password=hunter2');
      });
    },
  });

  test('every success carries a generated X-Request-Id', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/health' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['x-request-id']), /^req_[0-9a-z]{26}$/);
  });

  test('a well-formed inbound X-Request-Id is kept, a malformed one replaced', async () => {
    const kept = await t.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'trace-abc-12345' } });
    assert.equal(kept.headers['x-request-id'], 'trace-abc-12345');
    const replaced = await t.app.inject({
      method: 'GET',
      url: '/health',
      headers: { 'x-request-id': 'bad id\u00e9<script>' },
    });
    assert.match(String(replaced.headers['x-request-id']), /^req_/);
  });

  test('unknown route answers route_not_found in the catalog envelope', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/nope' });
    assert.equal(response.statusCode, 404);
    const error = errorOf(response);
    assert.equal(error.code, 'route_not_found');
    assert.equal(error.retryable, false);
    assert.equal(error.details['path'], '/nope');
    assert.match(error.doc_url, /#route_not_found$/);
  });

  test('a path the router cannot take (an over-long or undecodable segment) answers validation_error', async () => {
    for (const [url, message] of [
      [`/v1/payments/${'x'.repeat(101)}`, 'has a segment longer than 100 characters'],
      ['/v1/payments/%zz', 'is not valid URL encoding'],
    ] as const) {
      const response = await t.app.inject({ method: 'GET', url, headers: t.auth });
      assert.equal(response.statusCode, 400, `${url}: ${response.body}`);
      const error = errorOf(response);
      assert.equal(error.code, 'validation_error');
      assert.deepEqual(error.details['issues'], [{ field: 'path', message }]);
      assert.match(String(response.headers['x-request-id']), /^req_/);
    }
  });

  test('wrong method on a known path answers method_not_allowed with Allow', async () => {
    const response = await t.app.inject({ method: 'DELETE', url: '/v1/operator', headers: t.auth });
    assert.equal(response.statusCode, 405);
    assert.equal(errorOf(response).code, 'method_not_allowed');
    assert.match(String(response.headers['allow']), /GET/);
    assert.match(String(response.headers['allow']), /PATCH/);
  });

  test('a body type other than JSON answers unsupported_media_type', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { ...t.auth, 'content-type': 'application/xml' },
      payload: '<key/>',
    });
    assert.equal(response.statusCode, 415);
    assert.equal(errorOf(response).code, 'unsupported_media_type');
  });

  test('a body over the limit answers body_too_large', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { ...t.auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ description: 'x'.repeat(4096) }),
    });
    assert.equal(response.statusCode, 413);
    assert.equal(errorOf(response).code, 'body_too_large');
  });

  test('undecodable JSON answers body_undecodable', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { ...t.auth, 'content-type': 'application/json' },
      payload: '{"scope": "full",',
    });
    assert.equal(response.statusCode, 400);
    assert.equal(errorOf(response).code, 'body_undecodable');
  });

  test('schema violations answer validation_error with per-field issues', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: t.auth,
      payload: { scope: 'superuser', description: 42 },
    });
    assert.equal(response.statusCode, 400);
    const error = errorOf(response);
    assert.equal(error.code, 'validation_error');
    const fields = (error.details['issues'] as { field: string }[]).map((i) => i.field).sort();
    assert.deepEqual(fields, ['description', 'scope']);
  });

  test('a field the route does not take is named in the issues', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: t.auth,
      payload: { description: 'ok', colour: 'blue' },
    });
    assert.equal(response.statusCode, 400);
    assert.deepEqual(errorOf(response).details['issues'], [
      { field: 'colour', message: 'must NOT have additional properties' },
    ]);
  });

  test('NUL characters, lone surrogates and nesting no request needs answer validation_error, wherever they are, never a 5xx', async () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 40; i++) deep = { a: deep };
    const cases: [string, InjectOptions, string][] = [
      ['an id', { method: 'GET', url: '/v1/payments/pay_%00', headers: t.auth }, 'id'],
      ['a query value', { method: 'GET', url: '/v1/payments?user_id=a%00b', headers: t.auth }, 'user_id'],
      [
        'a body string',
        { method: 'PUT', url: '/v1/users/nul', headers: t.auth, payload: { first_name: 'A\u0000' } },
        'first_name',
      ],
      ['a body key', { method: 'PUT', url: '/v1/users/nul', headers: t.auth, payload: { 'x\u0000': 1 } }, 'x\u0000'],
      [
        'half of a UTF-16 pair in metadata',
        { method: 'POST', url: '/v1/payments', headers: t.auth, payload: { metadata: { note: 'x\ud800y' } } },
        'metadata.note',
      ],
      [
        'half of a UTF-16 pair in a key',
        { method: 'PUT', url: '/v1/users/nul', headers: t.auth, payload: { '\udc00': 1 } },
        '\udc00',
      ],
      [
        'nesting',
        { method: 'POST', url: '/v1/payments', headers: t.auth, payload: { metadata: deep } },
        `metadata${'.a'.repeat(31)}`,
      ],
      ['an unauthenticated link', { method: 'GET', url: '/widget/v1/email/verify?token=%00.x' }, 'token'],
    ];
    for (const [name, request, field] of cases) {
      const response = await t.app.inject(request);
      assert.equal(response.statusCode, 400, `${name}: ${response.body}`);
      const error = errorOf(response);
      assert.equal(error.code, 'validation_error', name);
      assert.equal((error.details['issues'] as { field: string }[])[0]!.field, field, name);
    }
    const zoned = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: t.auth,
      payload: { user_id: 'u', operation: 'deposit', client_ip: 'fe80::1%eth0' },
    });
    assert.equal(zoned.statusCode, 422, zoned.body);
    assert.equal(errorOf(zoned).details['field'], 'client_ip');
  });

  test('an unexpected failure is a bare internal_error that leaks nothing', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/test/explode' });
    assert.equal(response.statusCode, 500);
    const error = errorOf(response);
    assert.equal(error.code, 'internal_error');
    assert.equal(error.retryable, true);
    assert.doesNotMatch(response.body, /10\.1\.2\.3|hunter2|refused/);
    const logged = t.logs
      .map((line) => JSON.parse(line))
      .find((entry) => entry.reqId === error.request_id && entry.level === 50);
    assert.ok(logged, 'the failure is logged with its request id');
    assert.match(JSON.stringify(logged.err), /connection to 10\.1\.2\.3 refused/);
  });
});
