import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { RampartError } from '@rampart/errors';
import { createTestDatabase } from '../../server/test/harness.ts';
import { type Clock, createIdGenerator } from '../src/index.ts';
import { Ledger, type LedgerAccount, LedgerInvariantError } from '../src/ledger/index.ts';
import { Operators } from '../src/operators/operators.ts';

function manualClock(start = new Date('2026-01-01T00:00:00Z')): Clock & { advance(seconds: number): void } {
  let now = start.getTime();
  return { now: () => new Date(now), advance: (seconds) => (now += seconds * 1000) };
}

function rampartError(code: string, details?: Record<string, unknown>) {
  return (error: unknown) => {
    assert.ok(error instanceof RampartError, `expected ${code}, got ${String(error)}`);
    assert.equal(error.code, code);
    if (details) assert.deepEqual(error.details, details);
    return true;
  };
}

describe('ledger', async () => {
  const { db } = await createTestDatabase();
  const clock = manualClock();
  const ids = createIdGenerator();
  const ledger = new Ledger(db, ids, clock);
  const operators = new Operators(db, ids, clock);
  let operatorId: string;
  let otherOperatorId: string;
  let counter = 0;

  before(async () => {
    operatorId = (await operators.create({ name: 'Ledger Test' })).operator.id;
    otherOperatorId = (await operators.create({ name: 'Someone Else' })).operator.id;
  });

  test('accountId remembers only accounts that exist: one created by a transaction that rolled back is made again', async () => {
    const input = {
      operatorId,
      mode: 'live' as const,
      kind: 'user' as const,
      ownerRef: `remembered-${Date.now()}`,
      currency: 'USD',
    };
    let lost: string | undefined;
    await assert.rejects(
      db.transaction(async (tx) => {
        lost = await ledger.accountId(tx, input);
        throw new Error('roll back');
      }),
      /roll back/,
    );
    const made = await db.transaction((tx) => ledger.accountId(tx, input));
    assert.notEqual(made, lost, 'the rolled-back account was not remembered');
    const again = await db.transaction((tx) => ledger.accountId(tx, input));
    assert.equal(again, made);
    assert.equal((await ledger.ensureAccount(db, input)).id, made);
    const { rows } = await db.query('SELECT count(*)::int AS n FROM ledger_accounts WHERE owner_ref = $1', [
      input.ownerRef,
    ]);
    assert.equal(rows[0]?.n, 1);
  });

  /** A fresh user account, plus the USD clearing account, for one test. */
  async function accounts(currency = 'USD', network: string | null = null) {
    counter += 1;
    const user = await ledger.ensureAccount(db, {
      operatorId,
      mode: 'live',
      kind: 'user',
      ownerRef: `user_${counter}`,
      currency,
      network,
    });
    const other = await ledger.ensureAccount(db, {
      operatorId,
      mode: 'live',
      kind: 'user',
      ownerRef: `user_${counter}_b`,
      currency,
      network,
    });
    const clearing = await ledger.ensureAccount(db, {
      operatorId,
      mode: 'live',
      kind: 'provider_clearing',
      ownerRef: 'bank_sim',
      currency,
      network,
    });
    return { user, other, clearing };
  }

  async function deposit(to: LedgerAccount, from: LedgerAccount, amount: bigint, reference?: string) {
    return db.transaction((tx) =>
      ledger.transfer(tx, { operatorId, from: from.id, to: to.id, amount, ...(reference ? { reference } : {}) }),
    );
  }

  const inOneHour = () => new Date(clock.now().getTime() + 3_600_000);

  describe('accounts', () => {
    test('ensureAccount creates once and then returns the same account', async () => {
      const input = {
        operatorId,
        mode: 'live' as const,
        kind: 'user' as const,
        ownerRef: 'ensure_once',
        currency: 'usd',
      };
      const first = await ledger.ensureAccount(db, input);
      const again = await ledger.ensureAccount(db, input);
      assert.equal(again.id, first.id);
      assert.match(first.id, /^acct_/);
      assert.equal(first.currency, 'USD');
      assert.equal(first.floor, 0n);
      assert.equal(first.posted, 0n);
    });

    test('concurrent ensureAccount calls create one account', async () => {
      const input = {
        operatorId,
        mode: 'live' as const,
        kind: 'user' as const,
        ownerRef: 'ensure_race',
        currency: 'EUR',
      };
      const results = await Promise.all(
        Array.from({ length: 8 }, () => db.transaction((tx) => ledger.ensureAccount(tx, input))),
      );
      assert.equal(new Set(results.map((account) => account.id)).size, 1);
    });

    test('accounts differ by network; system accounts have no floor', async () => {
      const trc = await ledger.ensureAccount(db, {
        operatorId,
        mode: 'live' as const,
        kind: 'fees',
        currency: 'USDT',
        network: 'TRC20',
      });
      const erc = await ledger.ensureAccount(db, {
        operatorId,
        mode: 'live' as const,
        kind: 'fees',
        currency: 'USDT',
        network: 'erc20',
      });
      const any = await ledger.ensureAccount(db, { operatorId, mode: 'live' as const, kind: 'fees', currency: 'USDT' });
      assert.equal(new Set([trc.id, erc.id, any.id]).size, 3);
      assert.equal(erc.network, 'ERC20');
      assert.equal(trc.floor, null);
    });

    test('a fees account may be a shard (#n) of the operator’s fees; no other system account has an owner', async () => {
      const shard = await ledger.ensureAccount(db, {
        operatorId,
        mode: 'live' as const,
        kind: 'fees',
        ownerRef: '#7',
        currency: 'EUR',
      });
      assert.equal(shard.owner_ref, '#7');
      await assert.rejects(
        ledger.ensureAccount(db, {
          operatorId,
          mode: 'live' as const,
          kind: 'operator_settlement',
          ownerRef: '#7',
          currency: 'EUR',
        }),
        rampartError('invalid_value'),
      );
      await assert.rejects(
        db.query(
          `INSERT INTO ledger_accounts (id, operator_id, kind, owner_ref, currency, mode, created_at)
           VALUES ('acct_bad_fees', $1, 'fees', 'someone', 'EUR', 'live', now())`,
          [operatorId],
        ),
        /ledger_accounts_owner/,
      );
    });

    test('bad account inputs name the field', async () => {
      await assert.rejects(
        ledger.ensureAccount(db, { operatorId, mode: 'live' as const, kind: 'user', currency: 'USD' }),
        rampartError('invalid_value'),
      );
      await assert.rejects(
        ledger.ensureAccount(db, { operatorId, mode: 'live' as const, kind: 'fees', ownerRef: 'x', currency: 'USD' }),
        rampartError('invalid_value'),
      );
      await assert.rejects(
        ledger.ensureAccount(db, {
          operatorId,
          mode: 'live' as const,
          kind: 'user',
          ownerRef: 'x',
          currency: 'USD',
          floor: 5n,
        }),
        rampartError('invalid_value'),
      );
      await assert.rejects(
        ledger.ensureAccount(db, {
          operatorId,
          mode: 'live' as const,
          kind: 'user',
          ownerRef: 'x',
          currency: 'USDT',
          network: 'BITCOIN',
        }),
        rampartError('wallet_not_supported', { currency: 'USDT', network: 'BITCOIN' }),
      );
      await assert.rejects(
        ledger.ensureAccount(db, { operatorId, mode: 'live' as const, kind: 'user', ownerRef: 'x', currency: 'XXX' }),
        rampartError('invalid_value'),
      );
    });

    test('an unknown account is resource_not_found', async () => {
      await assert.rejects(ledger.balance('acct_nope'), rampartError('resource_not_found'));
    });
  });

  describe('transfers', () => {
    test('a deposit moves money from provider clearing to the user', async () => {
      const { user, clearing } = await accounts();
      const transfer = await deposit(user, clearing, 1_250n);
      assert.match(transfer.id, /^tr_/);
      assert.equal(transfer.kind, 'transfer');
      assert.deepEqual(
        transfer.entries.map((entry) => [entry.account_id, entry.amount, entry.pending]),
        [
          [clearing.id, -1_250n, false],
          [user.id, 1_250n, false],
        ],
      );
      assert.deepEqual(await ledger.balance(user.id), {
        account_id: user.id,
        currency: 'USD',
        network: null,
        posted: 1_250n,
        pending_debits: 0n,
        pending_credits: 0n,
        available: 1_250n,
        floor: 0n,
      });
      assert.equal((await ledger.balance(clearing.id)).posted <= -1_250n, true);
    });

    test('a transfer that would take a user below zero is insufficient_balance and moves nothing', async () => {
      const { user, other, clearing } = await accounts();
      await deposit(user, clearing, 1_000n);
      await assert.rejects(
        db.transaction((tx) => ledger.transfer(tx, { operatorId, from: user.id, to: other.id, amount: 1_001n })),
        rampartError('insufficient_balance', { available: '10.00', requested: '10.01', currency: 'USD' }),
      );
      assert.equal((await ledger.balance(user.id)).posted, 1_000n);
      assert.equal((await ledger.balance(other.id)).posted, 0n);
      await db.transaction((tx) => ledger.transfer(tx, { operatorId, from: user.id, to: other.id, amount: 1_000n }));
      assert.equal((await ledger.balance(user.id)).posted, 0n);
    });

    test('a negative floor lets a user go that far below zero and no further', async () => {
      const { user, other, clearing } = await accounts();
      await deposit(user, clearing, 100n);
      await db.transaction((tx) => ledger.setFloor(tx, user.id, -500n));
      await db.transaction((tx) => ledger.transfer(tx, { operatorId, from: user.id, to: other.id, amount: 600n }));
      assert.equal((await ledger.balance(user.id)).posted, -500n);
      await assert.rejects(
        db.transaction((tx) => ledger.transfer(tx, { operatorId, from: user.id, to: other.id, amount: 1n })),
        rampartError('insufficient_balance', { available: '0.00', requested: '0.01', currency: 'USD' }),
      );
      await db.transaction((tx) => ledger.setFloor(tx, user.id, null));
      await db.transaction((tx) => ledger.transfer(tx, { operatorId, from: user.id, to: other.id, amount: 10_000n }));
      assert.equal((await ledger.balance(user.id)).posted, -10_500n);
    });

    test('system accounts may go negative', async () => {
      const fees = await ledger.ensureAccount(db, { operatorId, mode: 'live' as const, kind: 'fees', currency: 'GBP' });
      const settlement = await ledger.ensureAccount(db, {
        operatorId,
        mode: 'live' as const,
        kind: 'operator_settlement',
        currency: 'GBP',
      });
      await db.transaction((tx) => ledger.transfer(tx, { operatorId, from: fees.id, to: settlement.id, amount: 99n }));
      assert.equal((await ledger.balance(fees.id)).posted, -99n);
    });

    test('multi-leg transfers: a deposit with a fee', async () => {
      const { user, clearing } = await accounts();
      const fees = await ledger.ensureAccount(db, { operatorId, mode: 'live' as const, kind: 'fees', currency: 'USD' });
      const transfer = await db.transaction((tx) =>
        ledger.transfer(tx, {
          operatorId,
          entries: [
            { accountId: clearing.id, amount: -10_000n },
            { accountId: user.id, amount: 9_750n },
            { accountId: fees.id, amount: 250n },
          ],
          description: 'deposit with fee',
          metadata: { payment_id: 'pay_1' },
        }),
      );
      assert.equal(transfer.entries.length, 3);
      assert.deepEqual((await ledger.getTransfer(transfer.id)).metadata, { payment_id: 'pay_1' });
      assert.equal((await ledger.balance(user.id)).posted, 9_750n);
    });

    test('an unbalanced transfer is refused in code, and nothing is written', async () => {
      const { user, clearing } = await accounts();
      const before = await db.query('SELECT count(*)::int AS n FROM ledger_transfers');
      await assert.rejects(
        db.transaction((tx) =>
          ledger.transfer(tx, {
            operatorId,
            entries: [
              { accountId: clearing.id, amount: -100n },
              { accountId: user.id, amount: 99n },
            ],
          }),
        ),
        (error: unknown) => error instanceof LedgerInvariantError && /does not balance.*USD.*-1/.test(error.message),
      );
      assert.deepEqual((await db.query('SELECT count(*)::int AS n FROM ledger_transfers')).rows, before.rows);
    });

    test('entries in two currencies must each balance', async () => {
      const usd = await accounts('USD');
      const eur = await accounts('EUR');
      await assert.rejects(
        db.transaction((tx) =>
          ledger.transfer(tx, {
            operatorId,
            entries: [
              { accountId: usd.clearing.id, amount: -100n },
              { accountId: eur.user.id, amount: 100n },
            ],
          }),
        ),
        LedgerInvariantError,
      );
    });

    /** Another operator's clearing account. */
    const foreignAccount = () =>
      ledger.ensureAccount(db, {
        operatorId: otherOperatorId,
        mode: 'live',
        kind: 'provider_clearing',
        ownerRef: 'bank_sim',
        currency: 'USD',
      });

    /** A transfer and its entries written by hand, past the ledger's own checks. */
    const rawTransfer = (id: string, currency: string, ...entries: [string, number][]) =>
      db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO ledger_transfers (id, operator_id, kind, created_at) VALUES ($1, $2, 'transfer', now())`,
          [id, operatorId],
        );
        await tx.query(
          `INSERT INTO ledger_entries (transfer_id, account_id, currency, amount, pending, created_at)
           SELECT $1, e.account_id, $2, e.amount, false, now() FROM unnest($3::text[], $4::int8[]) AS e(account_id, amount)`,
          [id, currency, entries.map(([account]) => account), entries.map(([, amount]) => amount)],
        );
      });

    test('the database refuses an unbalanced transfer at commit, whatever the code does', async () => {
      const { user, clearing } = await accounts();
      await assert.rejects(
        rawTransfer('tr_raw_1', 'USD', [clearing.id, -100], [user.id, 90]),
        (error: unknown) =>
          (error as { code?: string }).code === '23514' && /does not balance/.test((error as Error).message),
      );
      // Adding a lone entry to an existing, balanced transfer is caught too.
      const transfer = await deposit(user, clearing, 100n);
      await assert.rejects(
        db.query(
          `INSERT INTO ledger_entries (transfer_id, account_id, currency, amount, pending, created_at)
           VALUES ($1, $2, 'USD', 5, false, now())`,
          [transfer.id, (await accounts()).other.id],
        ),
        /does not balance/,
      );
      // And a transfer with no entries at all.
      await assert.rejects(
        db.query(
          `INSERT INTO ledger_transfers (id, operator_id, kind, created_at) VALUES ('tr_raw_2', $1, 'transfer', now())`,
          [operatorId],
        ),
        /needs at least two/,
      );
    });

    test("the database refuses a transfer that touches another operator's account", async () => {
      const { user } = await accounts();
      const foreign = await foreignAccount();
      await assert.rejects(
        rawTransfer('tr_raw_4', 'USD', [foreign.id, -100], [user.id, 100]),
        (error: unknown) =>
          (error as { code?: string }).code === '23514' &&
          /touches another operator's account/.test((error as Error).message),
      );
    });

    test('an entry in another currency than its account is refused by the database', async () => {
      const { user, clearing } = await accounts();
      await assert.rejects(
        rawTransfer('tr_raw_3', 'EUR', [clearing.id, -100], [user.id, 100]),
        (error: unknown) => (error as { code?: string }).code === '23503',
      );
    });

    test('entries and transfers are append-only: UPDATE, DELETE and TRUNCATE fail', async () => {
      const { user, clearing } = await accounts();
      const transfer = await deposit(user, clearing, 500n);
      for (const sql of [
        `UPDATE ledger_entries SET amount = amount * 2 WHERE transfer_id = '${transfer.id}'`,
        `DELETE FROM ledger_entries WHERE transfer_id = '${transfer.id}'`,
        'TRUNCATE ledger_entries CASCADE',
        `UPDATE ledger_transfers SET description = 'edited' WHERE id = '${transfer.id}'`,
        `DELETE FROM ledger_transfers WHERE id = '${transfer.id}'`,
        'TRUNCATE ledger_transfers CASCADE',
      ])
        await assert.rejects(db.query(sql), /is append-only/, sql);
      assert.deepEqual(
        (await ledger.getTransfer(transfer.id)).entries.map((e) => e.amount),
        [-500n, 500n],
      );
    });

    test('accounts of another operator are not found', async () => {
      const { user } = await accounts();
      const foreign = await foreignAccount();
      await assert.rejects(
        db.transaction((tx) => ledger.transfer(tx, { operatorId, from: foreign.id, to: user.id, amount: 1n })),
        rampartError('resource_not_found', { resource: 'ledger_account', id: foreign.id }),
      );
    });

    test('amounts must be positive bigints within 2^256 - 1', async () => {
      const { user, clearing } = await accounts();
      for (const amount of [0n, -5n, 2n ** 256n, 5 as unknown as bigint])
        await assert.rejects(
          db.transaction((tx) => ledger.transfer(tx, { operatorId, from: clearing.id, to: user.id, amount })),
          rampartError('invalid_amount'),
          String(amount),
        );
    });

    test('a balance that would leave ±(2^256 - 1) is invalid_amount and moves nothing', async () => {
      const a = await ledger.ensureAccount(db, {
        operatorId,
        mode: 'live' as const,
        kind: 'suspense',
        currency: 'ETH',
      });
      const b = await ledger.ensureAccount(db, { operatorId, mode: 'live' as const, kind: 'fees', currency: 'ETH' });
      const max = 2n ** 256n - 1n;
      await db.transaction((tx) => ledger.transfer(tx, { operatorId, from: a.id, to: b.id, amount: max }));
      await assert.rejects(
        db.transaction((tx) => ledger.transfer(tx, { operatorId, from: a.id, to: b.id, amount: 1n })),
        rampartError('invalid_amount', {
          field: 'amount',
          provided: '0.000000000000000001',
          expected:
            'an amount that keeps the balance within ±115792089237316195423570985008687907853269984665640564039457.584007913129639935 ETH',
        }),
      );
      assert.equal((await ledger.balance(b.id)).posted, max);
      assert.equal((await ledger.balance(a.id)).posted, -max);
    });
  });

  describe('idempotency by reference', () => {
    test('the same reference returns the first transfer and moves money once', async () => {
      const { user, clearing } = await accounts();
      const first = await deposit(user, clearing, 700n, 'dep-1');
      const second = await deposit(user, clearing, 700n, 'dep-1');
      assert.equal(second.id, first.id);
      assert.equal((await ledger.balance(user.id)).posted, 700n);
      assert.equal((await ledger.transferByReference(operatorId, 'dep-1'))?.id, first.id);
    });

    test('concurrent calls with one reference post one transfer', async () => {
      const { user, clearing } = await accounts();
      const results = await Promise.all(Array.from({ length: 10 }, () => deposit(user, clearing, 300n, 'dep-race')));
      assert.equal(new Set(results.map((transfer) => transfer.id)).size, 1);
      assert.equal((await ledger.balance(user.id)).posted, 300n);
    });

    test('the same reference with different entries is idempotency_conflict', async () => {
      const { user, other, clearing } = await accounts();
      await deposit(user, clearing, 700n, 'dep-2');
      await assert.rejects(deposit(user, clearing, 701n, 'dep-2'), rampartError('idempotency_conflict'));
      await assert.rejects(deposit(other, clearing, 700n, 'dep-2'), rampartError('idempotency_conflict'));
      assert.equal((await ledger.balance(user.id)).posted, 700n);
    });

    test('a replay is answered even when the balance no longer covers it', async () => {
      const { user, other, clearing } = await accounts();
      await deposit(user, clearing, 100n);
      const move = () =>
        db.transaction((tx) =>
          ledger.transfer(tx, { operatorId, from: user.id, to: other.id, amount: 100n, reference: 'spend-1' }),
        );
      const first = await move();
      assert.equal((await move()).id, first.id);
    });

    test('references are per operator', async () => {
      const { user, clearing } = await accounts();
      const a = await ledger.ensureAccount(db, {
        operatorId: otherOperatorId,
        mode: 'live',
        kind: 'user',
        ownerRef: 'u',
        currency: 'USD',
      });
      const b = await ledger.ensureAccount(db, {
        operatorId: otherOperatorId,
        mode: 'live',
        kind: 'suspense',
        currency: 'USD',
      });
      const mine = await deposit(user, clearing, 1n, 'shared-ref');
      const theirs = await db.transaction((tx) =>
        ledger.transfer(tx, { operatorId: otherOperatorId, from: b.id, to: a.id, amount: 1n, reference: 'shared-ref' }),
      );
      assert.notEqual(theirs.id, mine.id);
    });
  });

  describe('holds', () => {
    test('a hold reserves: available drops, posted does not', async () => {
      const { user, clearing } = await accounts();
      await deposit(user, clearing, 1_000n);
      const hold = await db.transaction((tx) =>
        ledger.hold(tx, { operatorId, from: user.id, to: clearing.id, amount: 400n, expiresAt: inOneHour() }),
      );
      assert.match(hold.id, /^hold_/);
      assert.equal(hold.status, 'pending');
      const balance = await ledger.balance(user.id);
      assert.deepEqual([balance.posted, balance.pending_debits, balance.available], [1_000n, 400n, 600n]);
      assert.equal((await ledger.balance(clearing.id)).pending_credits >= 400n, true);
      const entries = (await ledger.getTransfer(hold.id)).entries;
      assert.ok(entries.every((entry) => entry.pending));
    });

    test('a hold beyond the available balance is insufficient_balance', async () => {
      const { user, clearing } = await accounts();
      await deposit(user, clearing, 1_000n);
      await db.transaction((tx) =>
        ledger.hold(tx, { operatorId, from: user.id, to: clearing.id, amount: 700n, expiresAt: inOneHour() }),
      );
      await assert.rejects(
        db.transaction((tx) =>
          ledger.hold(tx, { operatorId, from: user.id, to: clearing.id, amount: 301n, expiresAt: inOneHour() }),
        ),
        rampartError('insufficient_balance', { available: '3.00', requested: '3.01', currency: 'USD' }),
      );
      await assert.rejects(
        db.transaction((tx) => ledger.transfer(tx, { operatorId, from: user.id, to: clearing.id, amount: 301n })),
        rampartError('insufficient_balance'),
      );
    });

    test('posting a hold moves the money and releases the reservation', async () => {
      const { user, clearing } = await accounts();
      await deposit(user, clearing, 1_000n);
      const clearingBefore = await ledger.balance(clearing.id);
      const hold = await db.transaction((tx) =>
        ledger.hold(tx, { operatorId, from: user.id, to: clearing.id, amount: 400n, expiresAt: inOneHour() }),
      );
      const posting = await db.transaction((tx) => ledger.postHold(tx, hold.id));
      assert.equal(posting.kind, 'hold_post');
      assert.equal(posting.hold_id, hold.id);
      const balance = await ledger.balance(user.id);
      assert.deepEqual([balance.posted, balance.pending_debits, balance.available], [600n, 0n, 600n]);
      const after = await ledger.balance(clearing.id);
      assert.equal(after.posted, clearingBefore.posted + 400n);
      assert.equal(after.pending_credits, clearingBefore.pending_credits);
      const stored = await ledger.getHold(hold.id);
      assert.deepEqual([stored.status, stored.posted_amount, stored.posting_transfer_id], ['posted', 400n, posting.id]);
      // Posting again with the same amount is the same posting, not a second one.
      assert.equal((await db.transaction((tx) => ledger.postHold(tx, hold.id))).id, posting.id);
      assert.equal((await ledger.balance(user.id)).posted, 600n);
    });

    test('a partial post moves less and frees the rest', async () => {
      const { user, clearing } = await accounts();
      await deposit(user, clearing, 1_000n);
      const hold = await db.transaction((tx) =>
        ledger.hold(tx, { operatorId, from: user.id, to: clearing.id, amount: 400n, expiresAt: inOneHour() }),
      );
      await assert.rejects(
        db.transaction((tx) => ledger.postHold(tx, hold.id, 401n)),
        rampartError('invalid_amount', {
          field: 'amount',
          provided: '401',
          expected: 'a positive amount of at most 4.00 USD, the amount held',
        }),
      );
      await db.transaction((tx) => ledger.postHold(tx, hold.id, 250n));
      const balance = await ledger.balance(user.id);
      assert.deepEqual([balance.posted, balance.pending_debits], [750n, 0n]);
      await assert.rejects(
        db.transaction((tx) => ledger.postHold(tx, hold.id, 300n)),
        rampartError('illegal_state_transition', { resource: 'hold', from: 'posted', to: 'posted' }),
      );
    });

    test('voiding releases the reservation; a voided hold cannot be posted', async () => {
      const { user, clearing } = await accounts();
      await deposit(user, clearing, 1_000n);
      const hold = await db.transaction((tx) =>
        ledger.hold(tx, { operatorId, from: user.id, to: clearing.id, amount: 400n, expiresAt: inOneHour() }),
      );
      const voided = await db.transaction((tx) => ledger.voidHold(tx, hold.id));
      assert.equal(voided.status, 'voided');
      assert.equal((await ledger.balance(user.id)).available, 1_000n);
      assert.equal((await db.transaction((tx) => ledger.voidHold(tx, hold.id))).status, 'voided');
      await assert.rejects(
        db.transaction((tx) => ledger.postHold(tx, hold.id)),
        rampartError('illegal_state_transition', { resource: 'hold', from: 'voided', to: 'posted' }),
      );
    });

    test('a posted hold cannot be voided', async () => {
      const { user, clearing } = await accounts();
      await deposit(user, clearing, 1_000n);
      const hold = await db.transaction((tx) =>
        ledger.hold(tx, { operatorId, from: user.id, to: clearing.id, amount: 1_000n, expiresAt: inOneHour() }),
      );
      await db.transaction((tx) => ledger.postHold(tx, hold.id));
      await assert.rejects(
        db.transaction((tx) => ledger.voidHold(tx, hold.id)),
        rampartError('illegal_state_transition', { resource: 'hold', from: 'posted', to: 'voided' }),
      );
    });

    /** A funded user and a hold of 300 on it that falls due in a minute. */
    const dueInAMinute = async () => {
      const { user, clearing } = await accounts();
      await deposit(user, clearing, 1_000n);
      const hold = await db.transaction((tx) =>
        ledger.hold(tx, {
          operatorId,
          from: user.id,
          to: clearing.id,
          amount: 300n,
          expiresAt: new Date(clock.now().getTime() + 60_000),
        }),
      );
      return { user, hold };
    };

    test('expired holds are swept: funds come back and the hold can no longer be posted', async () => {
      const { user, hold } = await dueInAMinute();
      clock.advance(61);
      // Past its expiry a hold cannot be posted even before the sweep reaches it.
      await assert.rejects(
        db.transaction((tx) => ledger.postHold(tx, hold.id)),
        rampartError('illegal_state_transition', { resource: 'hold', from: 'expired', to: 'posted' }),
      );
      assert.equal((await ledger.balance(user.id)).available, 700n);
      let expired = 0;
      for (let n = await ledger.expireHolds(); n > 0; n = await ledger.expireHolds()) expired += n;
      assert.ok(expired >= 1);
      assert.equal((await ledger.getHold(hold.id)).status, 'expired');
      assert.equal((await ledger.balance(user.id)).available, 1_000n);
      assert.equal((await db.transaction((tx) => ledger.voidHold(tx, hold.id))).status, 'expired');
    });

    test('a hold past due but not yet swept is posted when its owner says its end has come (evenIfDue)', async () => {
      const { user, hold } = await dueInAMinute();
      clock.advance(61);
      await db.transaction((tx) => ledger.postHold(tx, hold.id, undefined, { evenIfDue: true }));
      assert.equal((await ledger.getHold(hold.id)).status, 'posted');
      assert.deepEqual(
        [(await ledger.balance(user.id)).posted, (await ledger.balance(user.id)).available],
        [700n, 700n],
      );
      // Once swept, the money is free again and no owner can post it any more.
      const { hold: swept } = await dueInAMinute();
      clock.advance(61);
      while ((await ledger.expireHolds()) > 0);
      await assert.rejects(
        db.transaction((tx) => ledger.postHold(tx, swept.id, undefined, { evenIfDue: true })),
        rampartError('illegal_state_transition', { resource: 'hold', from: 'expired', to: 'posted' }),
      );
    });

    test('the sweep works in bounded batches', async () => {
      const { user, clearing } = await accounts();
      await deposit(user, clearing, 1_000n);
      while ((await ledger.expireHolds(clock.now(), 1_000)) > 0);
      for (let i = 0; i < 5; i++)
        await db.transaction((tx) =>
          ledger.hold(tx, {
            operatorId,
            from: user.id,
            to: clearing.id,
            amount: 10n,
            expiresAt: new Date(clock.now().getTime() + 1_000),
          }),
        );
      assert.equal((await ledger.balance(user.id)).available, 950n);
      clock.advance(2);
      assert.deepEqual(
        [
          await ledger.expireHolds(clock.now(), 2),
          await ledger.expireHolds(clock.now(), 2),
          await ledger.expireHolds(clock.now(), 2),
        ],
        [2, 2, 1],
      );
      assert.equal((await ledger.balance(user.id)).available, 1_000n);
      await assert.rejects(ledger.expireHolds(clock.now(), 0), LedgerInvariantError);
      await assert.rejects(ledger.expireHolds(clock.now(), 1_001), LedgerInvariantError);
    });

    test('a hold needs a future expiry', async () => {
      const { user, clearing } = await accounts();
      await assert.rejects(
        db.transaction((tx) =>
          ledger.hold(tx, { operatorId, from: user.id, to: clearing.id, amount: 1n, expiresAt: clock.now() }),
        ),
        rampartError('invalid_value'),
      );
    });

    test('holds are idempotent by reference', async () => {
      const { user, clearing } = await accounts();
      await deposit(user, clearing, 1_000n);
      const place = (amount: bigint) =>
        db.transaction((tx) =>
          ledger.hold(tx, {
            operatorId,
            from: user.id,
            to: clearing.id,
            amount,
            expiresAt: inOneHour(),
            reference: `wd-${user.id}`,
          }),
        );
      const first = await place(600n);
      const again = await place(600n);
      assert.equal(again.id, first.id);
      assert.equal((await ledger.balance(user.id)).pending_debits, 600n);
      await assert.rejects(place(601n), rampartError('idempotency_conflict'));
    });

    test('unknown holds are resource_not_found', async () => {
      await assert.rejects(
        db.transaction((tx) => ledger.postHold(tx, 'hold_missing')),
        rampartError('resource_not_found', { resource: 'hold', id: 'hold_missing' }),
      );
    });

    test('the database lets a hold leave pending only once', async () => {
      const { user, clearing } = await accounts();
      await deposit(user, clearing, 10n);
      const hold = await db.transaction((tx) =>
        ledger.hold(tx, { operatorId, from: user.id, to: clearing.id, amount: 10n, expiresAt: inOneHour() }),
      );
      await db.transaction((tx) => ledger.voidHold(tx, hold.id));
      await assert.rejects(
        db.query(`UPDATE ledger_holds SET status = 'pending', resolved_at = NULL WHERE id = $1`, [hold.id]),
        /is voided and cannot change/,
      );
      await assert.rejects(db.query('DELETE FROM ledger_holds WHERE id = $1', [hold.id]), /cannot be deleted/);
    });

    test('a pending hold can be extended, never shortened; a resolved one not at all', async () => {
      const { user, clearing } = await accounts();
      await deposit(user, clearing, 10n);
      const expiresAt = inOneHour();
      const hold = await db.transaction((tx) =>
        ledger.hold(tx, { operatorId, from: user.id, to: clearing.id, amount: 10n, expiresAt }),
      );
      const later = new Date(expiresAt.getTime() + 86_400_000);
      assert.equal(await ledger.extendHolds(db, [hold.id], later), 1);
      assert.equal((await ledger.getHold(hold.id)).expires_at.getTime(), later.getTime());
      assert.equal(await ledger.extendHolds(db, [hold.id], expiresAt), 0, 'an earlier time is no extension');
      await assert.rejects(
        db.query('UPDATE ledger_holds SET expires_at = $2 WHERE id = $1', [hold.id, expiresAt]),
        /only its status may change, or its expiry move later/,
      );
      await db.transaction((tx) => ledger.voidHold(tx, hold.id));
      assert.equal(await ledger.extendHolds(db, [hold.id], new Date(later.getTime() + 1)), 0);
      assert.equal((await ledger.getHold(hold.id)).status, 'voided');
    });
  });

  describe('reversals', () => {
    test('reverse mirrors the entries and restores the balances, once', async () => {
      const { user, clearing } = await accounts();
      const clearingBefore = (await ledger.balance(clearing.id)).posted;
      const transfer = await deposit(user, clearing, 800n);
      const reversal = await db.transaction((tx) => ledger.reverse(tx, transfer.id, { description: 'ACH R01' }));
      assert.equal(reversal.kind, 'reversal');
      assert.equal(reversal.reverses_id, transfer.id);
      assert.deepEqual(
        reversal.entries.map((entry) => [entry.account_id, entry.amount]).sort(),
        transfer.entries.map((entry) => [entry.account_id, -entry.amount]).sort(),
      );
      assert.equal((await ledger.balance(user.id)).posted, 0n);
      assert.equal((await ledger.balance(clearing.id)).posted, clearingBefore);
      const again = await db.transaction((tx) => ledger.reverse(tx, transfer.id));
      assert.equal(again.id, reversal.id);
      assert.equal((await ledger.balance(user.id)).posted, 0n);
    });

    test('a reversal respects floors unless told the money is already gone', async () => {
      const { user, other, clearing } = await accounts();
      const depositTransfer = await deposit(user, clearing, 500n);
      await db.transaction((tx) => ledger.transfer(tx, { operatorId, from: user.id, to: other.id, amount: 500n }));
      await assert.rejects(
        db.transaction((tx) => ledger.reverse(tx, depositTransfer.id)),
        rampartError('insufficient_balance', { available: '0.00', requested: '5.00', currency: 'USD' }),
      );
      await db.transaction((tx) => ledger.reverse(tx, depositTransfer.id, { ignoreFloor: true }));
      assert.equal((await ledger.balance(user.id)).posted, -500n);
      // Money can always come back in to an account below its floor.
      await deposit(user, clearing, 100n);
      assert.equal((await ledger.balance(user.id)).posted, -400n);
    });

    test('holds and reversals cannot be reversed', async () => {
      const { user, clearing } = await accounts();
      const transfer = await deposit(user, clearing, 800n);
      const hold = await db.transaction((tx) =>
        ledger.hold(tx, { operatorId, from: user.id, to: clearing.id, amount: 100n, expiresAt: inOneHour() }),
      );
      await assert.rejects(
        db.transaction((tx) => ledger.reverse(tx, hold.id)),
        rampartError('illegal_state_transition', { resource: 'transfer', from: 'pending', to: 'reversed' }),
      );
      await db.transaction((tx) => ledger.voidHold(tx, hold.id));
      const reversal = await db.transaction((tx) => ledger.reverse(tx, transfer.id));
      await assert.rejects(
        db.transaction((tx) => ledger.reverse(tx, reversal.id)),
        rampartError('illegal_state_transition', { resource: 'transfer', from: 'reversal', to: 'reversed' }),
      );
    });

    test("a hold's posting can be reversed", async () => {
      const { user, clearing } = await accounts();
      await deposit(user, clearing, 800n);
      const hold = await db.transaction((tx) =>
        ledger.hold(tx, { operatorId, from: user.id, to: clearing.id, amount: 300n, expiresAt: inOneHour() }),
      );
      const posting = await db.transaction((tx) => ledger.postHold(tx, hold.id));
      await db.transaction((tx) => ledger.reverse(tx, posting.id, { reference: 'wd-failed' }));
      assert.equal((await ledger.balance(user.id)).available, 800n);
    });
  });

  describe('history', () => {
    test('entries page newest first with a cursor', async () => {
      const { user, clearing } = await accounts();
      for (let i = 1n; i <= 5n; i++) await deposit(user, clearing, i);
      const first = await ledger.entries(user.id, null, 2);
      assert.deepEqual(
        first.entries.map((entry) => entry.amount),
        [5n, 4n],
      );
      const second = await ledger.entries(user.id, first.next_cursor, 2);
      assert.deepEqual(
        second.entries.map((entry) => entry.amount),
        [3n, 2n],
      );
      const third = await ledger.entries(user.id, second.next_cursor, 2);
      assert.deepEqual(
        third.entries.map((entry) => entry.amount),
        [1n],
      );
      assert.equal(third.next_cursor, null);
      await assert.rejects(ledger.entries(user.id, 'garbage'), rampartError('invalid_value'));
      await assert.rejects(ledger.entries(user.id, null, 0), rampartError('invalid_value'));
    });
  });
});
