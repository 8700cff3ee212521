import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DOCS_BASE_URL, RampartError, toHttp } from '../src/error.ts';

describe('toHttp', () => {
  it('turns a RampartError into its status and full envelope', () => {
    const error = new RampartError('session_not_open', { status: 'cancelled' });
    const http = toHttp(error, 'req_123');
    assert.equal(http.status, 409);
    assert.deepEqual(http.headers, {});
    assert.deepEqual(http.body, {
      error: {
        code: 'session_not_open',
        message: 'The session is cancelled and can no longer be used.',
        type: 'invalid_state',
        retryable: false,
        details: { status: 'cancelled' },
        request_id: 'req_123',
        doc_url: `${DOCS_BASE_URL}#session_not_open`,
      },
    });
  });

  it('hides an arbitrary thrown Error behind internal_error', () => {
    const secret = 'password=hunter2 at db.internal:5432';
    const http = toHttp(new Error(secret), 'req_456');
    assert.equal(http.status, 500);
    assert.equal(http.body.error.code, 'internal_error');
    assert.equal(http.body.error.retryable, true);
    assert.equal(http.body.error.request_id, 'req_456');
    assert.ok(!JSON.stringify(http.body).includes('hunter2'));
  });

  it('hides non-Error throwables too', () => {
    const http = toHttp('raw string secret', 'req_789');
    assert.equal(http.body.error.code, 'internal_error');
    assert.ok(!JSON.stringify(http.body).includes('secret'));
  });

  it('keeps the cause on the error for logs', () => {
    const cause = new Error('db down');
    assert.equal(new RampartError('internal_error', {}, { cause }).cause, cause);
  });

  it('sends a retry-after header for rate_limited', () => {
    const http = toHttp(new RampartError('rate_limited', { retry_after: 1.2 }), 'req_1');
    assert.equal(http.status, 429);
    assert.equal(http.headers['retry-after'], '2');
    assert.equal(http.body.error.message, 'Too many requests; retry after 1.2 seconds.');
  });
});
