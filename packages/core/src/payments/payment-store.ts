import { RampartError } from '@rampart/errors';
import type { Queryable } from '../storage/database.ts';
import type { FeeRule } from './fees.ts';
import type { NextAction, PaymentKind, PaymentMethod } from './provider.ts';
import type { PaymentStatus } from './state-machine.ts';

export interface Payment {
  id: string;
  operator_id: string;
  mode: 'test' | 'live';
  user_id: string;
  session_id: string | null;
  kind: PaymentKind;
  method: PaymentMethod;
  provider: string;
  status: PaymentStatus;
  currency: string;
  network: string | null;
  amount: bigint;
  /** The operator's fee, in minor units (see `fees.ts`). */
  fee: bigint;
  fee_rule: FeeRule | null;
  reference: string | null;
  idempotency_key: string | null;
  destination: Record<string, unknown>;
  provider_ref: string | null;
  next_action: NextAction | null;
  failure_code: string | null;
  failure_message: string | null;
  hold_id: string | null;
  approval: Record<string, unknown> | null;
  metadata: Record<string, unknown>;
  /** When a retry or an approval after review last sent it towards its provider; null: only its create did. */
  sent_at: Date | null;
  /** Its cardholder's dispute (a chargeback), as last heard from the card processor; null: none. */
  dispute: PaymentDispute | null;
  /** A refund: the deposit it pays back. Null for every other kind. */
  refund_of: string | null;
  /** A deposit: the sum of its completed refunds, in minor units. */
  amount_refunded: bigint;
  created_at: Date;
  updated_at: Date;
}

export interface PaymentDispute {
  /** The card processor's id of the dispute. */
  id: string;
  /** The card network's category, in the processor's words (`fraudulent`, `product_not_received`, …). */
  reason: string;
  /** `open` until the network decides: `won` (the payment stands) or `lost` (a chargeback). */
  status: 'open' | 'won' | 'lost';
  /** What is disputed, in minor units: the whole payment or part of it. Absent on disputes recorded before refunds' release. */
  amount?: string;
  opened_at: string;
  closed_at: string | null;
}

export interface Transition {
  seq: number;
  from_status: PaymentStatus | null;
  to_status: PaymentStatus;
  cause: string;
  data: Record<string, unknown>;
  at: Date;
}

export const PAYMENT_COLUMNS = `id, operator_id, mode, user_id, session_id, kind, method, provider, status, currency, network,
  amount, fee, fee_rule, reference, idempotency_key, destination, provider_ref, next_action, failure_code,
  failure_message, hold_id, approval, metadata, sent_at, dispute, refund_of, amount_refunded, created_at, updated_at`;

export interface PaymentFilter {
  status?: PaymentStatus;
  kind?: Payment['kind'];
  /** Only the refunds of this payment. */
  refundOf?: string;
  userId?: string;
  /** Only withdrawals waiting for the operator's review. */
  inReview?: boolean;
  currency?: string;
  provider?: string;
  /** Made at or after this time. */
  createdFrom?: Date;
  /** Made before this time. */
  createdTo?: Date;
  /** Id of the last payment of the previous page; pages go newest first. */
  before?: string;
  limit?: number;
}

/** SQL of payments, always scoped by operator: another operator's payment does not exist. */
export const paymentStore = {
  async get(db: Queryable, operatorId: string, id: string, lock = false): Promise<Payment> {
    const { rows } = await db.query<Payment>({
      name: lock ? 'payment-get-lock' : 'payment-get',
      text: `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE operator_id = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`,
      values: [operatorId, id],
    });
    if (!rows[0]) throw new RampartError('payment_not_found', { payment_id: id });
    return rows[0];
  },

  /** The payment and its timeline in one round trip (what polling asks for). */
  async getWithTimeline(
    db: Queryable,
    operatorId: string,
    id: string,
  ): Promise<{ payment: Payment; timeline: Transition[] }> {
    const { rows } = await db.query<Payment & { timeline: (Omit<Transition, 'at'> & { at: string })[] }>({
      name: 'payment-get-timeline',
      text: `SELECT ${PAYMENT_COLUMNS},
                    (SELECT coalesce(json_agg(json_build_object('seq', t.seq, 'from_status', t.from_status,
                              'to_status', t.to_status, 'cause', t.cause, 'data', t.data, 'at', t.at) ORDER BY t.seq), '[]')
                       FROM payment_transitions t WHERE t.payment_id = p.id) AS timeline
               FROM payments p WHERE operator_id = $1 AND id = $2`,
      values: [operatorId, id],
    });
    const row = rows[0];
    if (!row) throw new RampartError('payment_not_found', { payment_id: id });
    const { timeline, ...payment } = row;
    return { payment, timeline: timeline.map((t) => ({ ...t, at: new Date(t.at) })) };
  },

  async openCryptoDeposit(db: Queryable, operatorId: string, userId: string, currency: string, network: string | null) {
    const { rows } = await db.query<Payment>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments
        WHERE operator_id = $1 AND user_id = $2 AND kind = 'deposit' AND method = 'crypto' AND currency = $3
          AND network IS NOT DISTINCT FROM $4 AND status = 'pending' AND next_action IS NOT NULL
        ORDER BY created_at DESC LIMIT 1`,
      [operatorId, userId, currency, network],
    );
    return rows[0];
  },

  async byReference(db: Queryable, operatorId: string, reference: string): Promise<Payment> {
    const { rows } = await db.query<Payment>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE operator_id = $1 AND reference = $2`,
      [operatorId, reference],
    );
    if (!rows[0]) throw new RampartError('payment_not_found', { reference });
    return rows[0];
  },

  async byIdempotencyKey(db: Queryable, operatorId: string, mode: string, key: string): Promise<Payment | undefined> {
    const { rows } = await db.query<Payment>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE operator_id = $1 AND mode = $2 AND idempotency_key = $3`,
      [operatorId, mode, key],
    );
    return rows[0];
  },

  /**
   * A provider's payment by its reference, else by Rampart's id (one round trip): by id
   * only while the payment has no reference yet (its create's answer was lost). One that
   * has another is another object at the provider, whatever reference that one carries.
   */
  async byProviderRefOrId(
    db: Queryable,
    provider: string,
    providerRef: string,
    paymentId: string | null,
  ): Promise<Payment | undefined> {
    const { rows } = await db.query<Payment>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments
        WHERE provider = $1 AND (provider_ref = $2 OR (id = $3 AND provider_ref IS NULL))
        ORDER BY provider_ref = $2 DESC NULLS LAST LIMIT 1`,
      [provider, providerRef, paymentId],
    );
    return rows[0];
  },

  async byProviderRef(
    db: Queryable,
    provider: string,
    providerRef: string,
    lock = false,
  ): Promise<Payment | undefined> {
    const { rows } = await db.query<Payment>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE provider = $1 AND provider_ref = $2${lock ? ' FOR UPDATE' : ''}`,
      [provider, providerRef],
    );
    return rows[0];
  },

  async list(db: Queryable, operatorId: string, filter: PaymentFilter): Promise<Payment[]> {
    // Up to 100 a page, and one more: the route asks for it to know whether there is more.
    const limit = Math.min(Math.max(filter.limit ?? 25, 1), 101);
    const { rows } = await db.query<Payment>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments
        WHERE operator_id = $1
          AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR kind = $3)
          AND ($4::text IS NULL OR user_id = $4) AND ($5::text IS NULL OR id < $5)
          AND (NOT $7::boolean OR id IN (SELECT payment_id FROM payment_reviews WHERE operator_id = $1))
          AND ($8::text IS NULL OR currency = $8) AND ($9::text IS NULL OR provider = $9)
          AND ($10::timestamptz IS NULL OR created_at >= $10) AND ($11::timestamptz IS NULL OR created_at < $11)
          AND ($12::text IS NULL OR refund_of = $12)
        ORDER BY id DESC LIMIT $6`,
      [
        operatorId,
        filter.status ?? null,
        filter.kind ?? null,
        filter.userId ?? null,
        filter.before ?? null,
        limit,
        filter.inReview === true,
        filter.currency ?? null,
        filter.provider ?? null,
        filter.createdFrom ?? null,
        filter.createdTo ?? null,
        filter.refundOf ?? null,
      ],
    );
    return rows;
  },

  async timeline(db: Queryable, paymentId: string): Promise<Transition[]> {
    const { rows } = await db.query<Transition>(
      'SELECT seq, from_status, to_status, cause, data, at FROM payment_transitions WHERE payment_id = $1 ORDER BY seq',
      [paymentId],
    );
    return rows;
  },

  /** Amounts of a user's payments of a kind and currency since each of `since`, excluding failed and cancelled. */
  async usedWithin(
    db: Queryable,
    p: { operatorId: string; userId: string; kind: string; currency: string; since: Date[]; excluding?: string },
  ): Promise<bigint[]> {
    const { rows } = await db.query<{ used: bigint | null }>({
      name: 'payments-used-within',
      text: `SELECT (SELECT sum(amount) FROM payments
                      WHERE operator_id = $1 AND user_id = $2 AND kind = $3 AND currency = $4 AND created_at > w.since
                        AND status NOT IN ('failed', 'cancelled') AND id <> $6) AS used
               FROM unnest($5::timestamptz[]) WITH ORDINALITY AS w(since, n)
              ORDER BY w.n`,
      values: [p.operatorId, p.userId, p.kind, p.currency, p.since, p.excluding ?? ''],
    });
    return rows.map((row) => row.used ?? 0n);
  },
};
