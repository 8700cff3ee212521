import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { startTestApp } from '../../server/test/harness.ts';
import { signedCardEvent } from '../../server/test/payment-fixtures.ts';

const MAIN = new URL('../src/main.ts', import.meta.url).pathname;
const run = promisify(execFile);

test('rampart provider-events list | retry: a webhook Rampart cannot apply is set aside, shown, and put back in line', {
  timeout: 60_000,
}, async () => {
  const t = await startTestApp({ sandbox: true });
  const env = { PATH: process.env['PATH'] ?? '', DATABASE_URL: t.db.connectionString };
  const cli = async (...args: string[]) => (await run(process.execPath, [MAIN, ...args], { env })).stdout;
  const json = async (...args: string[]) => JSON.parse(await cli(...args, '--json'));

  // The processor tells of a payment this Rampart never made (another deployment's, say).
  const unknown = signedCardEvent(
    t,
    JSON.stringify({
      id: 'evt_cli_unknown',
      object: 'event',
      type: 'payment.succeeded',
      data: {
        object: {
          id: 'pay_sim_not_ours',
          object: 'payment',
          status: 'succeeded',
          metadata: {},
          next_action: null,
          failure_code: null,
          decline_code: null,
          failure_message: null,
        },
      },
    }),
  );
  assert.equal((await unknown.deliver()).received, true);
  const applier = t.app.jobs.find((job) => job.name === 'process-provider-events')!;
  await applier.run();

  const retrying = await json('provider-events', 'list');
  assert.equal(retrying.length, 1);
  assert.equal(retrying[0].event_id, 'evt_cli_unknown');
  assert.equal(retrying[0].set_aside, false);
  assert.equal(retrying[0].last_error, 'payment_not_found');
  assert.deepEqual(await json('provider-events', 'list', '--set-aside'), []);

  for (let i = 0; i < 25; i++) await applier.run();
  const [setAside] = await json('provider-events', 'list', '--set-aside');
  assert.deepEqual([setAside.event_id, setAside.set_aside, setAside.attempts], ['evt_cli_unknown', true, 20]);
  assert.match(
    await cli('provider-events', 'list'),
    /^simcard\tevt_cli_unknown\tset aside\ttries 20\t.*\tpayment_not_found$/m,
  );

  assert.match(
    await cli('provider-events', 'retry', '--provider', 'simcard', '--event', 'evt_cli_unknown'),
    /retrying/,
  );
  await applier.run();
  const [again] = await json('provider-events', 'list');
  assert.deepEqual([again.set_aside, again.attempts], [false, 1], 'tried again, with a fresh count');
  await assert.rejects(
    cli('provider-events', 'retry', '--provider', 'simcard', '--event', 'evt_nope'),
    /resource_not_found/,
  );
});
