import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RampartError } from '@rampart/errors';
import { createTestDatabase } from '../../server/test/harness.ts';
import { createIdGenerator, systemClock } from '../src/index.ts';
import { Ledger, type LedgerAccount } from '../src/ledger/index.ts';
import { Operators } from '../src/operators/operators.ts';
import { Database } from '../src/storage/database.ts';

/** Which operations failed, by cause: a catalog code or a PostgreSQL SQLSTATE. */
function failureCauses(results: PromiseSettledResult<unknown>[]): Map<string, number> {
  const causes = new Map<string, number>();
  for (const result of results) {
    if (result.status === 'fulfilled') continue;
    const error = result.reason as { code?: string; message?: string };
    const cause = error instanceof RampartError ? error.code : `${error.code ?? 'error'}: ${error.message}`;
    causes.set(cause, (causes.get(cause) ?? 0) + 1);
  }
  return causes;
}

describe('ledger under concurrency', async () => {
  const { url } = await createTestDatabase();
  // Enough connections that 200 transactions really contend for the same rows.
  const db = new Database({ connectionString: url, maxConnections: 20 });
  after(() => db.close());
  const ledger = new Ledger(db, createIdGenerator(), systemClock);
  let operatorId: string;
  let owner = 0;

  before(async () => {
    operatorId = (await new Operators(db, createIdGenerator(), systemClock).create({ name: 'Concurrency' })).operator
      .id;
  });

  async function account(kind: 'user' | 'provider_clearing' = 'user', currency = 'USD'): Promise<LedgerAccount> {
    owner += 1;
    return ledger.ensureAccount(db, { operatorId, mode: 'live' as const, kind, ownerRef: `owner_${owner}`, currency });
  }

  async function fund(to: LedgerAccount, amount: bigint): Promise<LedgerAccount> {
    const clearing = await account('provider_clearing', to.currency);
    await db.transaction((tx) => ledger.transfer(tx, { operatorId, from: clearing.id, to: to.id, amount }));
    return clearing;
  }

  const inOneHour = () => new Date(Date.now() + 3_600_000);

  test('200 concurrent withdrawal holds against a balance that covers 73: exactly 73 succeed', async () => {
    const user = await account();
    const amount = 1_000n;
    const covered = 73;
    const clearing = await fund(user, amount * BigInt(covered) + 999n);

    // Watch the balance from outside while the holds race; it must never be overdrawn.
    let watching = true;
    let lowest = Number.POSITIVE_INFINITY;
    const watcher = (async () => {
      while (watching) {
        const { available } = await ledger.balance(user.id);
        lowest = Math.min(lowest, Number(available));
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();

    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) =>
        db.transaction((tx) =>
          ledger.hold(tx, {
            operatorId,
            from: user.id,
            to: clearing.id,
            amount,
            expiresAt: inOneHour(),
            reference: `withdrawal-${i}`,
          }),
        ),
      ),
    );
    watching = false;
    await watcher;

    const succeeded = results.filter((result) => result.status === 'fulfilled').length;
    assert.equal(succeeded, covered);
    assert.deepEqual(failureCauses(results), new Map([['insufficient_balance', 200 - covered]]));
    const balance = await ledger.balance(user.id);
    assert.deepEqual(
      { posted: balance.posted, pending_debits: balance.pending_debits, available: balance.available },
      { posted: 73_999n, pending_debits: 73_000n, available: 999n },
    );
    assert.ok(lowest >= 0, `available went down to ${lowest}`);
    const holds = await db.query<{ n: number; total: string }>(
      `SELECT count(*)::int AS n, sum(amount)::text AS total FROM ledger_holds
        WHERE debit_account_id = $1 AND status = 'pending'`,
      [user.id],
    );
    assert.deepEqual(holds.rows[0], { n: covered, total: '73000' });
    const failed = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
    assert.deepEqual((failed.reason as RampartError).details, {
      available: '9.99',
      requested: '10.00',
      currency: 'USD',
    });
  });

  test('transfers A→B and B→A at the same time never deadlock', async () => {
    const a = await account();
    const b = await account();
    await fund(a, 1_000_000n);
    await fund(b, 1_000_000n);
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled(
        Array.from({ length: 60 }, (_, i) => {
          // Entries listed in opposite orders, so locking in listed order would deadlock.
          const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
          return db.transaction((tx) =>
            ledger.transfer(tx, {
              operatorId,
              entries: [
                { accountId: from.id, amount: -7n },
                { accountId: to.id, amount: 7n },
              ],
            }),
          );
        }),
      );
      assert.deepEqual(failureCauses(results), new Map(), `round ${round}`);
    }
    assert.equal((await ledger.balance(a.id)).posted, 1_000_000n);
    assert.equal((await ledger.balance(b.id)).posted, 1_000_000n);
  });

  test('holds, posts, voids, reversals and the expiry sweep interleave without deadlock or drift', async () => {
    const users = [await account(), await account(), await account()];
    const clearing = await account('provider_clearing');
    for (const user of users)
      await db.transaction((tx) => ledger.transfer(tx, { operatorId, from: clearing.id, to: user.id, amount: 5_000n }));
    const pick = (i: number) => users[i % users.length]!;
    const work = Array.from({ length: 150 }, (_, i) =>
      // The sweep runs its own transaction, as a background worker would.
      i % 5 === 4
        ? ledger.expireHolds(new Date(Date.now() + 10), 10)
        : db.transaction(async (tx) => {
            switch (i % 5) {
              case 0:
                return ledger.transfer(tx, { operatorId, from: pick(i).id, to: pick(i + 1).id, amount: 13n });
              case 1: {
                const hold = await ledger.hold(tx, {
                  operatorId,
                  from: pick(i).id,
                  to: clearing.id,
                  amount: 29n,
                  expiresAt: inOneHour(),
                });
                return ledger.postHold(tx, hold.id, 17n);
              }
              case 2: {
                const hold = await ledger.hold(tx, {
                  operatorId,
                  from: pick(i).id,
                  to: pick(i + 2).id,
                  amount: 31n,
                  // Already lapsing: the sweep below races for it.
                  expiresAt: new Date(Date.now() + 5),
                });
                return hold;
              }
              case 3: {
                const transfer = await ledger.transfer(tx, {
                  operatorId,
                  from: clearing.id,
                  to: pick(i).id,
                  amount: 11n,
                });
                return ledger.reverse(tx, transfer.id);
              }
              default:
                throw new Error('unreachable');
            }
          }),
    );
    const results = await Promise.allSettled(work);
    assert.deepEqual(failureCauses(results), new Map());
    while ((await ledger.expireHolds(new Date(Date.now() + 10), 100)) > 0);

    const drift = await db.query(
      `SELECT a.id FROM ledger_accounts a
        WHERE a.operator_id = $1 AND a.posted <> coalesce(
          (SELECT sum(e.amount) FROM ledger_entries e WHERE e.account_id = a.id AND NOT e.pending), 0)`,
      [operatorId],
    );
    assert.deepEqual(drift.rows, []);
    // Concurrent writers to one account leave its entries' balance_after a running
    // balance in id order, with no balance that never existed in between.
    const statement = await db.query(
      `SELECT e.id FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
         JOIN (SELECT id, sum(amount) OVER (PARTITION BY account_id ORDER BY id) AS running
                 FROM ledger_entries WHERE NOT pending) s ON s.id = e.id
        WHERE a.operator_id = $1 AND e.balance_after IS DISTINCT FROM s.running`,
      [operatorId],
    );
    assert.deepEqual(statement.rows, []);
    const totals = await db.query(
      `SELECT sum(posted)::text AS posted, sum(pending_debits)::text AS pd, sum(pending_credits)::text AS pc
         FROM ledger_accounts WHERE operator_id = $1`,
      [operatorId],
    );
    const total = totals.rows[0]!;
    assert.equal(total.posted, '0');
    assert.equal(total.pd, total.pc);
  });

  test('50 concurrent calls with one reference post exactly one transfer', async () => {
    const user = await account();
    const clearing = await account('provider_clearing');
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        db.transaction((tx) =>
          ledger.transfer(tx, {
            operatorId,
            from: clearing.id,
            to: user.id,
            amount: 4_200n,
            reference: 'pay_x:deposit',
          }),
        ),
      ),
    );
    assert.equal(new Set(results.map((transfer) => transfer.id)).size, 1);
    assert.equal((await ledger.balance(user.id)).posted, 4_200n);
  });
});
