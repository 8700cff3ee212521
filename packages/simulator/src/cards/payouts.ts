import { unixAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { ReferenceIndex } from '../http/references.ts';
import { MAGIC_CENTS } from '../magic.ts';
import { type BankAccount, maskedAccount } from './ach-debits.ts';
import type { CardDetails } from './card.ts';
import { publishCardsEvent } from './events.ts';
import { returnCodeOfAccount } from './magic.ts';

export type CardPayoutStatus = 'pending' | 'paid' | 'failed';

export type PayoutDestination =
  | { type: 'card'; card: CardDetails }
  | { type: 'bank_account'; bankAccount: BankAccount };

export interface CardPayout {
  id: string;
  status: CardPayoutStatus;
  amount: number;
  currency: string;
  destination: PayoutDestination;
  magic: number;
  description: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  /** The `Idempotency-Key` it was created under (not echoed in the payout). */
  idempotencyKey: string | null;
  createdAt: number;
  updatedAt: number;
  paidAt: number | null;
}

export function serializeCardPayout(payout: CardPayout) {
  const destination = payout.destination;
  return {
    id: payout.id,
    object: 'payout',
    amount: payout.amount,
    currency: payout.currency,
    status: payout.status,
    method: destination.type === 'card' ? 'push_to_card' : 'ach_credit',
    destination:
      destination.type === 'card'
        ? { type: 'card', card: { brand: destination.card.brand, last4: destination.card.last4 } }
        : { type: 'bank_account', bank_account: maskedAccount(destination.bankAccount) },
    description: payout.description,
    failure_code: payout.failureCode,
    failure_message: payout.failureMessage,
    created: unixAt(payout.createdAt),
    paid_at: payout.paidAt === null ? null : unixAt(payout.paidAt),
  };
}

/** Push-to-card and ACH credit payouts: pending, then paid or failed after the settle delay. */
export class CardPayouts {
  readonly #context: ProviderContext;
  #payouts = new Map<string, CardPayout>();
  #byIdempotencyKey = new ReferenceIndex<CardPayout>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  get(id: string): CardPayout | undefined {
    return this.#payouts.get(id);
  }

  /** The payout created under this idempotency key. */
  byIdempotencyKey(key: string): CardPayout | undefined {
    return this.#byIdempotencyKey.find(key);
  }

  create(
    input: Pick<CardPayout, 'amount' | 'currency' | 'destination' | 'magic' | 'description' | 'idempotencyKey'>,
  ): CardPayout {
    const now = this.#context.clock.nowMs();
    const payout: CardPayout = {
      id: this.#context.newId('po'),
      status: 'pending',
      failureCode: null,
      failureMessage: null,
      createdAt: now,
      updatedAt: now,
      paidAt: null,
      ...input,
    };
    this.#payouts.set(payout.id, payout);
    this.#byIdempotencyKey.remember(payout.idempotencyKey, payout);
    this.#notify(payout);
    if (payout.magic !== MAGIC_CENTS.pendingForever) {
      this.#context.timeline.at(now + this.#context.settleDelayMs, (at) => this.#finish(payout, at));
    }
    return payout;
  }

  #finish(payout: CardPayout, at: number): void {
    if (payout.status !== 'pending') return;
    const destination = payout.destination;
    const returned =
      destination.type === 'bank_account' ? returnCodeOfAccount(destination.bankAccount.account_number) : undefined;
    if (returned) {
      payout.status = 'failed';
      payout.failureCode = returned.code;
      payout.failureMessage = returned.description;
    } else if (payout.magic === MAGIC_CENTS.failsLater) {
      payout.status = 'failed';
      payout.failureCode = 'could_not_process';
      payout.failureMessage = 'The receiving institution rejected the payout.';
    } else {
      payout.status = 'paid';
      payout.paidAt = at;
    }
    payout.updatedAt = at;
    this.#notify(payout);
  }

  #notify(payout: CardPayout): void {
    publishCardsEvent(this.#context, `payout.${payout.status}`, payout.updatedAt, serializeCardPayout(payout));
  }

  clear(): void {
    this.#payouts.clear();
    this.#byIdempotencyKey.clear();
  }
}
