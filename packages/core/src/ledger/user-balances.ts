import { RampartError } from '@rampart/errors';
import { type EventLog, userSubject } from '../events/event-log.ts';
import { formatAmount, getAsset, getCurrency, parseAmount } from '../money/index.ts';
import type { OperatorSettingsStore } from '../settings/operator-settings.ts';
import type { Store } from '../storage/database.ts';
import type { EndUsers } from '../users/end-users.ts';
import { ACCOUNT_COLUMNS, toBalance } from './balances.ts';
import type { Ledger } from './ledger.ts';
import type { Balance, LedgerAccount, Transfer, TransferKind } from './types.ts';

type Mode = 'test' | 'live';

/** A movement of a user's balance, as their statement lists it. */
export interface StatementEntry {
  /** The entry's id: increasing in the order balances moved; the statement's cursor. */
  id: string;
  transfer_id: string;
  currency: string;
  network: string | null;
  /** Signed minor units: positive credits the user, negative debits them. */
  amount: bigint;
  balance_after: bigint;
  description: string | null;
  /** What moved the money (see `sourceOf`). */
  source: StatementSource;
  created_at: Date;
}

/**
 * What moved a user's money: a payment (its `payment_id`), a reversal of one, or an
 * operator's balance adjustment (`reference`, as the operator gave it).
 */
export interface StatementSource {
  type: 'payment' | 'reversal' | 'adjustment' | 'other';
  payment_id: string | null;
  reference: string | null;
}

/** An adjustment's ledger reference: the operator's own, per mode (see `adjust`). */
const ADJUSTMENT_PREFIX = 'adjustment:';

/**
 * Read from the reference of what moved the money (`origin`: the transfer's own, else
 * the hold it posts or the transfer it reverses). Payments write theirs as
 * `<payment id>:credit|hold|reversal|chargeback:<dispute id>…`, adjustments as `adjustment:…`.
 */
function sourceOf(kind: TransferKind, origin: string | null, metadata: Record<string, unknown>): StatementSource {
  // A chargeback of part of a payment takes that part back: a reversal, though a transfer of
  // its own. (Only a payment's: an adjustment's reference is the operator's own words.)
  const reversal = kind === 'reversal' || (origin?.startsWith('pay_') && origin.includes(':chargeback:')) === true;
  if (origin?.startsWith('pay_'))
    return { type: reversal ? 'reversal' : 'payment', payment_id: origin.split(':')[0]!, reference: null };
  if (origin?.startsWith(ADJUSTMENT_PREFIX) && !reversal)
    return { type: 'adjustment', payment_id: null, reference: String(metadata['reference'] ?? '') || null };
  return { type: reversal ? 'reversal' : 'other', payment_id: null, reference: null };
}

export interface Adjustment {
  direction: 'credit' | 'debit';
  /** Decimal string in the currency's major unit ("25.00"), positive. */
  amount: string;
  currency: string;
  /** Why, in the operator's words (kept on the ledger transfer). */
  reason: string;
  /** The operator's own id for this adjustment: the same reference is applied once. */
  reference: string;
}

/**
 * What an operator sees and does with its users' balances: each user has one account
 * per currency (the one deposits credit and withdrawals hold), read in O(1). An
 * adjustment moves money between the user and the operator's settlement account —
 * opening balances when an operator moves to Rampart, bonuses, corrections — under the
 * same floor as any debit, in one ledger transfer.
 */
export class UserBalances {
  private readonly db: Store;
  private readonly ledger: Ledger;
  private readonly users: EndUsers;
  private readonly settings: OperatorSettingsStore;
  private readonly events: EventLog;

  constructor(deps: { db: Store; ledger: Ledger; users: EndUsers; settings: OperatorSettingsStore; events: EventLog }) {
    this.events = deps.events;
    this.db = deps.db;
    this.ledger = deps.ledger;
    this.users = deps.users;
    this.settings = deps.settings;
  }

  /**
   * The user's balances in `mode` (test money and live money are apart), one per
   * currency they have used; `user_not_found` for a stranger.
   */
  async list(operatorId: string, userId: string, mode: Mode): Promise<Balance[]> {
    await this.users.get(operatorId, userId);
    const { rows } = await this.db.query<LedgerAccount>(
      `SELECT ${ACCOUNT_COLUMNS} FROM ledger_accounts
        WHERE operator_id = $1 AND kind = 'user' AND coalesce(owner_ref, '') = $2 AND mode = $3
        ORDER BY currency, network NULLS FIRST`,
      [operatorId, userId, mode],
    );
    return rows.map(toBalance);
  }

  /**
   * The user's statement in `mode`: each posted movement of their balance, newest first,
   * with the balance it left (`balance_after`, stored with the entry, so a page costs the
   * same however far back it is). Holds are not movements: a withdrawal shows once it is
   * paid out. `before` is the id of the last entry of the previous page.
   */
  async statement(
    operatorId: string,
    userId: string,
    mode: Mode,
    page: { currency?: string; before?: string; limit: number },
  ): Promise<StatementEntry[]> {
    await this.users.get(operatorId, userId);
    const currency = page.currency === undefined ? null : getCurrency(page.currency).code;
    // One index range per account (a user has an account per currency), newest first.
    const { rows } = await this.db.query<
      Omit<StatementEntry, 'source'> & { kind: TransferKind; origin: string | null; metadata: Record<string, unknown> }
    >({
      name: 'user-statement',
      text: `SELECT e.id::text AS id, e.transfer_id, a.currency, a.network, e.amount, e.balance_after, e.created_at,
                    t.kind, t.description, t.metadata, coalesce(t.reference, h.reference, r.reference) AS origin
               FROM ledger_accounts a
              CROSS JOIN LATERAL (
                    SELECT id, transfer_id, amount, balance_after, created_at FROM ledger_entries
                     WHERE account_id = a.id AND NOT pending AND ($5::int8 IS NULL OR id < $5::int8)
                     ORDER BY id DESC LIMIT $6) e
               JOIN ledger_transfers t ON t.id = e.transfer_id
               LEFT JOIN ledger_transfers h ON h.id = t.hold_id
               LEFT JOIN ledger_transfers r ON r.id = t.reverses_id
              WHERE a.operator_id = $1 AND a.kind = 'user' AND coalesce(a.owner_ref, '') = $2 AND a.mode = $3
                AND ($4::text IS NULL OR a.currency = $4)
              ORDER BY e.id DESC LIMIT $6`,
      values: [operatorId, userId, mode, currency, page.before ?? null, page.limit],
    });
    return rows.map(({ kind, origin, metadata, ...entry }) => ({ ...entry, source: sourceOf(kind, origin, metadata) }));
  }

  /**
   * Like a payment, an adjustment for a user Rampart has not met yet creates the user: in
   * the transaction that moves the money, so one refused creates no one.
   */
  async adjust(
    operatorId: string,
    userId: string,
    input: Adjustment,
    mode: Mode,
  ): Promise<{ transfer: Transfer; balance: Balance }> {
    const currency = getAsset(input.currency).currency;
    const settings = await this.settings.get(operatorId);
    const enabled = settings.currencies.find((c) => c.currency === currency.code);
    if (!enabled) throw new RampartError('currency_not_enabled', { currency: currency.code });
    const amount = parseAmount(input.amount, currency);
    const reason = input.reason.trim();
    if (reason.length === 0 || reason.length > 500)
      throw new RampartError('invalid_value', {
        field: 'reason',
        provided: input.reason,
        expected: '1 to 500 characters',
      });
    return this.db.transaction(async (tx) => {
      await this.users.ensure(operatorId, userId, tx);
      // References are the operator's, per mode: a test adjustment never answers for a live
      // one. (Live keeps the form it had before modes, so a retry across the upgrade replays.)
      const reference = `${ADJUSTMENT_PREFIX}${mode === 'live' ? '' : 'test:'}${input.reference}`;
      // The same account payments use: in `ledger` mode it cannot go below zero.
      const user = await this.ledger.accountId(tx, {
        operatorId,
        mode,
        kind: 'user',
        ownerRef: userId,
        currency: currency.code,
        floor: enabled.balances === 'ledger' ? 0n : null,
      });
      const settlement = await this.ledger.accountId(tx, {
        operatorId,
        mode,
        kind: 'operator_settlement',
        currency: currency.code,
      });
      const [from, to] = input.direction === 'credit' ? [settlement, user] : [user, settlement];
      const { transfer, created } = await this.ledger.transferFirst(tx, {
        operatorId,
        from,
        to,
        amount,
        reference,
        description: reason,
        metadata: { type: 'adjustment', direction: input.direction, user_id: userId, reference: input.reference },
      });
      // The reference used again for another reason: another adjustment, not this one replayed.
      if (!created && transfer.description !== reason) throw new RampartError('idempotency_conflict');
      const balance = await this.ledger.balance(user, tx);
      // A replay (same reference, same values) answers what was done, and tells no one
      // twice: told by the request that made the transfer, even when several ran at once.
      if (created) {
        await this.events.record(tx, {
          operatorId,
          type: 'balance.adjusted',
          subjectId: userSubject(operatorId, userId),
          data: {
            user_id: userId,
            adjustment_id: transfer.id,
            direction: input.direction,
            amount: formatAmount(amount, currency),
            currency: currency.code,
            reason,
            reference: input.reference,
            available: formatAmount(balance.available, currency),
          },
        });
      }
      return { transfer, balance };
    });
  }
}
