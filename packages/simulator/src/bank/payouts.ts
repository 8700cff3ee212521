import { isoAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { ReferenceIndex } from '../http/references.ts';
import { MAGIC_CENTS } from '../magic.ts';

export type BankPayoutStatus = 'PROCESSING' | 'PAID' | 'FAILED';

export interface BankPayout {
  id: string;
  status: BankPayoutStatus;
  statusReason: string | null;
  amount: string;
  currency: string;
  magic: number;
  merchantReference: string;
  holderName: string;
  accountLast4: string;
  createdAt: number;
  updatedAt: number;
  paidAt: number | null;
}

export function serializeBankPayout(payout: BankPayout) {
  return {
    payout_id: payout.id,
    status: payout.status,
    status_reason: payout.statusReason,
    amount: payout.amount,
    currency: payout.currency,
    merchant_reference: payout.merchantReference,
    bank_account: { holder_name: payout.holderName, account_last4: payout.accountLast4 },
    created_at: isoAt(payout.createdAt),
    updated_at: isoAt(payout.updatedAt),
    paid_at: payout.paidAt === null ? null : isoAt(payout.paidAt),
  };
}

/** Payouts to a bank account: PROCESSING, then PAID or FAILED after the settle delay. */
export class BankPayouts {
  readonly #context: ProviderContext;
  #payouts = new Map<string, BankPayout>();
  #byReference = new ReferenceIndex<BankPayout>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  get(id: string): BankPayout | undefined {
    return this.#payouts.get(id);
  }

  /** The latest payout created with this `merchant_reference`. */
  byReference(merchantReference: string): BankPayout | undefined {
    return this.#byReference.find(merchantReference);
  }

  create(input: Omit<BankPayout, 'id' | 'status' | 'statusReason' | 'createdAt' | 'updatedAt' | 'paidAt'>): BankPayout {
    const now = this.#context.clock.nowMs();
    const payout: BankPayout = {
      id: this.#context.newId('bpo'),
      status: 'PROCESSING',
      statusReason: null,
      ...input,
      createdAt: now,
      updatedAt: now,
      paidAt: null,
    };
    this.#payouts.set(payout.id, payout);
    this.#byReference.remember(payout.merchantReference, payout);
    this.#notify(payout);
    if (payout.magic !== MAGIC_CENTS.pendingForever) {
      this.#context.timeline.at(now + this.#context.settleDelayMs, (at) => {
        if (payout.magic === MAGIC_CENTS.failsLater) this.#finish(payout, 'FAILED', 'ACCOUNT_CLOSED', at);
        else this.#finish(payout, 'PAID', null, at);
      });
    }
    return payout;
  }

  #finish(payout: BankPayout, status: BankPayoutStatus, reason: string | null, at: number): void {
    if (payout.status !== 'PROCESSING') return;
    payout.status = status;
    payout.statusReason = reason;
    payout.updatedAt = at;
    if (status === 'PAID') payout.paidAt = at;
    this.#notify(payout);
  }

  #notify(payout: BankPayout): void {
    const id = this.#context.newId('bntf');
    this.#context.publish('bank', {
      id,
      subject: payout.id,
      type: `PAYOUT_STATUS_CHANGED:${payout.status}`,
      payload: {
        notification_id: id,
        notification_type: 'PAYOUT_STATUS_CHANGED',
        created_at: isoAt(payout.updatedAt),
        data: serializeBankPayout(payout),
      },
    });
  }

  clear(): void {
    this.#payouts.clear();
    this.#byReference.clear();
  }
}
