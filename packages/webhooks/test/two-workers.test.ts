import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { createIdGenerator, EventLog, systemClock } from '@rampart/core';
import { defaultWebhookConfig, SecretBox, WebhookEndpoints } from '../src/index.ts';
import { createOperator, createTestDatabase } from './fixtures/database.ts';
import { eventually, TestReceiver } from './fixtures/receiver.ts';

const WORKER = new URL('./fixtures/worker-process.ts', import.meta.url).pathname;
const MASTER = 'c3'.repeat(32);
const PAYMENTS = 500;
const EVENTS_PER_PAYMENT = 10;

function startWorker(databaseUrl: string): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [WORKER, databaseUrl, MASTER], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, output: () => output };
}

/** Runs `work` over `items` with at most `lanes` at once. */
async function inParallel<T>(items: readonly T[], lanes: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

test('two worker processes deliver a burst of 5,000 events once each, in sequence order per payment', {
  timeout: 60_000,
}, async () => {
  const { db, url } = await createTestDatabase();
  const operatorId = await createOperator(db);
  const ids = createIdGenerator();
  const endpoints = new WebhookEndpoints({
    db,
    ids,
    clock: systemClock,
    secrets: SecretBox.forWebhookSecrets(Buffer.from(MASTER, 'hex')),
    config: defaultWebhookConfig,
  });
  const receiver = await new TestReceiver().start();
  const { secret } = await endpoints.create({ operatorId, allowPrivate: true }, { url: receiver.url });
  receiver.secrets = [secret];
  // A little latency, so the two workers' requests interleave.
  receiver.respond = () => ({ status: 200, delayMs: Math.floor(Math.random() * 3) });

  const workers = [startWorker(url), startWorker(url)];
  for (const worker of workers) await eventually('worker ready', worker.output, (out) => out.includes('ready'));

  const started = Date.now();
  const events = new EventLog(db, ids, systemClock);
  const payments = Array.from({ length: PAYMENTS }, (_, i) => `pay_burst_${i}`);
  // Round by round, so subjects interleave; within a subject each event is its own transaction.
  for (let round = 0; round < EVENTS_PER_PAYMENT; round++) {
    await inParallel(payments, 16, (payment) =>
      db.transaction((tx) =>
        events.record(tx, { operatorId, type: 'payment.processing', subjectId: payment, data: { round } }),
      ),
    );
  }
  const total = PAYMENTS * EVENTS_PER_PAYMENT;
  const recorded = Date.now() - started;
  await eventually(
    'all delivered',
    () => receiver.successes().length,
    (n) => n >= total,
    45_000,
  );
  const elapsed = Date.now() - started;

  for (const worker of workers) worker.child.kill('SIGTERM');
  await Promise.all(workers.map((w) => once(w.child, 'exit')));
  const stats = workers.map((w) => JSON.parse(w.output().trim().split('\n').at(-1)!) as { succeeded: number });

  assert.equal(receiver.received.length, total, 'no request beyond one per event');
  const perEvent = new Map<string, number>();
  for (const request of receiver.successes())
    perEvent.set(request.webhookId, (perEvent.get(request.webhookId) ?? 0) + 1);
  assert.equal(perEvent.size, total, 'every event arrived');
  assert.ok(
    [...perEvent.values()].every((n) => n === 1),
    'no event was successfully delivered twice',
  );
  assert.ok(
    receiver.received.every((r) => r.verifiedWith.length === 1),
    'every signature verifies with standardwebhooks',
  );

  const bySubject = Map.groupBy(receiver.received, (r) => r.event.subject_id);
  assert.equal(bySubject.size, PAYMENTS);
  for (const [subject, requests] of bySubject) {
    assert.deepEqual(
      requests.map((r) => r.event.sequence),
      Array.from({ length: EVENTS_PER_PAYMENT }, (_, i) => i + 1),
      `${subject} arrived in sequence order`,
    );
  }

  assert.equal(stats[0]!.succeeded + stats[1]!.succeeded, total);
  assert.ok(
    stats.every((s) => s.succeeded > 0),
    `both workers delivered (${stats.map((s) => s.succeeded).join(' + ')})`,
  );
  const { rows } = await db.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM webhook_deliveries GROUP BY status',
  );
  assert.deepEqual(rows, [{ status: 'succeeded', n: total }]);
  console.log(
    `# ${total} events, 2 workers: recorded in ${recorded} ms, all delivered after ${elapsed} ms (${Math.round(total / (elapsed / 1000))}/s); split ${stats.map((s) => s.succeeded).join(' + ')}`,
  );
});
