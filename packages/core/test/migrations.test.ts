import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestDatabase } from '../../server/test/harness.ts';
import { createIdGenerator, migrate, Operators, OperatorTokens, systemClock } from '../src/index.ts';
import { hashSecret } from '../src/operators/api-keys.ts';

const TEST_SECRET = `rk_test_${'t'.repeat(32)}`;
const LIVE_SECRET = `rk_live_${'l'.repeat(32)}`;
const XPUB =
  'xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5';
const MAX_BIGINT = 2n ** 63n - 1n;

/**
 * A database as the release before 0019 and 0020 left it, with an operator using both
 * modes, then upgraded: what each migration says it does to existing rows, it does.
 */
test('upgrading a database in use: an operator splits into its two modes, and amounts keep their value', async () => {
  const { db } = await createTestDatabase({ empty: true });
  await migrate(db, { until: '0018_ledger_account_mode.sql' });

  const settings = {
    required_gates: { terms: false, email: false, phone: false, kyc: 'none', geo: false },
    crypto_xpubs: { ETHEREUM: XPUB },
    approval: { url: 'https://approver.example/live', timeout_ms: 500, retries: 1, on_no_answer: 'decline' },
  };
  await db.query(
    `INSERT INTO operators (id, name, ip_allowlist, settings, created_at)
     VALUES ('op_old', 'Old Operator', '{203.0.113.0/24}', $1, now())`,
    [JSON.stringify(settings)],
  );
  for (const [id, mode, secret] of [
    ['key_test', 'test', TEST_SECRET],
    ['key_live', 'live', LIVE_SECRET],
  ] as const) {
    await db.query(
      `INSERT INTO api_keys (id, operator_id, mode, scope, secret_hash, last4, created_at)
       VALUES ($1, 'op_old', $2, 'full', $3, right($4, 4), now())`,
      [id, mode, hashSecret(secret), secret],
    );
  }
  for (const [kid, mode] of [
    ['kid-test', 'test'],
    ['kid-live', 'live'],
  ]) {
    await db.query(
      `INSERT INTO operator_signing_keys (operator_id, kid, mode, public_jwk, created_at)
       VALUES ('op_old', $1, $2, '{"kty":"OKP","crv":"Ed25519","x":"AAAA"}', now())`,
      [kid, mode],
    );
  }
  await db.query(
    `INSERT INTO end_users (operator_id, id, created_at, updated_at) VALUES ('op_old', 'u1', now(), now())`,
  );
  for (const [id, mode] of [
    ['ses_test', 'test'],
    ['ses_live', 'live'],
  ]) {
    await db.query(
      `INSERT INTO sessions (id, operator_id, user_id, mode, source, operation, status, expires_at, created_at)
       VALUES ($1, 'op_old', 'u1', $2, 'server', 'deposit', 'open', now() + interval '30 minutes', now())`,
      [id, mode],
    );
  }
  await db.query(
    `INSERT INTO ledger_accounts (id, operator_id, mode, kind, owner_ref, currency, network, posted, created_at)
     VALUES ('acc_eth', 'op_old', 'live', 'user', 'u1', 'ETH', 'ETHEREUM', $1, now())`,
    [MAX_BIGINT],
  );

  const applied = await migrate(db);
  assert.deepEqual(applied.slice(0, 2), ['0019_operator_modes.sql', '0020_amounts_beyond_bigint.sql']);

  // Each key acts as its mode's tenant, under one public id.
  const operators = new Operators(db, createIdGenerator(), systemClock);
  const caller = { ip: '203.0.113.9', origin: undefined };
  const asTest = await operators.authenticate(TEST_SECRET, caller);
  const asLive = await operators.authenticate(LIVE_SECRET, caller);
  const accountOf = async (tenant: string) => (await operators.get(tenant)).account_id;
  assert.deepEqual(
    [
      asTest.operatorId,
      await accountOf(asTest.operatorId),
      asTest.mode,
      asLive.operatorId,
      await accountOf(asLive.operatorId),
      asLive.mode,
    ],
    ['op_old_test', 'op_old', 'test', 'op_old', 'op_old', 'live'],
  );
  // The test tenant keeps the allowlists and settings, but not the live wallet or approver.
  const twin = await operators.get('op_old_test');
  assert.deepEqual([twin.name, twin.ip_allowlist], ['Old Operator', ['203.0.113.0/24']]);
  const { rows } = await db.query<{ settings: Record<string, unknown> }>(
    "SELECT settings FROM operators WHERE id = 'op_old_test'",
  );
  assert.deepEqual(rows[0]!.settings, { required_gates: settings.required_gates });

  // Signing keys follow their mode; a token's kid still finds its key under the public id.
  const tokens = new OperatorTokens(db, systemClock);
  assert.deepEqual(
    [
      (await tokens.signingKey('op_old', 'kid-test'))?.operator_id,
      (await tokens.signingKey('op_old', 'kid-live'))?.mode,
    ],
    ['op_old_test', 'live'],
  );

  // No test session is left open on the live tenant's users.
  const sessions = await db.query<{ id: string; status: string }>('SELECT id, status FROM sessions ORDER BY id');
  assert.deepEqual(
    sessions.rows.map((s) => [s.id, s.status]),
    [
      ['ses_live', 'open'],
      ['ses_test', 'expired'],
    ],
  );

  // A test payment in flight at the upgrade (its rows on the live tenant) can still book
  // its completion into a new test-mode account there.
  await db.query(
    `INSERT INTO ledger_accounts (id, operator_id, mode, kind, owner_ref, currency, created_at)
     VALUES ('acc_old_test', 'op_old', 'test', 'user', 'u1', 'USD', now())`,
  );

  // The largest balance bigint held is still exactly that, and the column now holds more.
  const account = await db.query<{ posted: bigint; type: string }>(
    "SELECT posted, pg_typeof(posted)::text AS type FROM ledger_accounts WHERE id = 'acc_eth'",
  );
  assert.deepEqual([account.rows[0]!.posted, account.rows[0]!.type], [MAX_BIGINT, 'minor_units']);
});

/**
 * 0027 gives every posted entry already written the balance it left on its account, and
 * fills it in for entries a node of the earlier release writes while a deployment rolls.
 */
test('upgrading a ledger in use: posted entries get their balance_after, holds none, and old writers are filled in', async () => {
  const { db } = await createTestDatabase({ empty: true });
  await migrate(db, { until: '0026_event_commit_order.sql' });
  await db.query(
    `INSERT INTO operators (id, name, ip_allowlist, settings, created_at, mode, account_id)
     VALUES ('op_l', 'Ledger Operator', '{}', '{}', now(), 'live', 'op_l')`,
  );
  await db.query(
    `INSERT INTO ledger_accounts (id, operator_id, mode, kind, owner_ref, currency, created_at)
     VALUES ('acc_user', 'op_l', 'live', 'user', 'u1', 'USD', now()),
            ('acc_bank', 'op_l', 'live', 'provider_clearing', 'bank', 'USD', now())`,
  );
  /** Writes a transfer as the earlier release did: no balance_after. */
  const write = (id: string, kind: string, pending: boolean, userAmount: bigint) =>
    db.transaction(async (tx) => {
      await tx.query(
        `SELECT 1 FROM ledger_accounts WHERE id IN ('acc_bank', 'acc_user') ORDER BY id FOR NO KEY UPDATE`,
      );
      await tx.query(
        `INSERT INTO ledger_transfers (id, operator_id, kind, created_at) VALUES ($1, 'op_l', $2, now())`,
        [id, kind],
      );
      await tx.query(
        `INSERT INTO ledger_entries (transfer_id, account_id, currency, amount, pending, created_at)
         VALUES ($1, 'acc_user', 'USD', $2, $3, now()), ($1, 'acc_bank', 'USD', -$2::numeric, $3, now())`,
        [id, userAmount, pending],
      );
      if (!pending)
        await tx.query(
          `UPDATE ledger_accounts SET posted = posted + CASE id WHEN 'acc_user' THEN $1::numeric ELSE -$1::numeric END
            WHERE id IN ('acc_bank', 'acc_user')`,
          [userAmount],
        );
    });
  await write('tr_1', 'transfer', false, 10_000n);
  await write('hold_1', 'hold', true, -2_000n);
  await write('tr_2', 'transfer', false, -3_000n);

  assert.deepEqual((await migrate(db)).slice(0, 1), ['0027_ledger_balance_after.sql']);
  await write('tr_3', 'transfer', false, 500n); // a node of the earlier release, mid-roll

  const { rows } = await db.query<{ transfer_id: string; account_id: string; balance_after: bigint | null }>(
    'SELECT transfer_id, account_id, balance_after FROM ledger_entries ORDER BY id',
  );
  assert.deepEqual(
    rows.map((r) => [r.transfer_id, r.account_id, r.balance_after]),
    [
      ['tr_1', 'acc_user', 10_000n],
      ['tr_1', 'acc_bank', -10_000n],
      ['hold_1', 'acc_user', null],
      ['hold_1', 'acc_bank', null],
      ['tr_2', 'acc_user', 7_000n],
      ['tr_2', 'acc_bank', -7_000n],
      ['tr_3', 'acc_user', 7_500n],
      ['tr_3', 'acc_bank', -7_500n],
    ],
  );
  await assert.rejects(
    db.query(`UPDATE ledger_entries SET balance_after = 0 WHERE transfer_id = 'tr_1'`),
    /append-only/,
    'entries are append-only again',
  );
});
