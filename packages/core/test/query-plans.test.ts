import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createTestDatabase } from '../../server/test/harness.ts';
import { createIdGenerator } from '../src/index.ts';
import { Ledger } from '../src/ledger/index.ts';
import { DUE_HOLDS_OF_OPEN_PAYMENTS_SQL, OPEN_PAYMENTS_SQL } from '../src/payments/payments.ts';
import { SETTLE_CONFIRMING_SQL } from '../src/payments/provider-events.ts';

/**
 * Statements that run for every payment, or on a timer against the whole table, must
 * reach their rows through an index: on a small test table a scan is as fast, but on a
 * production table it reads millions of rows. With sequential scans priced out, the
 * planner shows the access path it has; these tests fail when that path is a scan, or
 * an index that reads far more rows than the statement touches.
 */

interface ScanNode {
  type: string;
  relation: string | undefined;
  index: string | undefined;
}

function scans(plan: Record<string, unknown>, into: ScanNode[] = []): ScanNode[] {
  const relation = plan['Relation Name'] as string | undefined;
  const index = plan['Index Name'] as string | undefined;
  if (relation || index) into.push({ type: plan['Node Type'] as string, relation, index });
  for (const child of (plan['Plans'] as Record<string, unknown>[] | undefined) ?? []) scans(child, into);
  return into;
}

describe('query plans', async () => {
  const { db } = await createTestDatabase();

  /**
   * Plans `sql` with sequential scans priced out and checks every access to `table`:
   * none is a scan, and every index it uses is one of `indexes`.
   */
  async function assertReached(sql: string, values: unknown[], table: string, indexes: RegExp): Promise<void> {
    const found = await db.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      const { rows } = await tx.query<{ 'QUERY PLAN': [{ Plan: Record<string, unknown> }] }>(
        `EXPLAIN (FORMAT JSON) ${sql}`,
        values,
      );
      return scans(rows[0]!['QUERY PLAN'][0].Plan);
    });
    const touching = found.filter((node) => node.relation === table || node.index?.startsWith(table));
    assert.ok(touching.length > 0, JSON.stringify(found));
    for (const node of touching) {
      assert.notEqual(node.type, 'Seq Scan', JSON.stringify(found));
      if (node.index) assert.match(node.index, indexes, JSON.stringify(found));
    }
  }

  test('reconciliation reads only open payments, through payments_open', async () => {
    await assertReached(OPEN_PAYMENTS_SQL, [new Date(), new Date(), 50], 'payments', /^payments_open$/);
  });

  test('hold expiry finds the holds open payments depend on through payments_open and the due-hold index', async () => {
    await assertReached(DUE_HOLDS_OF_OPEN_PAYMENTS_SQL, [new Date()], 'payments', /^payments_open$/);
    await assertReached(DUE_HOLDS_OF_OPEN_PAYMENTS_SQL, [new Date()], 'ledger_holds', /^ledger_holds_(expiry|pkey)$/);
  });

  test('settling webhooks that only confirm looks up each payment by provider reference', async () => {
    await assertReached(SETTLE_CONFIRMING_SQL, [new Date()], 'payments', /^payments_provider_ref$/);
  });

  test("a posting reaches its accounts by id, never through the operator's other accounts", async () => {
    const ledger = new Ledger(db, createIdGenerator(), { now: () => new Date() });
    const posting = ledger.transferCte(
      { operatorId: 'op_plan', from: 'acct_a', to: 'acct_b', amount: 100n, reference: 'plan' },
      1,
      'TRUE',
    );
    await assertReached(
      `WITH ${posting.sql} SELECT 1`,
      posting.values,
      'ledger_accounts',
      /^ledger_accounts_(pkey|id_currency_key)$/,
    );
  });
});
