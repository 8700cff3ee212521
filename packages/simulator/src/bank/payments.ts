import { isoAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { ReferenceIndex } from '../http/references.ts';
import { MAGIC_CENTS } from '../magic.ts';
import { formatMinor } from '../money.ts';

export const BANK_PAYMENT_STATUSES = [
  'PENDING_AUTHORIZATION',
  'AUTHORIZED',
  'SETTLED',
  'DECLINED',
  'CANCELLED',
  'FAILED',
  'EXPIRED',
] as const;
export type BankPaymentStatus = (typeof BANK_PAYMENT_STATUSES)[number];

/** The only moves a pay-by-bank payment can make; anything else is a bug in the simulator. */
const TRANSITIONS: Record<BankPaymentStatus, readonly BankPaymentStatus[]> = {
  PENDING_AUTHORIZATION: ['AUTHORIZED', 'DECLINED', 'CANCELLED', 'FAILED', 'EXPIRED'],
  AUTHORIZED: ['SETTLED', 'FAILED'],
  SETTLED: [],
  DECLINED: [],
  CANCELLED: [],
  FAILED: [],
  EXPIRED: [],
};

/** An unauthorised payment expires like an abandoned bank session. */
export const AUTHORIZATION_WINDOW_MS = 30 * 60 * 1000;

export interface BankPayment {
  id: string;
  status: BankPaymentStatus;
  statusReason: string | null;
  amount: string;
  currency: string;
  magic: number;
  merchantReference: string;
  returnUrl: string;
  customerName: string | null;
  bankAccount: { bank_name: string; account_holder: string; account_last4: string } | null;
  createdAt: number;
  updatedAt: number;
  authorizedAt: number | null;
  settledAt: number | null;
  /** Minor units its PENDING and SUCCEEDED refunds send back. */
  amountRefunded: bigint;
}

export function serializeBankPayment(payment: BankPayment, publicUrl: string) {
  return {
    payment_id: payment.id,
    status: payment.status,
    status_reason: payment.statusReason,
    amount: payment.amount,
    currency: payment.currency,
    merchant_reference: payment.merchantReference,
    return_url: payment.returnUrl,
    redirect_url: `${publicUrl}/bank/authorize/${payment.id}`,
    bank_account: payment.bankAccount,
    created_at: isoAt(payment.createdAt),
    updated_at: isoAt(payment.updatedAt),
    authorized_at: payment.authorizedAt === null ? null : isoAt(payment.authorizedAt),
    settled_at: payment.settledAt === null ? null : isoAt(payment.settledAt),
    expires_at: isoAt(payment.createdAt + AUTHORIZATION_WINDOW_MS),
    amount_refunded: formatMinor(payment.amountRefunded, 2),
  };
}

/** Pay-by-bank payments and the moves between their states; every move is a webhook. */
export class BankPayments {
  readonly #context: ProviderContext;
  #payments = new Map<string, BankPayment>();
  #byReference = new ReferenceIndex<BankPayment>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  get(id: string): BankPayment | undefined {
    return this.#payments.get(id);
  }

  /** The latest payment created with this `merchant_reference`. */
  byReference(merchantReference: string): BankPayment | undefined {
    return this.#byReference.find(merchantReference);
  }

  create(input: {
    amount: string;
    currency: string;
    magic: number;
    merchantReference: string;
    returnUrl: string;
    customerName: string | null;
  }): BankPayment {
    const now = this.#context.clock.nowMs();
    const payment: BankPayment = {
      id: this.#context.newId('bpay'),
      status: 'PENDING_AUTHORIZATION',
      statusReason: null,
      ...input,
      bankAccount: null,
      createdAt: now,
      updatedAt: now,
      authorizedAt: null,
      settledAt: null,
      amountRefunded: 0n,
    };
    this.#payments.set(payment.id, payment);
    this.#byReference.remember(payment.merchantReference, payment);
    this.#notify(payment);
    this.#context.timeline.at(now + AUTHORIZATION_WINDOW_MS, (at) => {
      if (payment.status === 'PENDING_AUTHORIZATION') this.move(payment, 'EXPIRED', 'AUTHORIZATION_TIMEOUT', at);
    });
    return payment;
  }

  /** The user approved on the bank page: the magic amount decides what the bank does next. */
  approve(payment: BankPayment, accountHolder: string): void {
    const now = this.#context.clock.nowMs();
    if (payment.magic === MAGIC_CENTS.insufficientFunds) {
      this.move(payment, 'DECLINED', 'INSUFFICIENT_FUNDS', now);
      return;
    }
    if (payment.magic === MAGIC_CENTS.flowError) {
      this.move(payment, 'FAILED', 'BANK_ERROR', now);
      return;
    }
    payment.bankAccount = { bank_name: 'Sandbox Bank', account_holder: accountHolder, account_last4: '6789' };
    payment.authorizedAt = now;
    this.move(payment, 'AUTHORIZED', null, now);
    if (payment.magic === MAGIC_CENTS.pendingForever) return;
    this.#context.timeline.at(now + this.#context.settleDelayMs, (at) => {
      if (payment.status !== 'AUTHORIZED') return;
      if (payment.magic === MAGIC_CENTS.failsLater) this.move(payment, 'FAILED', 'SETTLEMENT_REJECTED', at);
      else {
        payment.settledAt = at;
        this.move(payment, 'SETTLED', null, at);
      }
    });
  }

  canMove(payment: BankPayment, to: BankPaymentStatus): boolean {
    return TRANSITIONS[payment.status].includes(to);
  }

  move(payment: BankPayment, to: BankPaymentStatus, reason: string | null, at: number): void {
    if (!this.canMove(payment, to)) throw new Error(`bank payment ${payment.id}: ${payment.status} → ${to} is illegal`);
    payment.status = to;
    payment.statusReason = reason;
    payment.updatedAt = at;
    this.#notify(payment);
  }

  #notify(payment: BankPayment): void {
    const id = this.#context.newId('bntf');
    this.#context.publish('bank', {
      id,
      subject: payment.id,
      type: `PAYMENT_STATUS_CHANGED:${payment.status}`,
      payload: {
        notification_id: id,
        notification_type: 'PAYMENT_STATUS_CHANGED',
        created_at: isoAt(payment.updatedAt),
        data: serializeBankPayment(payment, this.#context.publicUrl()),
      },
    });
  }

  clear(): void {
    this.#payments.clear();
    this.#byReference.clear();
  }
}
