import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { catalogEntries, RampartError } from '@rampart/errors';
import { renderWidgetCatalog, WIDGET_CATALOG_PATH } from '../scripts/generate-catalog.ts';
import { clientError, errorFromEnvelope } from '../src/browser/errors.js';

const clientCodes = catalogEntries.filter((entry) => entry.surface === 'client');

describe("the widget's catalog (src/browser/catalog.json)", () => {
  test('is what the catalog generates', () => {
    assert.ok(
      readFileSync(WIDGET_CATALOG_PATH, 'utf8') === renderWidgetCatalog(),
      'packages/widget/src/browser/catalog.json is out of date: run `npm run docs`',
    );
  });

  test('holds every client code, so the widget can raise each', () => {
    assert.ok(clientCodes.length > 0);
    for (const entry of clientCodes) {
      const error = clientError(entry.code as Parameters<typeof clientError>[0], {});
      assert.equal(error.code, entry.code);
      assert.equal(error.retryable, entry.retryable);
    }
  });

  test('renders messages exactly as @rampart/errors does', () => {
    const details = { provider: 'simbank', reason: 'timeout', timeout_ms: 15000 };
    for (const entry of clientCodes) {
      const code = entry.code as Parameters<typeof clientError>[0];
      assert.equal(clientError(code, details).message, new RampartError(entry.code as never, details).message);
      assert.equal(clientError(code, {}).message, new RampartError(entry.code as never, {}).message);
    }
    const failed = clientError('provider_load_failed', { provider: 'simbank', reason: 'no_global' });
    assert.equal(failed.message, 'Payment provider simbank failed to load.');
    assert.deepEqual(failed.details, { provider: 'simbank', reason: 'no_global' });
  });
});

describe('API error envelopes in the widget', () => {
  test('keep the code, message, retryable and details the API answered', () => {
    const error = errorFromEnvelope({
      error: {
        code: 'token_expired',
        message: 'The token has expired.',
        type: 'authentication',
        retryable: true,
        details: { expired_at: 'x' },
        request_id: 'req_1',
      },
    });
    assert.deepEqual(
      { code: error.code, message: error.message, retryable: error.retryable, details: error.details },
      { code: 'token_expired', message: 'The token has expired.', retryable: true, details: { expired_at: 'x' } },
    );
  });

  test('anything else in their place (a proxy page) is a network error', () => {
    for (const body of [null, '<html>502</html>', { error: 'nope' }, { error: { message: 'no code' } }]) {
      assert.equal(errorFromEnvelope(body).code, 'network_error');
    }
  });
});
