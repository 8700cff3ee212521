import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { startTestApp } from '../../server/test/harness.ts';
import { createPayment, openForPayments } from '../../server/test/payment-fixtures.ts';

const MAIN = new URL('../src/main.ts', import.meta.url).pathname;
const run = promisify(execFile);

test('rampart ledger balances shows what GET /v1/ledger/balances shows, for the mode asked', {
  timeout: 60_000,
}, async () => {
  const t = await startTestApp({ sandbox: true });
  await openForPayments(t, { fees: { deposit: { USD: { fixed: '1.00' } } } });
  const env = { PATH: process.env['PATH'] ?? '', DATABASE_URL: t.db.connectionString };
  const cli = async (...args: string[]) => (await run(process.execPath, [MAIN, ...args], { env })).stdout;
  assert.equal((await createPayment(t, { user_id: 'cli-ledger', amount: '25.00' })).statusCode, 201);

  const api = (await t.app.inject({ method: 'GET', url: '/v1/ledger/balances', headers: t.auth })).json().data;
  const shown = JSON.parse(await cli('ledger', 'balances', '--operator', t.accountId, '--mode', 'test', '--json'));
  assert.deepEqual(shown, api);
  assert.deepEqual(
    api.map((p: { kind: string; posted: string }) => [p.kind, p.posted]),
    [
      ['fees', '1.00'],
      ['provider_clearing', '-25.00'],
      ['user', '24.00'],
    ],
  );
  assert.match(
    await cli('ledger', 'balances', '--operator', t.accountId, '--mode', 'test'),
    /^USD\tfees\t1\.00\t0\.00$/m,
  );
  assert.equal(
    (await cli('ledger', 'balances', '--operator', t.accountId, '--mode', 'live')).trim(),
    '(no accounts yet)',
    'live money is apart',
  );
});
