import { RampartError } from '@rampart/errors';
import type { Clock } from '../clock.ts';
import type { IdGenerator } from '../ids.ts';
import { formatAmount, getAsset, getCurrency, MAX_AMOUNT } from '../money/index.ts';
import type { Queryable, Store } from '../storage/database.ts';
import { ACCOUNT_COLUMNS, BalanceChanges, lockAccounts, toBalance } from './balances.ts';
import { invariant, LedgerInvariantError } from './invariant.ts';
import {
  ACCOUNT_KINDS,
  type AccountInput,
  type Balance,
  type Entry,
  type EntryInput,
  type EntryPage,
  type Hold,
  type HoldInput,
  type LedgerAccount,
  OWNED_ACCOUNT_KINDS,
  type Position,
  type ReverseOptions,
  type Transfer,
  type TransferInput,
  type TransferKind,
} from './types.ts';

/** Bounds, so no single call can do unbounded work. */
const MAX_ENTRIES_PER_TRANSFER = 100;
const MAX_REFERENCE_LENGTH = 255;
const MAX_PAGE_SIZE = 500;
const MAX_EXPIRY_BATCH = 1_000;
/** Balances stay within ±MAX_AMOUNT, as the database's `minor_units` do (migration 0020). */
const MIN_BALANCE = -MAX_AMOUNT;

const TRANSFER_COLUMNS = 'id, operator_id, kind, reference, hold_id, reverses_id, description, metadata, created_at';
const ENTRY_COLUMNS = 'id::text AS id, transfer_id, account_id, currency, amount, pending, balance_after, created_at';
const HOLD_SELECT = `
  SELECT h.id, t.reference, h.operator_id, h.debit_account_id, h.credit_account_id, h.currency, h.amount,
         h.status, h.expires_at, h.posted_amount, p.id AS posting_transfer_id, h.resolved_at, h.created_at
    FROM ledger_holds h
    JOIN ledger_transfers t ON t.id = h.id
    LEFT JOIN ledger_transfers p ON p.hold_id = h.id`;

type TransferRow = Omit<Transfer, 'entries'>;

interface PlannedEntry {
  accountId: string;
  amount: bigint;
}

interface TransferPlan {
  operatorId: string;
  kind: TransferKind;
  reference: string | null;
  holdId: string | null;
  reversesId: string | null;
  description: string | null;
  metadata: Record<string, unknown>;
  pending: boolean;
  entries: PlannedEntry[];
  changes: BalanceChanges;
  /** Write even when a debited account ends below its floor (see `ReverseOptions`). */
  ignoreFloor: boolean;
}

/**
 * The double-entry ledger: accounts with balances kept in their rows, transfers whose
 * entries sum to zero per currency, and holds (pending transfers) that reserve funds
 * until they are posted, voided or expire.
 *
 * Every method that moves money takes the caller's transaction, so a payment can
 * change its state and move its money atomically. Money is written by one statement
 * that locks the touched accounts in id order and checks floors on the rows as its
 * locks leave them (see `writing`), so concurrent calls can neither overdraw an
 * account nor deadlock each other, and a posting can be part of another statement
 * (`transferCte`). A transaction that makes several ledger calls should touch
 * accounts in a consistent order, or `lock` them all first.
 *
 * Transfers and entries are append-only; a mistake is corrected with `reverse`.
 */
export class Ledger {
  private readonly db: Store;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;

  constructor(db: Store, ids: IdGenerator, clock: Clock) {
    this.db = db;
    this.ids = ids;
    this.clock = clock;
  }

  /**
   * Returns the operator's account of this kind, owner, currency and network,
   * creating it on first use. Safe under concurrent calls: one account results.
   */
  async ensureAccount(tx: Queryable, input: AccountInput): Promise<LedgerAccount> {
    return (await this.findOrCreate(tx, input)).account;
  }

  /** Accounts are never deleted, so an id once seen committed is kept for the life of the process. */
  private readonly knownAccounts = new Map<string, string>();

  /**
   * `ensureAccount` for callers that need only the id (to post to it): after the first
   * time, no round trip. The posting locks and re-reads the account anyway.
   */
  async accountId(tx: Queryable, input: AccountInput): Promise<string> {
    const key = JSON.stringify([
      input.operatorId,
      input.mode,
      input.kind,
      input.ownerRef ?? null,
      input.currency,
      input.network,
    ]);
    const known = this.knownAccounts.get(key);
    if (known) return known;
    const { account, inserted } = await this.findOrCreate(tx, input);
    // One this transaction created exists only if it commits: it is remembered next time.
    if (!inserted) {
      if (this.knownAccounts.size >= 100_000) this.knownAccounts.clear();
      this.knownAccounts.set(key, account.id);
    }
    return account.id;
  }

  private async findOrCreate(
    tx: Queryable,
    input: AccountInput,
  ): Promise<{ account: LedgerAccount; inserted: boolean }> {
    if (!ACCOUNT_KINDS.includes(input.kind))
      throw new RampartError('invalid_value', {
        field: 'kind',
        provided: input.kind,
        expected: ACCOUNT_KINDS.join(', '),
      });
    const owned = OWNED_ACCOUNT_KINDS.includes(input.kind);
    const ownerRef = input.ownerRef ?? null;
    // A fees account may be one shard of the operator's fees ('#0' …), and owned by no one.
    const shard = input.kind === 'fees' && ownerRef !== null && /^#\d{1,3}$/.test(ownerRef);
    if (
      (owned !== (ownerRef !== null) && !shard) ||
      (ownerRef !== null && (ownerRef.length === 0 || ownerRef.length > 200))
    )
      throw new RampartError('invalid_value', {
        field: 'owner_ref',
        provided: ownerRef,
        expected: owned ? `the ${input.kind === 'user' ? 'user' : 'provider'} id, 1 to 200 characters` : 'no owner',
      });
    const asset = getAsset(input.currency, input.network);
    const floor = input.floor === undefined ? (input.kind === 'user' ? 0n : null) : input.floor;
    if (floor !== null && (typeof floor !== 'bigint' || floor > 0n || floor < -MAX_AMOUNT))
      throw new RampartError('invalid_value', {
        field: 'floor',
        provided: String(floor),
        expected: 'zero or a negative amount in minor units, or null for no floor',
      });
    const identity = [input.operatorId, input.kind, ownerRef, asset.currency.code, asset.network, input.mode];
    const inserted = await tx.query<LedgerAccount>(
      `INSERT INTO ledger_accounts (id, operator_id, kind, owner_ref, currency, network, mode, floor, created_at)
       VALUES ($7, $1, $2, $3, $4, $5, $6, $8, $9)
       ON CONFLICT (operator_id, mode, kind, (coalesce(owner_ref, '')), currency, (coalesce(network, ''))) DO NOTHING
       RETURNING ${ACCOUNT_COLUMNS}`,
      [...identity, this.ids('acct'), floor, this.clock.now()],
    );
    if (inserted.rows[0]) return { account: inserted.rows[0], inserted: true };
    const { rows } = await tx.query<LedgerAccount>(
      `SELECT ${ACCOUNT_COLUMNS} FROM ledger_accounts
        WHERE operator_id = $1 AND kind = $2 AND coalesce(owner_ref, '') = coalesce($3, '')
          AND currency = $4 AND coalesce(network, '') = coalesce($5, '') AND mode = $6`,
      identity,
    );
    invariant(rows.length === 1, () => `account ${identity.join('/')} neither inserted nor found`);
    return { account: rows[0]!, inserted: false };
  }

  /** Changes an account's floor: a negative floor lets it go below zero, null removes the floor. */
  async setFloor(tx: Queryable, accountId: string, floor: bigint | null): Promise<LedgerAccount> {
    if (floor !== null && (typeof floor !== 'bigint' || floor > 0n || floor < -MAX_AMOUNT))
      throw new RampartError('invalid_value', {
        field: 'floor',
        provided: String(floor),
        expected: 'zero or a negative amount in minor units, or null for no floor',
      });
    await lockAccounts(tx, null, [accountId]);
    const { rows } = await tx.query<LedgerAccount>(
      `UPDATE ledger_accounts SET floor = $2 WHERE id = $1 RETURNING ${ACCOUNT_COLUMNS}`,
      [accountId, floor],
    );
    return rows[0]!;
  }

  async account(accountId: string, tx: Queryable = this.db): Promise<LedgerAccount> {
    const { rows } = await tx.query<LedgerAccount>(`SELECT ${ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = $1`, [
      accountId,
    ]);
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'ledger_account', id: accountId });
    return rows[0];
  }

  /**
   * The operator's ledger in `mode`, per kind of account, provider and currency: what
   * users hold in all, what each provider's clearing has taken in and paid out, the fees
   * earned, the settlement account. Clearing shards are added up per provider. Every
   * posting balances, so `posted` sums to zero over the rows of each currency.
   */
  async positions(operatorId: string, mode: 'test' | 'live'): Promise<Position[]> {
    const { rows } = await this.db.query<Position>(
      `SELECT kind, CASE WHEN kind = 'provider_clearing' THEN split_part(owner_ref, '#', 1) END AS provider,
              currency, network, sum(posted) AS posted, sum(pending_debits) AS pending_debits,
              sum(pending_credits) AS pending_credits, count(*)::int AS accounts
         FROM ledger_accounts WHERE operator_id = $1 AND mode = $2
        GROUP BY 1, 2, 3, 4 ORDER BY 3, 4 NULLS FIRST, 1, 2`,
      [operatorId, mode],
    );
    return rows;
  }

  /** The account's balance, read from its row (O(1), never summed from history). */
  async balance(accountId: string, tx: Queryable = this.db): Promise<Balance> {
    return toBalance(await this.account(accountId, tx));
  }

  /**
   * Locks accounts in the ledger's order for the rest of `tx`, for a transaction that
   * will make several ledger calls and wants them to wait for others only once.
   */
  async lock(tx: Queryable, operatorId: string, accountIds: readonly string[]): Promise<LedgerAccount[]> {
    return [...(await lockAccounts(tx, operatorId, accountIds)).values()];
  }

  /**
   * Posts a transfer: `{ from, to, amount }`, or signed `entries` that sum to zero per
   * currency. Debited accounts must stay at or above their floor, otherwise
   * `insufficient_balance` and nothing moves — unless `ignoreFloor`, for money already
   * gone (a chargeback of part of a deposit the user spent), as `ReverseOptions` says.
   */
  async transfer(tx: Queryable, input: TransferInput, options: { ignoreFloor?: boolean } = {}): Promise<Transfer> {
    return (await this.transferFirst(tx, input, options)).transfer;
  }

  /**
   * `transfer`, saying whether this call made it (`created`) or found it made under its
   * reference: of requests with one reference at once, one alone creates it, whatever
   * each read before.
   */
  transferFirst(
    tx: Queryable,
    input: TransferInput,
    options: { ignoreFloor?: boolean } = {},
  ): Promise<{ transfer: Transfer; created: boolean }> {
    return this.write(tx, { ...this.transferPlan(input), ignoreFloor: options.ignoreFloor ?? false });
  }

  /**
   * `transfer` as part of another statement (e.g. the one that moves a payment): its
   * parts, numbered from `$first`, written only if `onlyIf` (SQL) holds. The statement
   * must be run through `ledgerError`, and its transfer is not returned: a reference
   * already taken leaves the earlier transfer in place and writes nothing.
   */
  transferCte(input: TransferInput, first: number, onlyIf: string): { sql: string; values: unknown[] } {
    return writing(this.transferPlan(input), this.ids('tr'), this.clock.now(), first, onlyIf);
  }

  private transferPlan(input: TransferInput): TransferPlan {
    const entries = 'entries' in input ? checkedEntries(input.entries) : movementEntries(input);
    const changes = new BalanceChanges();
    for (const entry of entries) changes.add(entry.accountId, { posted: entry.amount });
    return {
      operatorId: input.operatorId,
      kind: 'transfer',
      reference: checkedReference(input.reference),
      holdId: null,
      reversesId: null,
      description: input.description ?? null,
      metadata: input.metadata ?? {},
      pending: false,
      entries,
      changes,
      ignoreFloor: false,
    };
  }

  /**
   * Reserves `amount` on `from` for a later movement to `to`. The reservation counts
   * against `from`'s available balance at once (`insufficient_balance` if it does not
   * fit) and lasts until `postHold`, `voidHold` or `expiresAt`.
   */
  async hold(tx: Queryable, input: HoldInput): Promise<Hold> {
    const wanted = movementEntries(input);
    const reference = checkedReference(input.reference);
    const now = this.clock.now();
    if (!(input.expiresAt instanceof Date) || !(input.expiresAt.getTime() > now.getTime()))
      throw new RampartError('invalid_value', {
        field: 'expires_at',
        provided: String(input.expiresAt),
        expected: 'a time in the future',
      });
    const accounts = await lockAccounts(tx, input.operatorId, [input.from, input.to]);
    const currency = accounts.get(input.from)!.currency;
    invariant(
      accounts.get(input.to)!.currency === currency,
      () => `hold from ${input.from} (${currency}) to ${input.to} (${accounts.get(input.to)!.currency})`,
    );
    const changes = new BalanceChanges()
      .add(input.from, { pendingDebits: input.amount })
      .add(input.to, { pendingCredits: input.amount });
    const { transfer, created } = await this.write(tx, {
      operatorId: input.operatorId,
      kind: 'hold',
      reference,
      holdId: null,
      reversesId: null,
      description: input.description ?? null,
      metadata: input.metadata ?? {},
      pending: true,
      entries: wanted,
      changes,
      ignoreFloor: false,
    });
    if (!created) return this.getHold(transfer.id, tx);
    const { rows } = await tx.query<Hold>(
      `INSERT INTO ledger_holds (id, operator_id, debit_account_id, credit_account_id, currency, amount, status,
                                 expires_at, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)
       RETURNING id, $9::text AS reference, operator_id, debit_account_id, credit_account_id, currency, amount, status,
                 expires_at, posted_amount, NULL::text AS posting_transfer_id, resolved_at, created_at`,
      [
        transfer.id,
        input.operatorId,
        input.from,
        input.to,
        currency,
        input.amount,
        input.expiresAt,
        transfer.created_at,
        reference,
      ],
    );
    return rows[0]!;
  }

  /**
   * Posts a pending hold: `amount` (default: all of it, at most all of it) moves from
   * the debit to the credit account and the rest of the reservation is released.
   * Posting an already posted hold again with the same amount returns the same
   * transfer; a voided or expired hold cannot be posted (`illegal_state_transition`).
   * With `evenIfDue`, a hold past its expiry that no sweep has released yet (its money is
   * still reserved) is posted too: for the owner of a hold whose end has come, such as a
   * payout the provider has paid, where refusing would record less than what happened.
   */
  async postHold(
    tx: Queryable,
    holdId: string,
    amount?: bigint,
    options: { evenIfDue?: boolean } = {},
  ): Promise<Transfer> {
    const hold = await this.lockHold(tx, holdId);
    const currency = getCurrency(hold.currency);
    if (amount !== undefined && (typeof amount !== 'bigint' || amount <= 0n || amount > hold.amount))
      throw new RampartError('invalid_amount', {
        field: 'amount',
        provided: String(amount),
        expected: `a positive amount of at most ${formatAmount(hold.amount, currency)} ${currency.code}, the amount held`,
      });
    const posted = amount ?? hold.amount;
    if (hold.status === 'posted' && hold.posted_amount === posted)
      return this.getTransfer(hold.posting_transfer_id!, tx);
    this.assertPending(hold, 'posted', options.evenIfDue);
    const changes = new BalanceChanges()
      .add(hold.debit_account_id, { posted: -posted, pendingDebits: -hold.amount })
      .add(hold.credit_account_id, { posted: posted, pendingCredits: -hold.amount });
    const { transfer } = await this.write(tx, {
      operatorId: hold.operator_id,
      kind: 'hold_post',
      reference: null,
      holdId: hold.id,
      reversesId: null,
      description: null,
      metadata: {},
      pending: false,
      entries: [
        { accountId: hold.debit_account_id, amount: -posted },
        { accountId: hold.credit_account_id, amount: posted },
      ],
      changes,
      ignoreFloor: false,
    });
    await tx.query(`UPDATE ledger_holds SET status = 'posted', posted_amount = $2, resolved_at = $3 WHERE id = $1`, [
      hold.id,
      posted,
      transfer.created_at,
    ]);
    return transfer;
  }

  /**
   * Releases a pending hold without moving money. Voiding a voided or expired hold
   * returns it unchanged (the funds are already free); a posted hold cannot be voided
   * (`illegal_state_transition`): reverse its posting instead.
   */
  async voidHold(tx: Queryable, holdId: string): Promise<Hold> {
    const hold = await this.lockHold(tx, holdId);
    if (hold.status === 'voided' || hold.status === 'expired') return hold;
    if (hold.status !== 'pending')
      throw new RampartError('illegal_state_transition', { resource: 'hold', from: hold.status, to: 'voided' });
    await release(tx, [hold], 'voided', this.clock.now());
    return this.getHold(holdId, tx);
  }

  /**
   * Pushes back to `until` the expiry of those of `holdIds` still pending (the money
   * they reserve is still on its way). Returns how many were extended.
   */
  async extendHolds(tx: Queryable, holdIds: readonly string[], until: Date): Promise<number> {
    const { rowCount } = await tx.query(
      `UPDATE ledger_holds SET expires_at = $2 WHERE id = ANY($1::text[]) AND status = 'pending' AND expires_at < $2`,
      [holdIds, until],
    );
    return rowCount ?? 0;
  }

  /**
   * Background sweep: voids holds whose `expires_at` has passed, at most `batchSize`
   * per call, in its own transaction. Holds and their accounts are claimed with
   * `SKIP LOCKED`, so any number of nodes can sweep at once and a sweep never waits
   * for (or deadlocks with) a payment; whatever is busy is left for the next sweep.
   * Returns how many holds expired; call again while it returns `batchSize`.
   */
  async expireHolds(now: Date = this.clock.now(), batchSize = 100): Promise<number> {
    invariant(
      Number.isInteger(batchSize) && batchSize > 0 && batchSize <= MAX_EXPIRY_BATCH,
      () => `expireHolds batchSize ${batchSize} is not in 1..${MAX_EXPIRY_BATCH}`,
    );
    return this.db.transaction(async (tx) => {
      const claimed = await tx.query<Hold>(
        `SELECT id, debit_account_id, credit_account_id, amount FROM ledger_holds
          WHERE status = 'pending' AND expires_at <= $1
          ORDER BY expires_at, id LIMIT $2
          FOR UPDATE SKIP LOCKED`,
        [now, batchSize],
      );
      if (claimed.rows.length === 0) return 0;
      const touched = [...new Set(claimed.rows.flatMap((hold) => [hold.debit_account_id, hold.credit_account_id]))];
      const locked = await tx.query<LedgerAccount>(
        `SELECT ${ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE SKIP LOCKED`,
        [touched],
      );
      const accounts = new Map(locked.rows.map((row) => [row.id, row]));
      const expirable = claimed.rows.filter(
        (hold) => accounts.has(hold.debit_account_id) && accounts.has(hold.credit_account_id),
      );
      await release(tx, expirable, 'expired', now);
      return expirable.length;
    });
  }

  /**
   * Undoes a posted transfer (or a hold's posting) with a new transfer of mirrored
   * entries. Idempotent: a transfer is reversed at most once, and reversing it again
   * returns the existing reversal. The reversal must respect floors unless
   * `ignoreFloor` (see `ReverseOptions`).
   */
  async reverse(tx: Queryable, transferId: string, options: ReverseOptions = {}): Promise<Transfer> {
    const original = await this.getTransfer(transferId, tx);
    if (original.kind !== 'transfer' && original.kind !== 'hold_post')
      throw new RampartError('illegal_state_transition', {
        resource: 'transfer',
        from: original.kind === 'hold' ? 'pending' : original.kind,
        to: 'reversed',
      });
    const reference = checkedReference(options.reference);
    // Concurrent reversals of one transfer queue here, so the second finds the first.
    await lockAccounts(
      tx,
      original.operator_id,
      original.entries.map((entry) => entry.account_id),
    );
    const entries = original.entries.map((entry) => ({ accountId: entry.account_id, amount: -entry.amount }));
    if (reference) {
      const existing = await this.transferByReference(original.operator_id, reference, tx);
      if (existing) {
        if (existing.reverses_id !== original.id) throw new RampartError('idempotency_conflict');
        return existing;
      }
    }
    const previous = await tx.query<{ id: string }>('SELECT id FROM ledger_transfers WHERE reverses_id = $1', [
      original.id,
    ]);
    if (previous.rows[0]) return this.getTransfer(previous.rows[0].id, tx);
    const changes = new BalanceChanges();
    for (const entry of entries) changes.add(entry.accountId, { posted: entry.amount });
    const { transfer } = await this.write(tx, {
      operatorId: original.operator_id,
      kind: 'reversal',
      reference,
      holdId: null,
      reversesId: original.id,
      description: options.description ?? null,
      metadata: options.metadata ?? {},
      pending: false,
      entries,
      changes,
      ignoreFloor: options.ignoreFloor ?? false,
    });
    return transfer;
  }

  async getTransfer(transferId: string, tx: Queryable = this.db): Promise<Transfer> {
    const { rows } = await tx.query<TransferRow>(`SELECT ${TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = $1`, [
      transferId,
    ]);
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'transfer', id: transferId });
    const entries = await tx.query<Entry>(
      `SELECT ${ENTRY_COLUMNS} FROM ledger_entries WHERE transfer_id = $1 ORDER BY id`,
      [transferId],
    );
    return { ...rows[0], entries: entries.rows };
  }

  /** The operator's transfer with this reference, or null. */
  async transferByReference(operatorId: string, reference: string, tx: Queryable = this.db): Promise<Transfer | null> {
    const { rows } = await tx.query<{ id: string }>(
      'SELECT id FROM ledger_transfers WHERE operator_id = $1 AND reference = $2',
      [operatorId, reference],
    );
    return rows[0] ? this.getTransfer(rows[0].id, tx) : null;
  }

  async getHold(holdId: string, tx: Queryable = this.db): Promise<Hold> {
    const { rows } = await tx.query<Hold>(`${HOLD_SELECT} WHERE h.id = $1`, [holdId]);
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'hold', id: holdId });
    return rows[0];
  }

  /**
   * The account's entries, newest first, `limit` per page. `cursor` is the previous
   * page's `next_cursor`.
   */
  async entries(accountId: string, cursor: string | null = null, limit = 100): Promise<EntryPage> {
    if (cursor !== null && !/^[1-9]\d{0,18}$/.test(cursor))
      throw new RampartError('invalid_value', { field: 'cursor', provided: cursor, expected: 'a next_cursor value' });
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE)
      throw new RampartError('invalid_value', { field: 'limit', provided: limit, expected: `1 to ${MAX_PAGE_SIZE}` });
    await this.account(accountId);
    const { rows } = await this.db.query<Entry>(
      `SELECT ${ENTRY_COLUMNS} FROM ledger_entries
        WHERE account_id = $1 AND ($2::int8 IS NULL OR id < $2::int8)
        ORDER BY id DESC LIMIT $3`,
      [accountId, cursor, limit + 1],
    );
    const page = rows.slice(0, limit);
    return { entries: page, next_cursor: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  /** Locks a hold's accounts, then the hold row, in the ledger's lock order. */
  private async lockHold(tx: Queryable, holdId: string): Promise<Hold> {
    // The accounts of a hold never change, so an unlocked read is enough to find them.
    const found = await this.getHold(holdId, tx);
    await lockAccounts(tx, found.operator_id, [found.debit_account_id, found.credit_account_id]);
    const { rows } = await tx.query<Hold>(`${HOLD_SELECT} WHERE h.id = $1 FOR UPDATE OF h`, [holdId]);
    return rows[0]!;
  }

  private assertPending(hold: Hold, to: 'posted' | 'voided', evenIfDue = false): void {
    const expired = !evenIfDue && hold.status === 'pending' && hold.expires_at.getTime() <= this.clock.now().getTime();
    if (hold.status !== 'pending' || expired)
      throw new RampartError('illegal_state_transition', {
        resource: 'hold',
        from: expired ? 'expired' : hold.status,
        to,
      });
  }

  /**
   * Writes a transfer, its entries and the balance changes in one statement, which
   * also checks them (see `writing`). When the reference is taken (a repeated call,
   * or a concurrent one that did not touch the same accounts), nothing is written and
   * the earlier transfer is returned if it is the same, else `idempotency_conflict`:
   * a repeat is answered with the first even when it would no longer fit.
   */
  private async write(tx: Queryable, plan: TransferPlan): Promise<{ transfer: Transfer; created: boolean }> {
    const id = this.ids(plan.kind === 'hold' ? 'hold' : 'tr');
    const now = this.clock.now();
    const parts = writing(plan, id, now, 1, 'TRUE');
    let rows: Entry[];
    try {
      ({ rows } = await tx.query<Entry>(
        `WITH ${parts.sql} SELECT ${ENTRY_COLUMNS} FROM ledger_entry_rows ORDER BY id::int8`,
        parts.values,
      ));
    } catch (error) {
      throw ledgerError(error);
    }
    if (rows.length === 0) {
      const existing = plan.reference ? await this.transferByReference(plan.operatorId, plan.reference, tx) : null;
      if (!existing) throw new LedgerInvariantError(`transfer ${id} was not inserted and has no prior reference`);
      return { transfer: replayed(existing, plan.kind, plan.entries), created: false };
    }
    assertBalanced(rows);
    const transfer: Transfer = {
      id,
      operator_id: plan.operatorId,
      kind: plan.kind,
      reference: plan.reference,
      hold_id: plan.holdId,
      reverses_id: plan.reversesId,
      description: plan.description,
      metadata: plan.metadata,
      created_at: now,
      entries: rows,
    };
    return { transfer, created: true };
  }
}

/**
 * The parts of a statement that write `plan` as transfer `id`, if `onlyIf` holds and
 * the reference is free. Checked inside the statement, under the locks it takes:
 * - the accounts are the operator's (else `resource_not_found`);
 * - each entry takes its account's currency (the database checks the sum per currency);
 * - a change that lowers an account's available balance (`posted - pending_debits`)
 *   below its floor is refused (`insufficient_balance`) unless `plan.ignoreFloor`. A
 *   change that raises it is always allowed, even on an account below its floor, so
 *   money can always come back in;
 * - a balance beyond ±MAX_AMOUNT fails the statement (`invalid_amount`).
 * The accounts are locked in id order before any of them changes, so two writes
 * sharing accounts wait for each other in the same order and cannot deadlock; the
 * floor is checked on the row as the lock leaves it, never on a stale read.
 */
function writing(
  plan: TransferPlan,
  id: string,
  now: Date,
  first: number,
  onlyIf: string,
): { sql: string; values: unknown[] } {
  const $ = (n: number) => `$${first + n}`;
  const changed = [...plan.changes.byAccount.entries()];
  const decrease = 'd.pending_debits - d.posted';
  const summed = (column: string) =>
    `CASE WHEN a.${column} + d.${column} BETWEEN ${MIN_BALANCE} AND ${MAX_AMOUNT} THEN a.${column} + d.${column}
          ELSE ledger_out_of_range(a.id, a.currency, d.${column}) END`;
  const available = 'a.posted - a.pending_debits';
  return {
    sql: `ledger_transfer AS (
         INSERT INTO ledger_transfers (id, operator_id, kind, reference, hold_id, reverses_id, description, metadata,
                                       created_at)
         SELECT ${$(0)}, ${$(1)}, ${$(2)}, ${$(3)}, ${$(4)}, ${$(5)}, ${$(6)}, ${$(7)}::jsonb, ${$(8)} WHERE ${onlyIf}
         ON CONFLICT DO NOTHING
         RETURNING id
       ), ledger_locked AS (
         -- Found by id alone, so always through the primary key, whatever the number of
         -- the operator's accounts; another operator's has no currency here, and its entry
         -- fails below.
         SELECT id, CASE WHEN operator_id = ${$(1)} THEN currency END AS currency, posted FROM ledger_accounts
          WHERE id = ANY(${$(12)}::text[]) AND EXISTS (SELECT 1 FROM ledger_transfer)
          ORDER BY id FOR NO KEY UPDATE
       ), ledger_entry_rows AS (
         INSERT INTO ledger_entries (transfer_id, account_id, currency, amount, pending, created_at, balance_after)
         SELECT t.id, e.account_id, coalesce(l.currency, ledger_unknown_account(e.account_id)), e.amount, ${$(9)}, ${$(8)},
                -- The locked row's balance, before this statement's own change to it (out
                -- of range, it fails as the balance's own update below would).
                CASE WHEN ${$(9)} THEN NULL
                     WHEN l.posted + e.amount BETWEEN ${MIN_BALANCE} AND ${MAX_AMOUNT} THEN l.posted + e.amount
                     ELSE ledger_out_of_range(l.id, l.currency, e.amount) END
           FROM ledger_transfer t
          CROSS JOIN unnest(${$(10)}::text[], ${$(11)}::numeric[]) WITH ORDINALITY AS e(account_id, amount, n)
           LEFT JOIN ledger_locked l ON l.id = e.account_id
          ORDER BY e.n
         RETURNING ${ENTRY_COLUMNS}
       ), ledger_balances AS (
         UPDATE ledger_accounts a
            SET posted = CASE
                  WHEN ${$(16)} OR a.floor IS NULL OR ${decrease} <= 0 OR ${available} - (${decrease}) >= a.floor
                    THEN ${summed('posted')}
                  ELSE ledger_refuse(a.id, a.currency, ${available} - a.floor, ${decrease}) END,
                pending_debits = ${summed('pending_debits')},
                pending_credits = ${summed('pending_credits')}
           FROM unnest(${$(12)}::text[], ${$(13)}::numeric[], ${$(14)}::numeric[], ${$(15)}::numeric[])
                AS d(id, posted, pending_debits, pending_credits)
          WHERE a.id = ANY(${$(12)}::text[]) AND a.id = d.id AND a.id IN (SELECT id FROM ledger_locked)
       )`,
    values: [
      id,
      plan.operatorId,
      plan.kind,
      plan.reference,
      plan.holdId,
      plan.reversesId,
      plan.description,
      JSON.stringify(plan.metadata),
      now,
      plan.pending,
      plan.entries.map((entry) => entry.accountId),
      plan.entries.map((entry) => entry.amount),
      changed.map(([accountId]) => accountId),
      changed.map(([, delta]) => delta.posted),
      changed.map(([, delta]) => delta.pendingDebits),
      changed.map(([, delta]) => delta.pendingCredits),
      plan.ignoreFloor,
    ],
  };
}

/** SQLSTATEs raised by `writing`'s checks (migration 0014). */
const REFUSED = 'RL001';
const UNKNOWN_ACCOUNT = 'RL002';
const OUT_OF_RANGE = 'RL003';

/**
 * The catalog error for a failed statement that wrote a transfer (`write`, or one
 * holding a `transferCte`); any other error is returned as it is.
 */
export function ledgerError(error: unknown): unknown {
  const { code, detail } = error as { code?: string; detail?: string };
  if (code !== REFUSED && code !== UNKNOWN_ACCOUNT && code !== OUT_OF_RANGE) return error;
  const facts = JSON.parse(detail!) as Record<string, string>;
  if (code === UNKNOWN_ACCOUNT)
    return new RampartError('resource_not_found', { resource: 'ledger_account', id: facts['account'] });
  const currency = getCurrency(facts['currency']!);
  if (code === REFUSED)
    return new RampartError('insufficient_balance', {
      available: formatAmount(BigInt(facts['spendable']!), currency),
      requested: formatAmount(BigInt(facts['requested']!), currency),
      currency: currency.code,
    });
  return new RampartError('invalid_amount', {
    field: 'amount',
    provided: formatAmount(BigInt(facts['change']!), currency),
    expected: `an amount that keeps the balance within ±${formatAmount(MAX_AMOUNT, currency)} ${currency.code}`,
  });
}

/** Releases the reservations of pending holds (void or expiry); no money moves. */
async function release(
  tx: Queryable,
  holds: readonly Pick<Hold, 'id' | 'debit_account_id' | 'credit_account_id' | 'amount'>[],
  status: 'voided' | 'expired',
  now: Date,
): Promise<void> {
  if (holds.length === 0) return;
  const changes = new BalanceChanges();
  for (const hold of holds) {
    changes.add(hold.debit_account_id, { pendingDebits: -hold.amount });
    changes.add(hold.credit_account_id, { pendingCredits: -hold.amount });
  }
  await tx.query(`UPDATE ledger_holds SET status = $2, resolved_at = $3 WHERE id = ANY($1::text[])`, [
    holds.map((hold) => hold.id),
    status,
    now,
  ]);
  await changes.release(tx);
}

function positiveAmount(amount: unknown, field: string): bigint {
  if (typeof amount !== 'bigint' || amount <= 0n || amount > MAX_AMOUNT)
    throw new RampartError('invalid_amount', {
      field,
      provided: String(amount),
      expected: `a positive integer number of minor units, at most ${MAX_AMOUNT}`,
    });
  return amount;
}

function movementEntries(input: { from: string; to: string; amount: bigint }): EntryInput[] {
  const amount = positiveAmount(input.amount, 'amount');
  invariant(input.from !== input.to, () => `transfer from account ${input.from} to itself`);
  return [
    { accountId: input.from, amount: -amount },
    { accountId: input.to, amount },
  ];
}

function checkedEntries(entries: readonly EntryInput[]): EntryInput[] {
  invariant(
    entries.length >= 2 && entries.length <= MAX_ENTRIES_PER_TRANSFER,
    () => `a transfer has 2 to ${MAX_ENTRIES_PER_TRANSFER} entries, not ${entries.length}`,
  );
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const amount = entry.amount;
    if (typeof amount !== 'bigint' || amount === 0n || amount > MAX_AMOUNT || amount < -MAX_AMOUNT)
      throw new RampartError('invalid_amount', {
        field: `entries[${index}].amount`,
        provided: String(amount),
        expected: 'a non-zero integer number of minor units (positive credits, negative debits)',
      });
    invariant(!seen.has(entry.accountId), () => `account ${entry.accountId} appears twice in one transfer`);
    seen.add(entry.accountId);
    return { accountId: entry.accountId, amount };
  });
}

function checkedReference(reference: string | undefined): string | null {
  if (reference === undefined) return null;
  if (typeof reference !== 'string' || reference.length === 0 || reference.length > MAX_REFERENCE_LENGTH)
    throw new RampartError('invalid_value', {
      field: 'reference',
      provided: reference,
      expected: `1 to ${MAX_REFERENCE_LENGTH} characters`,
    });
  return reference;
}

/** Zero-sum, checked here so a bug fails loudly before the database's own check at commit. */
function assertBalanced(entries: readonly Entry[]): void {
  const sums = new Map<string, bigint>();
  for (const entry of entries) sums.set(entry.currency, (sums.get(entry.currency) ?? 0n) + entry.amount);
  for (const [currency, sum] of sums)
    invariant(sum === 0n, () => `transfer does not balance: its ${currency} entries sum to ${sum}`);
}

/** A replay by reference returns the first transfer if it is the same request. */
function replayed(existing: Transfer, kind: TransferKind, entries: readonly PlannedEntry[]): Transfer {
  const key = (accountId: string, amount: bigint) => `${accountId}:${amount}`;
  const want = entries.map((entry) => key(entry.accountId, entry.amount)).sort();
  const have = existing.entries.map((entry) => key(entry.account_id, entry.amount)).sort();
  if (existing.kind !== kind || want.join(',') !== have.join(',')) throw new RampartError('idempotency_conflict');
  return existing;
}
