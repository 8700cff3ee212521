import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { createIdGenerator, EventLog, systemClock } from '@rampart/core';
import { Webhook } from 'standardwebhooks';
import { createTestDatabase } from './harness.ts';
import { launchServer, serverReady } from './processes.ts';
import { eventually, SECRETS_KEY } from './webhooks-fixtures.ts';

test('kill -9 with undelivered events in the outbox: after restart every event is delivered, none lost', {
  timeout: 90_000,
}, async () => {
  const { db, url: databaseUrl } = await createTestDatabase();
  const env = {
    DATABASE_URL: databaseUrl,
    RAMPART_DEMO_OPERATOR: 'true',
    RAMPART_SECRETS_KEY: SECRETS_KEY,
    RAMPART_WEBHOOK_TIMEOUT: '1s',
    RAMPART_WEBHOOK_POLL_INTERVAL: '50ms',
    RAMPART_WEBHOOK_RETRY_SCHEDULE: '0,200ms,200ms,200ms,200ms,200ms',
  };

  // The receiver first holds every request unanswered (the server is mid-delivery when
  // it dies), then answers 200 once `healthy`.
  let healthy = false;
  const held: ServerResponse[] = [];
  const delivered = new Map<string, number>();
  let signingSecret = '';
  let badSignatures = 0;
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (!healthy) {
        held.push(res);
        return;
      }
      const body = Buffer.concat(chunks).toString();
      try {
        new Webhook(signingSecret).verify(body, req.headers as Record<string, string>);
      } catch {
        badSignatures++;
      }
      const id = String(req.headers['webhook-id']);
      delivered.set(id, (delivered.get(id) ?? 0) + 1);
      res.writeHead(200).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  after(() => {
    receiver.closeAllConnections();
    receiver.close();
  });
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

  const first = launchServer(env);
  const { url, secret } = await serverReady(first);
  assert.ok(secret, 'fresh database: demo operator and key printed');
  const auth = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  const operator = (await (await fetch(`${url}/v1/operator`, { headers: auth })).json()) as { id: string };
  // The demo key is a test key: its endpoint hears the events of the operator's test tenant.
  const tenants = await db.query<{ id: string }>("SELECT id FROM operators WHERE account_id = $1 AND mode = 'test'", [
    operator.id,
  ]);
  const testTenant = tenants.rows[0]!.id;
  const created = await fetch(`${url}/v1/webhook_endpoints`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ url: hookUrl }),
  });
  assert.equal(created.status, 201);
  signingSecret = ((await created.json()) as { secret: string }).secret;

  const events = new EventLog(db, createIdGenerator(), systemClock);
  const recorded: string[] = [];
  const recordBatch = async (count: number, tag: string) => {
    for (let i = 0; i < count; i++) {
      const event = await db.transaction((tx) =>
        events.record(tx, {
          operatorId: testTenant,
          type: 'payment.completed',
          subjectId: `pay_${tag}_${i % 10}`,
          data: { i },
        }),
      );
      recorded.push(event.id);
    }
  };
  await recordBatch(100, 'before');
  await eventually(
    'deliveries in flight',
    () => held.length,
    (n) => n > 0,
  );
  first.child.kill('SIGKILL');
  await once(first.child, 'exit');
  for (const res of held) res.destroy();

  const undelivered = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending'",
  );
  const queued = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_fanout_queue');
  assert.ok(undelivered.rows[0]!.n + queued.rows[0]!.n > 0, 'work was left behind by the crash');
  assert.equal(delivered.size, 0, 'nothing had been acknowledged');
  await recordBatch(50, 'while_down');

  healthy = true;
  const second = launchServer(env);
  await serverReady(second);
  await eventually(
    'every event delivered',
    () => recorded.filter((id) => delivered.has(id)).length,
    (n) => n === 150,
  );
  second.child.kill('SIGTERM');
  assert.equal((await once(second.child, 'exit'))[0], 0, 'clean stop');

  assert.equal(badSignatures, 0, 'every delivery verifies with standardwebhooks');
  assert.ok(
    [...delivered.values()].every((n) => n === 1),
    'nothing was acknowledged twice',
  );
  const { rows } = await db.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM webhook_deliveries GROUP BY status',
  );
  assert.deepEqual(rows, [{ status: 'succeeded', n: 150 }], 'each event delivered, none lost');
});
