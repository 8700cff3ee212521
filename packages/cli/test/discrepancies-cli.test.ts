import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { errorOf, startTestApp } from '../../server/test/harness.ts';
import { CARD_OK, createPayment, openForPayments, processorSays } from '../../server/test/payment-fixtures.ts';

const MAIN = new URL('../src/main.ts', import.meta.url).pathname;
const run = promisify(execFile);

test('rampart discrepancies list | resolve work the queue the API shows', { timeout: 60_000 }, async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t);
  const env = { PATH: process.env['PATH'] ?? '', DATABASE_URL: t.db.connectionString };
  const cli = async (...args: string[]) => (await run(process.execPath, [MAIN, ...args], { env })).stdout;
  const json = async (...args: string[]) => JSON.parse(await cli(...args, '--json'));
  // The harness key is a test key: its discrepancies are the operator's test mode's.
  const testMode = ['--operator', t.accountId, '--mode', 'test'];

  // A declined card deposit the processor then reports paid.
  const declined = await createPayment(t, {
    user_id: 'cli-dsc',
    amount: '15.00',
    instrument: { ...CARD_OK, card_number: '4000000000000002' },
  });
  const paymentId = errorOf(declined).details['payment_id'] as string;
  await processorSays(t, paymentId, `evt_cli_dsc_${paymentId}`, 'succeeded');

  const open = await json('discrepancies', 'list', ...testMode, '--status', 'open');
  assert.equal(open.length, 1);
  assert.deepEqual(
    [open[0].payment_id, open[0].recorded_status, open[0].reported_status],
    [paymentId, 'failed', 'completed'],
  );
  assert.match(
    await cli('discrepancies', 'list', ...testMode),
    new RegExp(`^${open[0].id}\\topen\\t${paymentId}\\tsimcard reports completed, Rampart has failed`),
  );

  await assert.rejects(
    cli('discrepancies', 'resolve', ...testMode, '--discrepancy', open[0].id, '--resolution', '  '),
    /invalid_value/,
  );
  const resolved = await json(
    'discrepancies',
    'resolve',
    ...testMode,
    '--discrepancy',
    open[0].id,
    '--resolution',
    'Refunded at the processor.',
  );
  assert.equal(resolved.status, 'resolved');
  const seen = await t.app.inject({ method: 'GET', url: `/v1/discrepancies/${open[0].id}`, headers: t.auth });
  assert.equal(seen.json().resolution, 'Refunded at the processor.');
  assert.deepEqual(await json('discrepancies', 'list', ...testMode, '--status', 'open'), []);
  await assert.rejects(
    cli('discrepancies', 'resolve', ...testMode, '--discrepancy', open[0].id, '--resolution', 'again'),
    /illegal_state_transition/,
  );
  const other = await t.operators.create({ name: 'Other' });
  await assert.rejects(
    cli(
      'discrepancies',
      'resolve',
      '--operator',
      other.operator.id,
      '--mode',
      'test',
      '--discrepancy',
      open[0].id,
      '--resolution',
      'x',
    ),
    /resource_not_found/,
  );
});
