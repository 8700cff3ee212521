import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { runningClusterUrl } from '../src/index.ts';
import { createTestDatabase } from './harness.ts';
import { launchServer, openForPaymentsAt, serverReady } from './processes.ts';
import { eventually } from './webhooks-fixtures.ts';

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
    const first = launchServer(env);
    const { url, secret } = await serverReady(first);
    assert.match(first.output(), /API reference\s+http:\/\/127\.0\.0\.1:\d+\/docs/);
    assert.ok(secret, `demo key printed:\n${first.output()}`);
    assert.equal(await operatorStatus(url, secret), 200);

    const second = launchServer(env);
    assert.equal(await second.exited, 3);
    assert.match(second.output(), /in use by another Rampart process/);
    assert.equal(await operatorStatus(url, secret), 200, 'the refused server did not disturb the first');

    const madeBeforeCrash = await createKey(url, secret);
    first.child.kill('SIGKILL');
    await first.exited;

    const restarted = launchServer(env);
    const again = await serverReady(restarted);
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

  test('a first start makes no demo operator and prints no key: logs of a deployment are not where keys go', async () => {
    const { url: emptyUrl } = await createTestDatabase();
    const server = launchServer({ DATABASE_URL: emptyUrl });
    const { secret } = await serverReady(server);
    assert.equal(secret, undefined);
    assert.doesNotMatch(server.output(), /rk_(test|live)_/);
    assert.match(server.output(), /Operators\s+none yet; create the first: npm run rampart -- operators create/);
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
  });

  test('data committed before kill -9 is there after restart', async () => {
    // Asked for, as a staging deployment might: the demo operator and its key.
    const first = launchServer({ DATABASE_URL: databaseUrl, RAMPART_DEMO_OPERATOR: 'true' });
    const { url, secret } = await serverReady(first);
    assert.ok(secret);
    const madeBeforeCrash = await createKey(url, secret);
    first.child.kill('SIGKILL');
    await first.exited;
    const restarted = launchServer({ DATABASE_URL: databaseUrl });
    const again = await serverReady(restarted);
    assert.equal(await operatorStatus(again.url, madeBeforeCrash), 200);
    restarted.child.kill('SIGTERM');
    assert.equal(await restarted.exited, 0);
  });

  test('a bad configuration value stops start-up with a message naming it', async () => {
    const server = launchServer({ DATABASE_URL: databaseUrl, PORT: 'eighty' });
    assert.equal(await server.exited, 2);
    assert.match(server.output(), /invalid configuration: PORT/);
  });
});

describe('the sandbox a server starts', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-proc-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('signs its webhooks with secrets of this deployment: they are taken, and the public defaults are not', async () => {
    const server = launchServer({ RAMPART_DATA_DIR: dataDir });
    const { url, secret } = await serverReady(server);
    const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
    await openForPaymentsAt(url, secret!, {
      providers: { deposit: [{ provider: 'simcard', blocked_jurisdictions: [] }] },
    });
    const created = await fetch(`${url}/v1/payments`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        user_id: 'ada',
        kind: 'deposit',
        method: 'card',
        amount: '25.00',
        currency: 'USD',
        instrument: { card_number: '4242424242424242', exp_month: 12, exp_year: 2030, cvc: '123' },
      }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const db = new pg.Client({ connectionString: runningClusterUrl(dataDir) });
    await db.connect();
    try {
      // The processor's own webhook about the payment arrives, and is recorded.
      await eventually(
        'the simulator’s webhook recorded',
        async () => (await db.query("SELECT 1 FROM provider_events WHERE provider = 'simcard'")).rowCount,
        (count) => count !== null && count > 0,
      );
    } finally {
      await db.end();
    }

    const body = JSON.stringify({
      id: 'evt_forged',
      type: 'payment.succeeded',
      data: { object: { id: 'pay_x', object: 'payment', status: 'succeeded' } },
    });
    const ts = Math.floor(Date.now() / 1000);
    const signature = `t=${ts},v1=${createHmac('sha256', 'whsec_sim_cards').update(`${ts}.${body}`).digest('hex')}`;
    const forged = await fetch(`${url}/v1/provider-webhooks/simcard`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sim-signature': signature },
      body,
    });
    assert.equal(forged.status, 401, await forged.clone().text());
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'invalid_token');
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
  });
});
