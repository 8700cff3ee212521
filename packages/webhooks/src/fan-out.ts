import type { Clock, IdGenerator, Store } from '@rampart/core';
import { endpointWants, insertDeliveries, type NewDelivery } from './deliveries.ts';

/** Events fanned out per transaction; bounds its size and lock time. */
export const FAN_OUT_BATCH = 500;

/**
 * Turns outbox events into deliveries. Each batch claims queued events with
 * `FOR UPDATE SKIP LOCKED` (several nodes take disjoint batches), creates one delivery per
 * enabled endpoint that subscribes, and removes the events from the queue — all in one
 * transaction, so a crash leaves an event either queued or fully fanned out.
 */
export class FanOut {
  private readonly db: Store;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;

  constructor(deps: { db: Store; ids: IdGenerator; clock: Clock }) {
    this.db = deps.db;
    this.ids = deps.ids;
    this.clock = deps.clock;
  }

  /** Fans out one batch; returns how many events it took. */
  async dispatchBatch(limit: number = FAN_OUT_BATCH): Promise<number> {
    return this.db.transaction(async (tx) => {
      const now = this.clock.now();
      // A fan-out lost in a database crash is done again (the events are back in the queue).
      await tx.query('SET LOCAL synchronous_commit = off');
      const { rows: events } = await tx.query<{
        id: string;
        operator_id: string;
        type: string;
        subject_id: string;
        sequence: bigint;
      }>({
        name: 'webhooks-fan-out-claim',
        // Written with arrays so the plan stays index (and TID) lookups at any table size.
        text: `WITH claimed AS (
                 DELETE FROM webhook_fanout_queue
                  WHERE ctid = ANY(ARRAY(SELECT ctid FROM webhook_fanout_queue
                                          ORDER BY event_id LIMIT $1 FOR UPDATE SKIP LOCKED))
                 RETURNING event_id)
               SELECT id, operator_id, type, subject_id, sequence FROM events
                WHERE id = ANY(ARRAY(SELECT event_id FROM claimed))`,
        values: [limit],
      });
      if (events.length === 0) return 0;
      const { rows: endpoints } = await tx.query<{ id: string; operator_id: string; enabled_events: string[] }>({
        name: 'webhooks-fan-out-endpoints',
        text: `SELECT id, operator_id, enabled_events FROM webhook_endpoints
                WHERE operator_id = ANY($1) AND status = 'enabled' AND deleted_at IS NULL`,
        values: [[...new Set(events.map((e) => e.operator_id))]],
      });
      const byOperator = Map.groupBy(endpoints, (e) => e.operator_id);
      const deliveries: NewDelivery[] = [];
      for (const event of events) {
        for (const endpoint of byOperator.get(event.operator_id) ?? []) {
          if (!endpointWants(endpoint, event)) continue;
          deliveries.push({
            operatorId: event.operator_id,
            endpointId: endpoint.id,
            eventId: event.id,
            subjectId: event.subject_id,
            sequence: event.sequence,
          });
        }
      }
      await insertDeliveries(tx, this.ids, deliveries, 'event', now);
      return events.length;
    });
  }
}
