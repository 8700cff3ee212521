import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createTestDatabase } from './harness.ts';

const MAIN = new URL('../src/main.ts', import.meta.url).pathname;

interface Server {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function launch(env: Record<string, string>): Server {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env['PATH'] ?? '', PORT: '0', RAMPART_SIMULATOR_PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, output: () => output, exited };
}

/** Waits for the banner and returns the printed API URL and (first start only) secret key. */
async function ready(server: Server): Promise<{ url: string; secret: string | undefined }> {
  for (let waited = 0; waited < 90_000; waited += 100) {
    const url = /Rampart API\s+(\S+)/.exec(server.output())?.[1];
    if (url && /Operators|Secret key/.test(server.output())) {
      return { url, secret: /Secret key\s+(rk_test_\w+)/.exec(server.output())?.[1] };
    }
    if (server.child.exitCode !== null) throw new Error(`server exited:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not start:\n${server.output()}`);
}

async function createKey(url: string, secret: string): Promise<string> {
  const response = await fetch(`${url}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ description: 'made before the crash' }),
  });
  assert.equal(response.status, 201);
  return ((await response.json()) as { secret: string }).secret;
}

async function operatorStatus(url: string, secret: string): Promise<number> {
  return (await fetch(`${url}/v1/operator`, { headers: { authorization: `Bearer ${secret}` } })).status;
}

describe('the server process on the embedded PostgreSQL', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-proc-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { RAMPART_DATA_DIR: dataDir };

  test('first start prints URLs and a demo key; data committed before kill -9 survives; a second server is refused; SIGINT stops cleanly', async () => {
    const first = launch(env);
    const { url, secret } = await ready(first);
    assert.match(first.output(), /API reference\s+http:\/\/127\.0\.0\.1:\d+\/docs/);
    assert.ok(secret, `demo key printed:\n${first.output()}`);
    assert.equal(await operatorStatus(url, secret), 200);

    const second = launch(env);
    assert.equal(await second.exited, 3);
    assert.match(second.output(), /in use by another Rampart process/);
    assert.equal(await operatorStatus(url, secret), 200, 'the refused server did not disturb the first');

    const madeBeforeCrash = await createKey(url, secret);
    first.child.kill('SIGKILL');
    await first.exited;

    const restarted = launch(env);
    const again = await ready(restarted);
    assert.equal(again.secret, undefined, 'the demo operator is created once');
    assert.equal(await operatorStatus(again.url, madeBeforeCrash), 200);
    assert.equal(await operatorStatus(again.url, secret), 200);

    restarted.child.kill('SIGINT');
    assert.equal(await restarted.exited, 0);
    assert.equal(existsSync(join(dataDir, 'rampart.lock')), false);
    const pidFile = join(dataDir, 'pg', 'postmaster.pid');
    assert.equal(existsSync(pidFile), false, 'PostgreSQL stopped with Rampart');
  });
});

describe('the server process on DATABASE_URL', async () => {
  const { url: databaseUrl } = await createTestDatabase();

  test('data committed before kill -9 is there after restart', async () => {
    const first = launch({ DATABASE_URL: databaseUrl });
    const { url, secret } = await ready(first);
    assert.ok(secret);
    const madeBeforeCrash = await createKey(url, secret);
    first.child.kill('SIGKILL');
    await first.exited;
    const restarted = launch({ DATABASE_URL: databaseUrl });
    const again = await ready(restarted);
    assert.equal(await operatorStatus(again.url, madeBeforeCrash), 200);
    restarted.child.kill('SIGTERM');
    assert.equal(await restarted.exited, 0);
  });

  test('a bad configuration value stops start-up with a message naming it', async () => {
    const server = launch({ DATABASE_URL: databaseUrl, PORT: 'eighty' });
    assert.equal(await server.exited, 2);
    assert.match(server.output(), /invalid configuration: PORT/);
  });
});
