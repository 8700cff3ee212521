import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { catalog, catalogEntries, catalogSections } from '../src/catalog.ts';

const knownStatuses = new Set([400, 401, 402, 403, 404, 405, 408, 409, 412, 413, 415, 422, 429, 500, 502, 503, 504]);
const retryActions = new Set(['retry', 'retry_with_backoff', 'retry_after', 'refresh_token']);
const clientCodes = ['provider_load_failed', 'client_timeout', 'network_error', 'uncaught_error'];

describe('catalog entries', () => {
  it('have unique snake_case codes that match their keys', () => {
    const codes = catalogEntries.map((e) => e.code);
    assert.equal(new Set(codes).size, codes.length);
    for (const [key, entry] of Object.entries(catalog)) {
      assert.equal(entry.code, key);
      assert.match(entry.code, /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
    }
  });

  it('use a known HTTP status', () => {
    const odd = catalogEntries.filter((e) => !knownStatuses.has(e.status));
    assert.deepEqual(
      odd.map((e) => `${e.code}:${e.status}`),
      [],
    );
  });

  it('are retryable for every 5xx and 429', () => {
    const wrong = catalogEntries.filter((e) => (e.status >= 500 || e.status === 429) && !e.retryable);
    assert.deepEqual(
      wrong.map((e) => e.code),
      [],
    );
  });

  it('name a retry action exactly when retryable', () => {
    const wrong = catalogEntries.filter((e) => e.retryable !== retryActions.has(e.action));
    assert.deepEqual(
      wrong.map((e) => `${e.code}:${e.action}`),
      [],
    );
  });

  it('only use message placeholders that are required details', () => {
    for (const entry of catalogEntries) {
      for (const [, name] of entry.message.matchAll(/\{(\w+)\}/g)) {
        assert.ok(
          name !== undefined && entry.details[name]?.required === true,
          `${entry.code}: {${name}} is not a required detail`,
        );
      }
    }
  });

  it('describe every detail', () => {
    for (const entry of catalogEntries) {
      assert.ok(entry.description.length > 0, entry.code);
      for (const [name, spec] of Object.entries(entry.details)) {
        assert.ok(spec.description.length > 0, `${entry.code}.${name}`);
      }
    }
  });

  it('mark exactly the SDK-raised codes as client surface, with a real status', () => {
    const client = catalogEntries.filter((e) => e.surface === 'client');
    assert.deepEqual(client.map((e) => e.code).sort(), [...clientCodes].sort());
    assert.ok(client.every((e) => e.status > 0 && e.type === 'client'));
    assert.deepEqual(
      catalogEntries.filter((e) => e.type === 'client' && e.surface !== 'client'),
      [],
    );
    assert.equal(catalog.client_timeout.status, 408);
    assert.equal(catalog.network_error.status, 503);
    assert.equal(catalog.uncaught_error.status, 500);
  });

  it('keep the documented special cases', () => {
    assert.equal(catalog.session_expired.retryable, true);
    assert.equal(catalog.session_expired.action, 'refresh_token');
    // A session past its lifetime is not revived by a fresh token: refreshing would loop.
    assert.equal(catalog.session_ttl_expired.retryable, false);
    assert.equal(catalog.session_ttl_expired.action, 'new_session');
    assert.equal(catalog.session_invalid.retryable, false);
    assert.equal(catalog.deposit_not_completed.retryable, false);
    assert.equal(catalog.deposit_not_completed.action, 'wait_for_completion');
    assert.equal(catalog.idempotency_in_progress.retryable, true);
    assert.equal(catalog.rate_limited.details['retry_after']?.type, 'number');
    assert.deepEqual(catalog.internal_error.details, {});
  });

  it('put every code in exactly one documentation section', () => {
    const sectioned = catalogSections.flatMap((s) => s.codes);
    assert.deepEqual(
      sectioned,
      catalogEntries.map((e) => e.code),
    );
  });
});

describe('retired codes guard', () => {
  const known = JSON.parse(readFileSync(new URL('./fixtures/known-codes.json', import.meta.url), 'utf8')) as string[];
  const current = new Set(catalogEntries.map((e) => e.code));

  it('never removes a code that was shipped', () => {
    const removed = known.filter((code) => !current.has(code));
    assert.deepEqual(removed, [], 'codes are never removed or reused; restore these');
  });

  it('requires new codes to be added to known-codes.json deliberately', () => {
    const listed = new Set(known);
    const added = [...current].filter((code) => !listed.has(code));
    assert.deepEqual(added, [], 'append new codes to test/fixtures/known-codes.json');
  });
});
