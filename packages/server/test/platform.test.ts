import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createIdGenerator, Database, systemClock } from '@rampart/core';
import { catalogEntries } from '@rampart/errors';
import { buildApp, loadConfig } from '../src/index.ts';
import { errorOf, startTestApp } from './harness.ts';

describe('health, readiness and API reference', async () => {
  const t = await startTestApp();

  test('health and readiness answer when the database is up', async () => {
    assert.deepEqual((await t.app.inject({ method: 'GET', url: '/health' })).json(), { status: 'ok' });
    assert.deepEqual((await t.app.inject({ method: 'GET', url: '/ready' })).json(), { status: 'ready' });
  });

  test('readiness answers service_unavailable when the database is unreachable', async () => {
    const unreachable = new Database({ connectionString: 'postgres://nobody:x@127.0.0.1:1/none' });
    const app = await buildApp({
      config: loadConfig({ LOG_LEVEL: 'silent' }),
      db: unreachable,
      clock: systemClock,
      ids: createIdGenerator(),
    });
    const response = await app.inject({ method: 'GET', url: '/ready' });
    assert.equal(response.statusCode, 503);
    const error = errorOf(response);
    assert.equal(error.code, 'service_unavailable');
    assert.equal(error.retryable, true);
    await app.close();
    await unreachable.close();
  });

  test('the OpenAPI 3.1 document lists every route, the error envelope and every catalog code', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(response.statusCode, 200);
    const document = response.json();
    assert.equal(document.openapi, '3.1.0');
    for (const path of [
      '/v1/operator',
      '/v1/keys',
      '/v1/keys/{id}/rotate',
      '/v1/keys/{id}/revoke',
      '/health',
      '/ready',
      '/v1/users/{id}',
      '/v1/users/{id}/kyc',
      '/v1/sessions',
      '/v1/sessions/{id}/cancel',
      '/v1/signing_keys',
      '/v1/terms',
      '/v1/operator/settings',
      '/widget/v1/session/exchange',
      '/widget/v1/session/validate',
      '/widget/v1/session/refresh',
      '/widget/v1/actions/check',
      '/widget/v1/kyc/start',
      '/v1/payments',
      '/v1/payments/{id}',
      '/v1/payments/{id}/cancel',
      '/widget/v1/payments',
      '/widget/v1/payments/{id}/finalize',
      '/v1/provider-webhooks/{provider}',
      '/v1/webhook_endpoints',
      '/v1/events',
    ]) {
      assert.ok(document.paths[path], path);
    }
    const envelope = document.components.schemas.ErrorEnvelope;
    const codes: string[] = envelope.properties.error.properties.code.enum;
    const documented = new Set<string>(document['x-rampart-errors'].map((e: { code: string }) => e.code));
    for (const entry of catalogEntries) {
      assert.ok(documented.has(entry.code), `x-rampart-errors lacks ${entry.code}`);
      if (entry.surface === 'server') assert.ok(codes.includes(entry.code), `envelope enum lacks ${entry.code}`);
    }
    assert.deepEqual(document.paths['/v1/operator'].get.responses['4XX'], { $ref: '#/components/responses/Error' });
    assert.deepEqual(document.paths['/v1/operator'].get.security, [{ secretKey: [] }]);
  });

  test('the API reference page is served at /docs', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /text\/html/);
  });
});

describe('configuration', () => {
  test('a bad value stops start-up with a message naming the variable', () => {
    assert.throws(() => loadConfig({ PORT: 'eighty' }), /PORT/);
    assert.throws(() => loadConfig({ PORT: '70000' }), /PORT/);
    assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL/);
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://x@y/z' }), /DATABASE_URL/);
    assert.throws(() => loadConfig({ RAMPART_TRUSTED_PROXIES: '10.0.0.0/33' }), /RAMPART_TRUSTED_PROXIES/);
    assert.throws(() => loadConfig({ RAMPART_SIMULATOR_URL: 'ftp://sim' }), /RAMPART_SIMULATOR_URL/);
    assert.throws(() => loadConfig({ RAMPART_DEV_TOOLS: 'maybe' }), /RAMPART_DEV_TOOLS/);
    assert.throws(() => loadConfig({ RAMPART_DB_POOL_SIZE: '1' }), /RAMPART_DB_POOL_SIZE/);
    assert.throws(() => loadConfig({ RAMPART_METRICS_TOKEN: 'short' }), /RAMPART_METRICS_TOKEN/);
    assert.throws(() => loadConfig({ RAMPART_WEBHOOK_LOG_RETENTION: '3651d' }), /RAMPART_WEBHOOK_LOG_RETENTION/);
    assert.throws(() => loadConfig({ RAMPART_WEBHOOK_LOG_RETENTION: '90' }), /RAMPART_WEBHOOK_LOG_RETENTION/, '90 s');
    assert.throws(
      () => loadConfig({ RAMPART_PROVIDER_WEBHOOK_RETENTION_DAYS: '90d' }),
      /RAMPART_PROVIDER_WEBHOOK_RETENTION_DAYS/,
    );
  });

  test('safe defaults: loopback only, port 4000, a project-local data directory', () => {
    const config = loadConfig({}, '/srv/rampart');
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 4000);
    assert.equal(config.dataDir, '/srv/rampart/.rampart');
    assert.equal(config.databaseUrl, undefined);
    assert.deepEqual(config.trustedProxies, []);
    assert.equal(config.devTools, true, 'development pages with the embedded database');
    const deployed = loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/rampart' });
    assert.equal(deployed.devTools, false, 'but not on a real database unless asked for');
    assert.equal(loadConfig({ HOST: '0.0.0.0' }).devTools, false, 'nor where others can reach them');
    assert.equal(loadConfig({ HOST: '0.0.0.0', RAMPART_DEV_TOOLS: 'true' }).devTools, true, 'unless asked for');
    assert.equal(deployed.simulator, false);
    assert.equal(config.demoOperator, true, 'a demo operator on a first start with the embedded database');
    assert.equal(deployed.demoOperator, false, 'but never a key printed to the logs of a deployment');
  });
});

describe('operator settings while a deployment rolls', async () => {
  const t = await startTestApp();

  test('a field a later release wrote is neither refused nor lost: this release reads around it and keeps it', async () => {
    // As a node of a later release would store its own settings beside these.
    await t.db.query(
      `UPDATE operators SET settings = settings || '{"later_setting": {"on": true}}'::jsonb
         || jsonb_build_object('approval', coalesce(settings -> 'approval', '{}'::jsonb) || '{"later_field": 5}'::jsonb)
        WHERE id = $1`,
      [t.operatorId],
    );
    const read = await t.app.inject({ method: 'GET', url: '/v1/operator/settings', headers: t.auth });
    assert.equal(read.statusCode, 200, read.body);
    assert.equal(read.json().later_setting, undefined, 'not shown: this release does not know it');
    const changed = await t.app.inject({
      method: 'PATCH',
      url: '/v1/operator/settings',
      headers: t.auth,
      payload: { session_ttl_seconds: 600, approval: { timeout_ms: 2000 } },
    });
    assert.equal(changed.statusCode, 200, changed.body);
    const { rows } = await t.db.query('SELECT settings FROM operators WHERE id = $1', [t.operatorId]);
    assert.deepEqual(rows[0]!.settings.later_setting, { on: true });
    assert.equal(rows[0]!.settings.approval.later_field, 5);
    assert.equal(rows[0]!.settings.approval.timeout_ms, 2000);
    assert.equal(rows[0]!.settings.session_ttl_seconds, 600);
    // A limit written before limits were checked against their currency still loads.
    await t.db.query(
      `UPDATE operators SET settings = jsonb_set(settings, '{limits}', '{"withdrawal": {"USD": {"daily": "100.005"}}}')
        WHERE id = $1`,
      [t.operatorId],
    );
    const legacy = await t.app.inject({ method: 'GET', url: '/v1/operator/settings', headers: t.auth });
    assert.equal(legacy.statusCode, 200, legacy.body);
    const unknown = await t.app.inject({
      method: 'PATCH',
      url: '/v1/operator/settings',
      headers: t.auth,
      payload: { later_setting: { on: false } },
    });
    assert.equal(unknown.statusCode, 422, 'a client still cannot set what this release does not know');
  });
});
