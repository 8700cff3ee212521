/**
 * The ledger's records. Rows keep the database's snake_case, like the rest of core.
 *
 * Sign convention: an entry's `amount` is signed. A positive amount credits the
 * account (raises its balance), a negative one debits it. An account's balance is the
 * sum of its posted entries, and the entries of every transfer sum to zero per
 * currency, so the balances of all accounts of a currency sum to zero too: a user's
 * positive balance is matched by a negative provider clearing balance.
 */

/**
 * - `user`: an end user's money, owned by `owner_ref` (the operator's user id).
 * - `provider_clearing`: what a payment provider (`owner_ref`) holds or owes for us.
 * - `fees`: fees earned.
 * - `operator_settlement`: money due to or from the operator itself.
 * - `suspense`: money that cannot be attributed yet (unmatched deposits, returns).
 */
export type AccountKind = 'user' | 'provider_clearing' | 'fees' | 'operator_settlement' | 'suspense';

export const ACCOUNT_KINDS: readonly AccountKind[] = [
  'user',
  'provider_clearing',
  'fees',
  'operator_settlement',
  'suspense',
];

/** Kinds that belong to someone, named by `owner_ref`. */
export const OWNED_ACCOUNT_KINDS: readonly AccountKind[] = ['user', 'provider_clearing'];

export interface LedgerAccount {
  id: string;
  operator_id: string;
  kind: AccountKind;
  /** The end user id for `user`, the provider id for `provider_clearing`, else null. */
  owner_ref: string | null;
  currency: string;
  /** The crypto network, or null for fiat and for crypto balances on any network. */
  network: string | null;
  /**
   * Lowest allowed available balance, in minor units: 0 for users unless the operator
   * allows them below zero (a negative floor), null for no floor (system accounts).
   */
  floor: bigint | null;
  /** Sum of posted entries. */
  posted: bigint;
  /** Amount reserved by pending holds that debit this account. */
  pending_debits: bigint;
  /** Amount pending holds will credit to this account; not spendable until posted. */
  pending_credits: bigint;
  created_at: Date;
}

export interface Balance {
  account_id: string;
  currency: string;
  network: string | null;
  posted: bigint;
  pending_debits: bigint;
  pending_credits: bigint;
  /** `posted - pending_debits`: what the account can spend, down to its floor. */
  available: bigint;
  floor: bigint | null;
}

/**
 * - `transfer`: posted at once.
 * - `hold`: pending; its entries reserve funds until the hold is posted, voided or expires.
 * - `hold_post`: posts a hold (all of it or less), `hold_id` names it.
 * - `reversal`: undoes a posted transfer with mirrored entries, `reverses_id` names it.
 */
export type TransferKind = 'transfer' | 'hold' | 'hold_post' | 'reversal';

export interface Entry {
  /** Increasing in insertion order; also the pagination cursor. */
  id: string;
  transfer_id: string;
  account_id: string;
  currency: string;
  /** Signed minor units: positive credits, negative debits. */
  amount: bigint;
  /** True for the entries of a hold: they reserve, they do not move posted balances. */
  pending: boolean;
  /** The account's posted balance right after this entry (null for a hold's entries). */
  balance_after: bigint | null;
  created_at: Date;
}

export interface Transfer {
  id: string;
  operator_id: string;
  kind: TransferKind;
  /** The caller's idempotency reference, unique per operator. */
  reference: string | null;
  hold_id: string | null;
  reverses_id: string | null;
  description: string | null;
  metadata: Record<string, unknown>;
  created_at: Date;
  entries: Entry[];
}

export type HoldStatus = 'pending' | 'posted' | 'voided' | 'expired';

export interface Hold {
  /** The id of the hold's pending transfer. */
  id: string;
  operator_id: string;
  reference: string | null;
  debit_account_id: string;
  credit_account_id: string;
  currency: string;
  /** Amount reserved. */
  amount: bigint;
  status: HoldStatus;
  expires_at: Date;
  /** Amount posted (≤ amount) once status is `posted`. */
  posted_amount: bigint | null;
  /** The `hold_post` transfer once status is `posted`. */
  posting_transfer_id: string | null;
  resolved_at: Date | null;
  created_at: Date;
}

export interface EntryInput {
  accountId: string;
  /** Signed minor units: positive credits the account, negative debits it. */
  amount: bigint;
}

interface Annotations {
  operatorId: string;
  /**
   * Idempotency reference, unique per operator: a second call with the same reference
   * returns the first transfer and moves nothing; the same reference with different
   * entries is `idempotency_conflict`.
   */
  reference?: string;
  description?: string;
  metadata?: Record<string, unknown>;
}

/** Money moves `from` → `to`. */
export interface Movement {
  from: string;
  to: string;
  /** Positive minor units. */
  amount: bigint;
}

/** Either a simple movement, or any number of signed entries that sum to zero per currency. */
export type TransferInput = Annotations & (Movement | { entries: readonly EntryInput[] });

export type HoldInput = Annotations &
  Movement & {
    /** The hold lapses then: `expireHolds` voids it and it can no longer be posted. */
    expiresAt: Date;
  };

export interface ReverseOptions {
  reference?: string;
  description?: string;
  metadata?: Record<string, unknown>;
  /**
   * Post even when the reversal takes a debited account below its floor. Only for
   * money that is already gone (an ACH return, a chargeback after the user spent the
   * deposit): the debt is recorded rather than the correction refused.
   */
  ignoreFloor?: boolean;
}

export interface AccountInput {
  operatorId: string;
  kind: AccountKind;
  /** Required for `user` (end user id) and `provider_clearing` (provider id); for `fees`, a shard ('#0' …) or absent; absent otherwise. */
  ownerRef?: string;
  /** Whose money: test-mode and live accounts are distinct, and every caller must say which. */
  mode: 'test' | 'live';
  currency: string;
  network?: string | null;
  /**
   * Lowest available balance (≤ 0) in minor units, or null for none. Defaults: 0 for
   * `user`, null for system accounts. Applies when the account is created; change it
   * later with `setFloor`.
   */
  floor?: bigint | null;
}

export interface EntryPage {
  entries: Entry[];
  /** Pass back to get the next (older) page; null when there is none. */
  next_cursor: string | null;
}

/** A kind of account of one operator, summed: see `Ledger.positions`. */
export interface Position {
  kind: AccountKind;
  /** The provider, for its clearing accounts; null for other kinds. */
  provider: string | null;
  currency: string;
  network: string | null;
  posted: bigint;
  pending_debits: bigint;
  pending_credits: bigint;
  /** How many accounts were added up (users: one per user who has this currency). */
  accounts: number;
}
