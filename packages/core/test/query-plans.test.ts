import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createTestDatabase } from '../../server/test/harness.ts';
import { createIdGenerator } from '../src/index.ts';
import { Ledger } from '../src/ledger/index.ts';
import { OPEN_PAYMENTS_SQL } from '../src/payments/payments.ts';
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

  async function plan(sql: string, values: unknown[]): Promise<ScanNode[]> {
    return db.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      const { rows } = await tx.query<{ 'QUERY PLAN': [{ Plan: Record<string, unknown> }] }>(
        `EXPLAIN (FORMAT JSON) ${sql}`,
        values,
      );
      return scans(rows[0]!['QUERY PLAN'][0].Plan);
    });
  }

  test('reconciliation reads only open payments, through payments_open', async () => {
    const found = await plan(OPEN_PAYMENTS_SQL, [new Date(), new Date(), 50]);
    const payments = found.filter((node) => node.relation === 'payments' || node.index?.startsWith('payments'));
    assert.ok(payments.length > 0, JSON.stringify(found));
    for (const node of payments) {
      assert.notEqual(node.type, 'Seq Scan', JSON.stringify(found));
      if (node.index) assert.equal(node.index, 'payments_open', JSON.stringify(found));
    }
  });

  test('settling webhooks that only confirm looks up each payment by provider reference', async () => {
    const found = await plan(SETTLE_CONFIRMING_SQL, [new Date()]);
    const payments = found.filter((node) => node.relation === 'payments' || node.index?.startsWith('payments'));
    assert.ok(payments.length > 0, JSON.stringify(found));
    for (const node of payments) {
      assert.notEqual(node.type, 'Seq Scan', JSON.stringify(found));
      if (node.index) assert.equal(node.index, 'payments_provider_ref', JSON.stringify(found));
    }
  });

  test("a posting reaches its accounts by id, never through the operator's other accounts", async () => {
    const ledger = new Ledger(db, createIdGenerator(), { now: () => new Date() });
    const posting = ledger.transferCte(
      { operatorId: 'op_plan', from: 'acct_a', to: 'acct_b', amount: 100n, reference: 'plan' },
      1,
      'TRUE',
    );
    const found = await plan(`WITH ${posting.sql} SELECT 1`, posting.values);
    const accounts = found.filter(
      (node) => node.relation === 'ledger_accounts' || node.index?.startsWith('ledger_accounts'),
    );
    assert.ok(accounts.length > 0, JSON.stringify(found));
    for (const node of accounts) {
      assert.notEqual(node.type, 'Seq Scan', JSON.stringify(found));
      if (node.index) assert.match(node.index, /^ledger_accounts_(pkey|id_currency_key)$/, JSON.stringify(found));
    }
  });
});
