import type { ReturnCode } from '../banking/nacha.ts';
import { unixAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { ReferenceIndex } from '../http/references.ts';
import { MAGIC_CENTS } from '../magic.ts';
import type { CustomerRef } from './customers.ts';
import { publishCardsEvent } from './events.ts';
import { returnCodeOfAccount } from './magic.ts';

export type AchDebitStatus = 'pending' | 'settled' | 'returned';

const DAY_MS = 86_400_000;

export interface BankAccount {
  routing_number: string;
  account_number: string;
  account_holder_name: string;
  account_type: 'checking' | 'savings';
}

export interface AchDebit {
  id: string;
  status: AchDebitStatus;
  amount: number;
  currency: string;
  bankAccount: BankAccount;
  customer: CustomerRef | null;
  magic: number;
  description: string | null;
  returnCode: ReturnCode | null;
  /** The `Idempotency-Key` it was created under (not echoed in the debit). */
  idempotencyKey: string | null;
  createdAt: number;
  updatedAt: number;
  expectedSettlementAt: number;
  settledAt: number | null;
  returnedAt: number | null;
}

export function maskedAccount(account: BankAccount) {
  return {
    routing_number: account.routing_number,
    last4: account.account_number.slice(-4),
    account_holder_name: account.account_holder_name,
    account_type: account.account_type,
  };
}

export function serializeAchDebit(debit: AchDebit) {
  return {
    id: debit.id,
    object: 'ach_debit',
    amount: debit.amount,
    currency: debit.currency,
    status: debit.status,
    bank_account: maskedAccount(debit.bankAccount),
    customer: debit.customer,
    description: debit.description,
    return_code: debit.returnCode?.code ?? null,
    return_reason: debit.returnCode?.reason ?? null,
    return_description: debit.returnCode?.description ?? null,
    created: unixAt(debit.createdAt),
    expected_settlement: unixAt(debit.expectedSettlementAt),
    settled_at: debit.settledAt === null ? null : unixAt(debit.settledAt),
    returned_at: debit.returnedAt === null ? null : unixAt(debit.returnedAt),
  };
}

/**
 * ACH debits: pending until they settle (after the settle delay), and — for the
 * magic account numbers — returned with a NACHA code days or weeks after that.
 */
export class AchDebits {
  readonly #context: ProviderContext;
  #debits = new Map<string, AchDebit>();
  #byIdempotencyKey = new ReferenceIndex<AchDebit>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  get(id: string): AchDebit | undefined {
    return this.#debits.get(id);
  }

  /** The debit created under this idempotency key. */
  byIdempotencyKey(key: string): AchDebit | undefined {
    return this.#byIdempotencyKey.find(key);
  }

  create(
    input: Pick<
      AchDebit,
      'amount' | 'currency' | 'bankAccount' | 'customer' | 'magic' | 'description' | 'idempotencyKey'
    >,
  ): AchDebit {
    const now = this.#context.clock.nowMs();
    const debit: AchDebit = {
      id: this.#context.newId('ach'),
      status: 'pending',
      returnCode: null,
      createdAt: now,
      updatedAt: now,
      expectedSettlementAt: now + this.#context.settleDelayMs,
      settledAt: null,
      returnedAt: null,
      ...input,
    };
    this.#debits.set(debit.id, debit);
    this.#byIdempotencyKey.remember(debit.idempotencyKey, debit);
    this.#notify(debit);
    if (debit.magic !== MAGIC_CENTS.pendingForever) {
      this.#context.timeline.at(debit.expectedSettlementAt, (at) => this.settle(debit, at));
    }
    return debit;
  }

  /** Settles a pending debit; a magic return account then schedules its return. */
  settle(debit: AchDebit, at: number): boolean {
    if (debit.status !== 'pending') return false;
    debit.status = 'settled';
    debit.settledAt = at;
    debit.updatedAt = at;
    this.#notify(debit);
    const returnCode = returnCodeOfAccount(debit.bankAccount.account_number);
    if (returnCode) {
      this.#context.timeline.at(at + returnCode.daysAfterSettlement * DAY_MS, (due) =>
        this.return(debit, returnCode, due),
      );
    }
    return true;
  }

  /** A return reverses a pending or settled debit; it is final. */
  return(debit: AchDebit, returnCode: ReturnCode, at: number): boolean {
    if (debit.status === 'returned') return false;
    debit.status = 'returned';
    debit.returnCode = returnCode;
    debit.returnedAt = at;
    debit.updatedAt = at;
    this.#notify(debit);
    return true;
  }

  #notify(debit: AchDebit): void {
    publishCardsEvent(this.#context, `ach_debit.${debit.status}`, debit.updatedAt, serializeAchDebit(debit));
  }

  clear(): void {
    this.#debits.clear();
    this.#byIdempotencyKey.clear();
  }
}
