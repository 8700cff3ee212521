import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('standalone configuration', () => {
  test('environment variables set port, webhook targets, secrets and delays', () => {
    const options = loadConfig({
      PORT: '4999',
      SIMULATOR_WEBHOOK_URL_BANK: 'http://127.0.0.1:4000/v1/provider-webhooks/bank',
      SIMULATOR_SECRET_CARDS: 'whsec_x',
      SIMULATOR_SETTLE_DELAY_MS: '50',
      SIMULATOR_PUBLIC_URL: 'http://sim.local:4100',
    });
    assert.equal(options.port, 4999);
    assert.equal(options.host, '127.0.0.1');
    assert.deepEqual(options.webhookTargets, { bank: 'http://127.0.0.1:4000/v1/provider-webhooks/bank' });
    assert.deepEqual(options.secrets, { cards: 'whsec_x' });
    assert.equal(options.settleDelayMs, 50);
    assert.equal(options.publicUrl, 'http://sim.local:4100');
  });

  test('defaults: port 4100, settle delay 2000 ms, no targets', () => {
    const options = loadConfig({});
    assert.equal(options.port, 4100);
    assert.equal(options.settleDelayMs, 2000);
    assert.deepEqual(options.webhookTargets, {});
  });

  test('a bad value names the variable', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty' }),
      (error: Error) => error instanceof ConfigError && /PORT/.test(error.message),
    );
    assert.throws(() => loadConfig({ SIMULATOR_WEBHOOK_URL_KYC: 'not a url' }), /SIMULATOR_WEBHOOK_URL_KYC/);
  });
});

describe('standalone process', () => {
  test('main.ts starts on the configured port, serves the providers, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [new URL('../src/main.ts', import.meta.url).pathname], {
      env: { ...process.env, PORT: '0', SIMULATOR_WEBHOOK_URL_BANK: 'http://127.0.0.1:9/hooks' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    try {
      let output = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const match = /Simulator\s+(http:\/\/\S+)/.exec(output);
          // The last of the start-up lines is the kyc one.
          if (match && /\bkyc\s/.test(output)) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
      });
      assert.match(output, /bank\s+http:\/\/\S+\/bank\s+webhooks → http:\/\/127\.0\.0\.1:9\/hooks/);
      const assets = await fetch(`${url}/crypto/v1/assets`, { headers: { 'x-ramp-key': 'k' } });
      assert.equal(assets.status, 200);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      clearTimeout(killer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  test('a bad variable stops start-up with exit code 2 naming it', async () => {
    const result = spawnSync(process.execPath, [new URL('../src/main.ts', import.meta.url).pathname], {
      env: { ...process.env, PORT: 'x' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /PORT/);
  });
});
