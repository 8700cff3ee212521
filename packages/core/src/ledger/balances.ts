import { RampartError } from '@rampart/errors';
import type { Queryable } from '../storage/database.ts';
import type { Balance, LedgerAccount } from './types.ts';

/**
 * Balances live in the account rows. They change in the statement that writes a
 * transfer's entries (`writing` in ledger.ts), and when holds are released, under the
 * row locks taken by `lockAccounts`.
 */

export const ACCOUNT_COLUMNS =
  'id, operator_id, kind, owner_ref, currency, network, floor, posted, pending_debits, pending_credits, created_at';

/**
 * Locks the accounts with `SELECT … FOR UPDATE` in one statement, ordered by id.
 * Every ledger operation takes its account locks this way before any other ledger
 * lock, so two transactions wait for each other in the same order and cannot
 * deadlock, and balances read here cannot change until the transaction ends.
 * Unknown ids and accounts of another operator are `resource_not_found`.
 */
export async function lockAccounts(
  tx: Queryable,
  operatorId: string | null,
  ids: readonly string[],
): Promise<Map<string, LedgerAccount>> {
  const wanted = [...new Set(ids)];
  const { rows } = await tx.query<LedgerAccount>(
    `SELECT ${ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
    [wanted],
  );
  const accounts = new Map(rows.map((row) => [row.id, row]));
  for (const id of wanted) {
    const account = accounts.get(id);
    // Another operator's account is indistinguishable from one that does not exist.
    if (!account || (operatorId !== null && account.operator_id !== operatorId))
      throw new RampartError('resource_not_found', { resource: 'ledger_account', id });
  }
  return accounts;
}

export function toBalance(account: LedgerAccount): Balance {
  return {
    account_id: account.id,
    currency: account.currency,
    network: account.network,
    posted: account.posted,
    pending_debits: account.pending_debits,
    pending_credits: account.pending_credits,
    available: account.posted - account.pending_debits,
    floor: account.floor,
  };
}

interface Delta {
  posted: bigint;
  pendingDebits: bigint;
  pendingCredits: bigint;
}

/** The balance changes one operation makes, per account. */
export class BalanceChanges {
  readonly byAccount = new Map<string, Delta>();

  add(accountId: string, change: Partial<Delta>): this {
    const delta = this.byAccount.get(accountId) ?? { posted: 0n, pendingDebits: 0n, pendingCredits: 0n };
    delta.posted += change.posted ?? 0n;
    delta.pendingDebits += change.pendingDebits ?? 0n;
    delta.pendingCredits += change.pendingCredits ?? 0n;
    this.byAccount.set(accountId, delta);
    return this;
  }

  /**
   * Writes changes that only release reservations (they lower pending amounts, so they
   * can neither break a floor nor leave the range of balances) to the locked rows in one
   * statement.
   */
  async release(tx: Queryable): Promise<void> {
    const rows = [...this.byAccount];
    if (rows.length === 0) return;
    await tx.query(
      `UPDATE ledger_accounts a
          SET posted = a.posted + d.posted,
              pending_debits = a.pending_debits + d.pending_debits,
              pending_credits = a.pending_credits + d.pending_credits
         FROM unnest($1::text[], $2::numeric[], $3::numeric[], $4::numeric[]) AS d(id, posted, pending_debits, pending_credits)
        WHERE a.id = d.id`,
      [
        rows.map(([id]) => id),
        rows.map(([, delta]) => delta.posted),
        rows.map(([, delta]) => delta.pendingDebits),
        rows.map(([, delta]) => delta.pendingCredits),
      ],
    );
  }
}
