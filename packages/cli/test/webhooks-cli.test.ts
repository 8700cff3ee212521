import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createTestDatabase } from '../../server/test/harness.ts';
import { eventually, SECRETS_KEY, startReceiver, startWorker } from '../../server/test/webhooks-fixtures.ts';

const MAIN = new URL('../src/main.ts', import.meta.url).pathname;
const run = promisify(execFile);

test('rampart webhooks create | list | test | deliveries | redeliver | replay', { timeout: 90_000 }, async () => {
  const { db, url } = await createTestDatabase();
  const env = { PATH: process.env['PATH'] ?? '', DATABASE_URL: url, RAMPART_SECRETS_KEY: SECRETS_KEY };
  const cli = async (...args: string[]) => {
    const { stdout } = await run(process.execPath, [MAIN, ...args], { env });
    return stdout;
  };
  const json = async (...args: string[]) => JSON.parse(await cli(...args, '--json'));

  const { operator } = await json('operators', 'create', '--name', 'CLI Webhooks');
  const live = ['--operator', operator.id, '--mode', 'live'];
  // Which of the operator's modes a command changes is always said.
  await assert.rejects(cli('webhooks', 'list', '--operator', operator.id), /required option '--mode <mode>'/);
  const receiver = await startReceiver();

  await assert.rejects(cli('webhooks', 'create', ...live, '--url', receiver.url), /invalid_value/);
  const endpoint = await json(
    'webhooks',
    'create',
    ...live,
    '--url',
    receiver.url,
    '--allow-private-url',
    '--event',
    'payment.completed',
    '--event',
    'webhook.test',
  );
  assert.match(endpoint.secret, /^whsec_/);
  receiver.secret.value = endpoint.secret;
  assert.match(await cli('webhooks', 'list', ...live), new RegExp(`${endpoint.id}\\tenabled`));

  const queued = await json('webhooks', 'test', ...live, '--endpoint', endpoint.id);
  assert.equal(queued.reason, 'test');
  const worker = startWorker(db);
  await eventually(
    'test event delivered',
    () => receiver.received.length,
    (n) => n === 1,
  );
  assert.ok(receiver.received[0]!.valid, 'the secret the CLI printed signs what the worker sends');

  const delivery = await eventually(
    'logged',
    () => json('webhooks', 'deliveries', ...live, '--delivery', queued.id),
    (d) => d.status === 'succeeded',
  );
  assert.equal(delivery.attempts[0].status_code, 200);
  const log = await cli('webhooks', 'deliveries', ...live, '--endpoint', endpoint.id);
  assert.match(log, new RegExp(`${queued.id}\\tsucceeded\\twebhook.test`));

  const redelivered = await json(
    'webhooks',
    'redeliver',
    ...live,
    '--event',
    queued.event_id,
    '--endpoint',
    endpoint.id,
  );
  assert.equal(redelivered[0].reason, 'redeliver');
  await eventually(
    'redelivered',
    () => receiver.received.length,
    (n) => n === 2,
  );
  assert.equal(receiver.received[1]!.headers['webhook-id'], queued.event_id);

  const replay = await json(
    'webhooks',
    'replay',
    ...live,
    '--endpoint',
    endpoint.id,
    '--from',
    '2020-01-01T00:00:00Z',
    '--to',
    '2100-01-01T00:00:00Z',
  );
  assert.equal(replay.deliveries, 0, 'test events are not replayed; nothing else happened');
  await worker.stop();
});
