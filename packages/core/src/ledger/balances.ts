import { RampartError } from '@rampart/errors';
import { formatAmount, getCurrency, MAX_AMOUNT } from '../money/index.ts';
import type { Queryable } from '../storage/database.ts';
import type { Balance, LedgerAccount } from './types.ts';

/**
 * Balances live in the account rows and change only here: under the row locks taken
 * by `lockAccounts`, in the transaction that writes the entries.
 */

export const ACCOUNT_COLUMNS =
  'id, operator_id, kind, owner_ref, currency, network, floor, posted, pending_debits, pending_credits, created_at';

const MIN_BALANCE = -MAX_AMOUNT - 1n;

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
   * Refuses the change when it lowers an account's available balance
   * (`posted - pending_debits`) below its floor: `insufficient_balance`, amounts as
   * decimal strings. A change that raises the available balance is always allowed,
   * even on an account already below its floor, so money can always come back in.
   */
  checkFloors(accounts: ReadonlyMap<string, LedgerAccount>): void {
    for (const [id, delta] of this.byAccount) {
      const account = accounts.get(id)!;
      const decrease = delta.pendingDebits - delta.posted;
      if (decrease <= 0n || account.floor === null) continue;
      const available = account.posted - account.pending_debits;
      if (available - decrease >= account.floor) continue;
      const currency = getCurrency(account.currency);
      const spendable = available - account.floor > 0n ? available - account.floor : 0n;
      throw new RampartError('insufficient_balance', {
        available: formatAmount(spendable, currency),
        requested: formatAmount(decrease, currency),
        currency: currency.code,
      });
    }
  }

  /** A balance beyond PostgreSQL's bigint would fail the statement; say why instead. */
  checkRange(accounts: ReadonlyMap<string, LedgerAccount>): void {
    for (const [id, delta] of this.byAccount) assertStorable(accounts.get(id)!, delta);
  }

  /** Writes the changes to the locked rows in one statement. */
  async apply(tx: Queryable, accounts: ReadonlyMap<string, LedgerAccount>): Promise<void> {
    this.checkRange(accounts);
    const rows = [...this.byAccount];
    if (rows.length === 0) return;
    await tx.query(
      `UPDATE ledger_accounts a
          SET posted = a.posted + d.posted,
              pending_debits = a.pending_debits + d.pending_debits,
              pending_credits = a.pending_credits + d.pending_credits
         FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[]) AS d(id, posted, pending_debits, pending_credits)
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

function assertStorable(account: LedgerAccount, delta: Delta): void {
  const outOfRange = (value: bigint) => value > MAX_AMOUNT || value < MIN_BALANCE;
  if (
    !outOfRange(account.posted + delta.posted) &&
    !outOfRange(account.pending_debits + delta.pendingDebits) &&
    !outOfRange(account.pending_credits + delta.pendingCredits)
  )
    return;
  const currency = getCurrency(account.currency);
  const moved = delta.posted !== 0n ? delta.posted : delta.pendingDebits + delta.pendingCredits;
  throw new RampartError('invalid_amount', {
    field: 'amount',
    provided: formatAmount(moved < 0n ? -moved : moved, currency),
    expected: `an amount that keeps the balance within ±${formatAmount(MAX_AMOUNT, currency)} ${currency.code}`,
  });
}
