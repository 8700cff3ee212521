import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { generateSigningSecret, signatureHeader, WebhookRejected, WebhookVerifier } from '../src/index.ts';

const body = JSON.stringify({ id: 'evt_1', object: 'event', type: 'payment.completed', data: { amount: 1000 } });
const now = () => Math.floor(Date.now() / 1000);

function headers(secrets: string[], timestamp = now(), id = 'evt_1', payload = body) {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatureHeader(secrets, id, timestamp, payload),
  };
}

function rejected(reason: WebhookRejected['reason']) {
  return (error: unknown) => error instanceof WebhookRejected && error.reason === reason;
}

describe('signing', () => {
  test('signatures verify with the reference standardwebhooks library', () => {
    const secret = generateSigningSecret();
    assert.deepEqual(new Webhook(secret).verify(body, headers([secret])), JSON.parse(body));
  });

  test('with two secrets the header carries two signatures and either secret verifies', () => {
    const [oldSecret, newSecret] = [generateSigningSecret(), generateSigningSecret()];
    const signed = headers([newSecret, oldSecret]);
    assert.equal(signed['webhook-signature'].split(' ').length, 2);
    assert.ok(new Webhook(oldSecret).verify(body, signed));
    assert.ok(new Webhook(newSecret).verify(body, signed));
    assert.throws(() => new Webhook(generateSigningSecret()).verify(body, signed));
  });

  test('secrets are whsec_ and 32 random bytes', () => {
    const secret = generateSigningSecret();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(Buffer.from(secret.slice(6), 'base64').length, 32);
    assert.notEqual(secret, generateSigningSecret());
  });
});

describe('the receiver helper', () => {
  const secret = generateSigningSecret();
  const verifier = new WebhookVerifier(secret);

  test('accepts a valid delivery and returns the event', () => {
    assert.equal(verifier.verify(Buffer.from(body), headers([secret])).id, 'evt_1');
  });

  test('rejects a bad signature, a changed body and a changed id', () => {
    assert.throws(() => verifier.verify(body, headers([generateSigningSecret()])), rejected('bad_signature'));
    assert.throws(() => verifier.verify(body.replace('1000', '9000'), headers([secret])), rejected('bad_signature'));
    const moved = { ...headers([secret]), 'webhook-id': 'evt_2' };
    assert.throws(() => verifier.verify(body, moved), rejected('bad_signature'));
  });

  test('rejects timestamps more than 5 minutes away, even when correctly signed', () => {
    assert.throws(() => verifier.verify(body, headers([secret], now() - 301)), rejected('timestamp_out_of_tolerance'));
    assert.throws(() => verifier.verify(body, headers([secret], now() + 301)), rejected('timestamp_out_of_tolerance'));
    assert.ok(verifier.verify(body, headers([secret], now() - 240)));
  });

  test('rejects missing or malformed headers', () => {
    const { 'webhook-signature': _, ...unsigned } = headers([secret]);
    assert.throws(() => verifier.verify(body, unsigned), rejected('malformed_headers'));
    assert.throws(
      () => verifier.verify(body, { ...headers([secret]), 'webhook-timestamp': 'soon' }),
      rejected('malformed_headers'),
    );
  });

  test('a receiver moving to a new secret may accept both', () => {
    const next = generateSigningSecret();
    const both = new WebhookVerifier([secret, next]);
    assert.ok(both.verify(body, headers([next])));
    assert.ok(both.verify(body, headers([secret])));
  });
});
