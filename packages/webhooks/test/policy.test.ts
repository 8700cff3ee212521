import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RampartError } from '@rampart/errors';
import {
  addressAllowed,
  checkEndpointUrl,
  DEFAULT_RETRY_SCHEDULE_MS,
  isPrivateAddress,
  nextRetryDelay,
  parseRetryAfter,
  parseSecretsKey,
  parseWebhookConfig,
  SecretBox,
} from '../src/index.ts';

describe('SSRF policy', () => {
  test('private, loopback, link-local and reserved addresses are recognised', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:a00:1',
    ])
      assert.equal(isPrivateAddress(address), true, address);
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '172.32.0.1', '::ffff:5db8:d822'])
      assert.equal(isPrivateAddress(address), false, address);
  });

  const refusedUrl = (error: unknown) =>
    error instanceof RampartError && error.code === 'invalid_value' && error.details['field'] === 'url';
  const dns = (table: Record<string, string[]>) => async (host: string) => table[host] ?? [];

  test('without the allowance, private literals and names resolving privately are refused', async () => {
    const resolve = dns({ 'internal.example.com': ['10.0.0.5'], 'mixed.example.com': ['93.184.216.34', '127.0.0.1'] });
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://[::1]/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://localhost/hook',
      'https://internal.example.com/hook',
      'https://mixed.example.com/hook',
    ])
      await assert.rejects(checkEndpointUrl(url, { policy: 'public', resolve }), refusedUrl, url);
  });

  test('public hosts pass; with the allowance (test mode or flag) private ones pass too', async () => {
    const resolve = dns({ 'hooks.example.com': ['93.184.216.34'] });
    assert.equal(
      await checkEndpointUrl('https://hooks.example.com/in', { policy: 'public', resolve }),
      'https://hooks.example.com/in',
    );
    assert.ok(await checkEndpointUrl('http://127.0.0.1:9/hook', { policy: 'private', resolve }));
    assert.ok(await checkEndpointUrl('http://10.0.0.5/hook', { policy: 'private', resolve }));
    assert.ok(await checkEndpointUrl('http://169.254.169.254/latest', { policy: 'any', resolve }));
  });

  test('even test mode never reaches link-local (cloud metadata) or unspecified addresses', async () => {
    const resolve = dns({ 'metadata.example.com': ['169.254.169.254'] });
    for (const url of ['http://169.254.169.254/latest/meta-data', 'http://[fe80::1]/x', 'http://metadata.example.com/'])
      await assert.rejects(checkEndpointUrl(url, { policy: 'private', resolve }), refusedUrl, url);
    assert.equal(addressAllowed('169.254.169.254', 'private'), false);
    assert.equal(addressAllowed('::ffff:169.254.169.254', 'private'), false);
    assert.equal(addressAllowed('0.0.0.0', 'private'), false);
    assert.equal(addressAllowed('fd00:ec2::254', 'private'), false, 'AWS’s IPv6 instance metadata');
    assert.equal(addressAllowed('fd00:ec2::253', 'private'), true, 'the rest of a unique-local network is private');
    assert.equal(addressAllowed('127.0.0.1', 'private'), true);
    assert.equal(addressAllowed('127.0.0.1', 'public'), false);
    assert.equal(addressAllowed('169.254.169.254', 'any'), true);
  });

  test('non-HTTP schemes, credentials in the URL and garbage are refused in every mode', async () => {
    for (const url of ['ftp://example.com/x', 'https://user:pw@example.com/x', 'not a url', 'file:///etc/passwd'])
      await assert.rejects(checkEndpointUrl(url, { policy: 'any' }), refusedUrl, url);
  });
});

describe('retry schedule', () => {
  test('the default is immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h', () => {
    assert.deepEqual(
      DEFAULT_RETRY_SCHEDULE_MS.map((ms) => ms / 1000),
      [0, 5, 300, 1800, 7200, 18000, 36000, 36000],
    );
  });

  test('jitter only delays (up to 20 %), and the schedule ends in exhaustion', () => {
    const schedule = [0, 5_000, 300_000];
    const at = (attempts: number, random: number) =>
      nextRetryDelay(attempts, schedule, { retryAfterMaxMs: 3_600_000, random: () => random });
    assert.equal(at(1, 0), 5_000);
    assert.equal(at(1, 0.999), 5_999);
    assert.equal(at(2, 0.5), 330_000);
    assert.equal(at(3, 0), undefined, 'after the last attempt: exhausted');
  });

  test('Retry-After can only push a retry later, and never beyond the clamp', () => {
    const delay = (retryAfterMs: number) =>
      nextRetryDelay(1, [0, 5_000], { retryAfterMs, retryAfterMaxMs: 60_000, random: () => 0 });
    assert.equal(delay(1_000), 5_000);
    assert.equal(delay(30_000), 30_000);
    assert.equal(delay(86_400_000), 60_000);
    const now = new Date('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now), 60_000);
    assert.equal(parseRetryAfter('soon', now), undefined);
  });
});

describe('configuration', () => {
  const fail = (variable: string, problem: string): never => {
    throw new Error(`${variable}: ${problem}`);
  };

  test('defaults, and every variable read', () => {
    const defaults = parseWebhookConfig({}, fail);
    assert.equal(defaults.timeoutMs, 15_000);
    assert.equal(defaults.allowPrivateUrls, false);
    const config = parseWebhookConfig(
      {
        RAMPART_WEBHOOK_RETRY_SCHEDULE: '0, 10s, 1m, 1h',
        RAMPART_WEBHOOK_TIMEOUT: '5s',
        RAMPART_WEBHOOK_DISABLE_AFTER: '3d',
        RAMPART_WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
        RAMPART_WEBHOOK_CONCURRENCY: '8',
        RAMPART_WEBHOOK_POLL_INTERVAL: '100ms',
      },
      fail,
    );
    assert.deepEqual(config.retrySchedule, [0, 10_000, 60_000, 3_600_000]);
    assert.equal(config.timeoutMs, 5_000);
    assert.equal(config.disableAfterMs, 3 * 86_400_000);
    assert.equal(config.allowPrivateUrls, true);
    assert.equal(config.concurrency, 8);
    assert.equal(config.pollIntervalMs, 100);
  });

  test('a bad value names its variable', () => {
    assert.throws(() => parseWebhookConfig({ RAMPART_WEBHOOK_RETRY_SCHEDULE: '0,soon' }, fail), /RETRY_SCHEDULE/);
    assert.throws(() => parseWebhookConfig({ RAMPART_WEBHOOK_TIMEOUT: '2m' }, fail), /RAMPART_WEBHOOK_TIMEOUT/);
    assert.throws(() => parseWebhookConfig({ RAMPART_WEBHOOK_ALLOW_PRIVATE_URLS: 'maybe' }, fail), /ALLOW_PRIVATE/);
  });
});

describe('secrets at rest', () => {
  const master = Buffer.alloc(32, 1);

  test('AES-256-GCM round trip, bound to its owner', () => {
    const box = SecretBox.forWebhookSecrets(master);
    const sealed = box.seal('whsec_abc', 'we_1');
    assert.ok(!sealed.includes(Buffer.from('whsec_abc')), 'no plaintext in the record');
    assert.equal(box.open(sealed, 'we_1'), 'whsec_abc');
    assert.notDeepEqual(box.seal('whsec_abc', 'we_1'), sealed, 'fresh nonce every time');
    assert.throws(() => box.open(sealed, 'we_2'), /RAMPART_SECRETS_KEY/, 'copied to another endpoint: refused');
  });

  test('another master secret cannot open it; a tampered record is refused', () => {
    const sealed = SecretBox.forWebhookSecrets(master).seal('whsec_abc', 'we_1');
    assert.throws(() => SecretBox.forWebhookSecrets(Buffer.alloc(32, 2)).open(sealed, 'we_1'));
    const tampered = Buffer.from(sealed);
    tampered[20]! ^= 1;
    assert.throws(() => SecretBox.forWebhookSecrets(master).open(tampered, 'we_1'));
  });

  test('the key is 32 bytes, hex or base64', () => {
    assert.equal(parseSecretsKey('ab'.repeat(32))?.length, 32);
    assert.equal(parseSecretsKey(Buffer.alloc(32, 9).toString('base64'))?.length, 32);
    assert.equal(parseSecretsKey('short'), undefined);
  });
});
