import { RampartError } from '@rampart/errors';
import type { Clock } from '../clock.ts';
import type { EventLog } from '../events/event-log.ts';
import type { IdGenerator } from '../ids.ts';
import type { Queryable, Store } from '../storage/database.ts';
import type { Payment } from './payment-store.ts';
import type { PaymentStatus } from './state-machine.ts';

/** A provider's contradiction of how Rampart ended a payment (migration 0017). */
export interface Discrepancy {
  id: string;
  operator_id: string;
  payment_id: string;
  provider: string;
  provider_ref: string | null;
  recorded_status: PaymentStatus;
  reported_status: PaymentStatus;
  source: string;
  detected_at: Date;
  resolved_at: Date | null;
  resolution: string | null;
}

export type DiscrepancyState = 'open' | 'resolved';

export interface DiscrepancyFilter {
  state?: DiscrepancyState;
  paymentId?: string;
  /** Only those older than this id (the cursor). */
  before?: string;
  limit?: number;
}

/** The discrepancy as the API and its events show it. */
export function presentDiscrepancy(d: Discrepancy) {
  return {
    id: d.id,
    object: 'payment_discrepancy' as const,
    payment_id: d.payment_id,
    provider: d.provider,
    provider_ref: d.provider_ref,
    recorded_status: d.recorded_status,
    reported_status: d.reported_status,
    source: d.source,
    status: (d.resolved_at === null ? 'open' : 'resolved') satisfies DiscrepancyState,
    detected_at: d.detected_at.toISOString(),
    resolved_at: d.resolved_at?.toISOString() ?? null,
    resolution: d.resolution,
  };
}

/**
 * Payment discrepancies: recorded by `Payments` when a provider contradicts a payment's
 * end (never moving money on that news), listed and resolved by the operator. A
 * resolution is a note of what the operator did (a refund at the provider, a balance
 * adjustment); any correction of money is its own, deliberate ledger entry.
 */
export class Discrepancies {
  private readonly db: Store;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;
  private readonly events: EventLog;

  constructor(deps: { db: Store; ids: IdGenerator; clock: Clock; events: EventLog }) {
    this.db = deps.db;
    this.ids = deps.ids;
    this.clock = deps.clock;
    this.events = deps.events;
  }

  /**
   * Records that the provider reports `reported` for `payment`, in the caller's
   * transaction. Once per payment and reported status: the same news again (a
   * redelivered webhook, another event saying the same) records nothing and returns
   * undefined.
   */
  async record(tx: Queryable, payment: Payment, reported: PaymentStatus, source: string) {
    const { rows } = await tx.query<Discrepancy>(
      `INSERT INTO payment_discrepancies
         (id, operator_id, payment_id, provider, provider_ref, recorded_status, reported_status, source, detected_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (payment_id, reported_status) DO NOTHING
       RETURNING *`,
      [
        this.ids('dsc'),
        payment.operator_id,
        payment.id,
        payment.provider,
        payment.provider_ref,
        payment.status,
        reported,
        source.slice(0, 500),
        this.clock.now(),
      ],
    );
    return rows[0];
  }

  /** Newest first. */
  async list(operatorId: string, filter: DiscrepancyFilter = {}): Promise<Discrepancy[]> {
    const limit = Math.min(Math.max(filter.limit ?? 25, 1), 101);
    const { rows } = await this.db.query<Discrepancy>(
      `SELECT * FROM payment_discrepancies
        WHERE operator_id = $1
          AND ($2::text IS NULL OR (resolved_at IS NULL) = ($2 = 'open'))
          AND ($3::text IS NULL OR payment_id = $3) AND ($4::text IS NULL OR id < $4)
        ORDER BY id DESC LIMIT $5`,
      [operatorId, filter.state ?? null, filter.paymentId ?? null, filter.before ?? null, limit],
    );
    return rows;
  }

  async get(operatorId: string, id: string, db: Queryable = this.db): Promise<Discrepancy> {
    const { rows } = await db.query<Discrepancy>(
      'SELECT * FROM payment_discrepancies WHERE operator_id = $1 AND id = $2',
      [operatorId, id],
    );
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'discrepancy' });
    return rows[0];
  }

  /** Marks an open discrepancy resolved, with the operator's note, and announces it. Once. */
  resolve(operatorId: string, id: string, resolution: string): Promise<Discrepancy> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<Discrepancy>(
        `UPDATE payment_discrepancies SET resolved_at = $3, resolution = $4
          WHERE operator_id = $1 AND id = $2 AND resolved_at IS NULL
          RETURNING *`,
        [operatorId, id, this.clock.now(), resolution],
      );
      const resolved = rows[0];
      if (!resolved) {
        await this.get(operatorId, id, tx); // not found, or resolved already:
        throw new RampartError('illegal_state_transition', {
          resource: 'discrepancy',
          from: 'resolved',
          to: 'resolved',
        });
      }
      await this.events.record(tx, {
        operatorId,
        type: 'payment.discrepancy_resolved',
        subjectId: resolved.payment_id,
        data: { discrepancy: presentDiscrepancy(resolved) },
      });
      return resolved;
    });
  }
}
