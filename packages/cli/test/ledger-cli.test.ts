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

  // A user's statement, as GET /v1/users/{id}/balance_transactions shows it.
  assert.equal((await createPayment(t, { user_id: 'cli-ledger', amount: '10.00' })).statusCode, 201);
  const statement = ['ledger', 'statement', '--operator', t.accountId, '--mode', 'test', '--user', 'cli-ledger'];
  const listed = (
    await t.app.inject({ method: 'GET', url: '/v1/users/cli-ledger/balance_transactions', headers: t.auth })
  ).json().data;
  assert.deepEqual(JSON.parse(await cli(...statement, '--json')), listed);
  assert.deepEqual(
    (await cli(...statement))
      .trim()
      .split('\n')
      .map((line) => line.split('\t').slice(1, 5)),
    [
      ['USD', '9.00', '= 33.00', 'payment'],
      ['USD', '24.00', '= 24.00', 'payment'],
    ],
  );
  const older = JSON.parse(await cli(...statement, '--after', listed[0].id, '--json'));
  assert.deepEqual(
    older.map((m: { id: string }) => m.id),
    [listed[1].id],
  );
});
