import { type Clock, EventLog, type IdGenerator, type Queryable, type Store } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import type { WebhookEndpoint, WebhookEndpoints } from './endpoints.ts';

export type DeliveryStatus = 'pending' | 'succeeded' | 'exhausted' | 'cancelled';
export type DeliveryReason = 'event' | 'redeliver' | 'replay' | 'test';

export interface WebhookDelivery {
  id: string;
  operator_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  subject_id: string;
  sequence: bigint;
  reason: DeliveryReason;
  status: DeliveryStatus;
  attempt_count: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
  completed_at: Date | null;
}

export interface WebhookAttempt {
  delivery_id: string;
  attempt: number;
  started_at: Date;
  latency_ms: number;
  status_code: number | null;
  succeeded: boolean;
  response_excerpt: string | null;
  error: string | null;
}

const DELIVERY_COLUMNS = `d.id, d.operator_id, d.endpoint_id, d.event_id, e.type AS event_type, d.subject_id, d.sequence,
  d.reason, d.status, d.attempt_count, d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error,
  d.created_at, d.completed_at`;
const MAX_PAGE = 100;
/** A replay larger than this is refused; split the range. */
export const MAX_REPLAY_EVENTS = 10_000;

/** Would this endpoint get this event by fan-out? */
export function endpointWants(
  endpoint: { id: string; enabled_events: readonly string[] },
  event: { type: string; subject_id: string },
): boolean {
  // Test events go only to the endpoint being tested.
  if (event.type === 'webhook.test') return false;
  // An endpoint never hears about its own failures: that could loop forever.
  if (event.subject_id === endpoint.id) return false;
  return endpoint.enabled_events.includes('*') || endpoint.enabled_events.includes(event.type);
}

export interface NewDelivery {
  operatorId: string;
  endpointId: string;
  eventId: string;
  subjectId: string;
  sequence: bigint;
}

/**
 * Creates deliveries due now, in one statement, for endpoints not deleted: their rows
 * are share-locked, so an endpoint's delete (which cancels its pending deliveries) either
 * commits first and none are made for it, or waits and cancels these too. Answers the
 * ids of those made, in order.
 */
export async function insertDeliveries(
  tx: Queryable,
  ids: IdGenerator,
  rows: readonly NewDelivery[],
  reason: DeliveryReason,
  now: Date,
): Promise<string[]> {
  if (rows.length === 0) return [];
  const deliveryIds = rows.map(() => ids('dlv'));
  const { rows: made } = await tx.query<{ id: string }>(
    `WITH live AS (
       SELECT id FROM webhook_endpoints WHERE id = ANY($3::text[]) AND deleted_at IS NULL ORDER BY id FOR SHARE)
     INSERT INTO webhook_deliveries (id, operator_id, endpoint_id, event_id, subject_id, sequence, reason, status,
                                     next_attempt_at, created_at)
     SELECT u.id, u.operator_id, u.endpoint_id, u.event_id, u.subject_id, u.sequence, $7, 'pending', $8, $8
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
         AS u(id, operator_id, endpoint_id, event_id, subject_id, sequence)
      WHERE u.endpoint_id IN (SELECT id FROM live)
     RETURNING id`,
    [
      deliveryIds,
      rows.map((r) => r.operatorId),
      rows.map((r) => r.endpointId),
      rows.map((r) => r.eventId),
      rows.map((r) => r.subjectId),
      rows.map((r) => String(r.sequence)),
      reason,
      now,
    ],
  );
  const inserted = new Set(made.map((row) => row.id));
  return deliveryIds.filter((id) => inserted.has(id));
}

function requireEnabled(endpoint: WebhookEndpoint, action: string): void {
  if (endpoint.status !== 'enabled')
    throw new RampartError('illegal_state_transition', {
      from: endpoint.status,
      to: action,
      resource: 'webhook_endpoint',
      id: endpoint.id,
    });
}

/** The delivery log, and the deliveries operators ask for: redeliver, replay, test. */
export class WebhookDeliveries {
  private readonly db: Store;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;
  private readonly endpoints: WebhookEndpoints;
  private readonly events: EventLog;

  constructor(deps: { db: Store; ids: IdGenerator; clock: Clock; endpoints: WebhookEndpoints }) {
    this.db = deps.db;
    this.ids = deps.ids;
    this.clock = deps.clock;
    this.endpoints = deps.endpoints;
    this.events = new EventLog(deps.db, deps.ids, deps.clock);
  }

  private async byIds(ids: readonly string[], tx: Queryable = this.db): Promise<WebhookDelivery[]> {
    const { rows } = await tx.query<WebhookDelivery>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
        WHERE d.id = ANY($1) ORDER BY d.id`,
      [ids],
    );
    return rows;
  }

  /** Oldest first; `after` is the last id of the previous page. */
  async listForEndpoint(
    operatorId: string,
    endpointId: string,
    filter: { after?: string; limit?: number; status?: DeliveryStatus; eventId?: string } = {},
  ): Promise<WebhookDelivery[]> {
    await this.endpoints.get(operatorId, endpointId);
    const { rows } = await this.db.query<WebhookDelivery>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
        WHERE d.endpoint_id = $1 AND d.operator_id = $2
          AND ($3::text IS NULL OR d.id > $3)
          AND ($4::text IS NULL OR d.status = $4)
          AND ($5::text IS NULL OR d.event_id = $5)
        ORDER BY d.id LIMIT $6`,
      [
        endpointId,
        operatorId,
        filter.after ?? null,
        filter.status ?? null,
        filter.eventId ?? null,
        Math.min(Math.max(filter.limit ?? 50, 1), MAX_PAGE),
      ],
    );
    return rows;
  }

  async get(operatorId: string, id: string): Promise<WebhookDelivery & { attempts: WebhookAttempt[] }> {
    const { rows } = await this.db.query<WebhookDelivery>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
        WHERE d.id = $1 AND d.operator_id = $2`,
      [id, operatorId],
    );
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'webhook_delivery', id });
    const { rows: attempts } = await this.db.query<WebhookAttempt>(
      `SELECT delivery_id, attempt, started_at, latency_ms, status_code, succeeded, response_excerpt, error
         FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt`,
      [id],
    );
    return { ...rows[0], attempts };
  }

  /**
   * Sends an event again: to one endpoint, or to every enabled endpoint that wants it.
   * Receivers see the same `webhook-id` as before, so their de-duplication still works.
   */
  async redeliver(operatorId: string, eventId: string, endpointId?: string): Promise<WebhookDelivery[]> {
    const event = await this.events.get(operatorId, eventId);
    if (!event) throw new RampartError('resource_not_found', { resource: 'event', id: eventId });
    let targets: WebhookEndpoint[];
    if (endpointId !== undefined) {
      const endpoint = await this.endpoints.get(operatorId, endpointId);
      requireEnabled(endpoint, 'redeliver');
      targets = [endpoint];
    } else {
      const all: WebhookEndpoint[] = [];
      for (let page = await this.endpoints.list(operatorId, { limit: 100 }); page.length > 0; ) {
        all.push(...page);
        page = page.length < 100 ? [] : await this.endpoints.list(operatorId, { after: page.at(-1)!.id, limit: 100 });
      }
      targets = all.filter((e) => e.status === 'enabled' && endpointWants(e, event));
    }
    const rows = targets.map((endpoint) => ({
      operatorId,
      endpointId: endpoint.id,
      eventId: event.id,
      subjectId: event.subject_id,
      sequence: event.sequence,
    }));
    // To every endpoint that wants it: one deleted meanwhile is left out.
    if (endpointId === undefined)
      return this.byIds(await insertDeliveries(this.db, this.ids, rows, 'redeliver', this.clock.now()));
    return this.byIds(await this.madeFor(operatorId, endpointId, rows, 'redeliver', this.db));
  }

  /**
   * Queues every event of `[from, to)` the endpoint subscribes to, in event order; per
   * subject they go out in sequence like live deliveries.
   */
  async replay(
    operatorId: string,
    endpointId: string,
    range: { from: Date; to: Date },
  ): Promise<{ endpoint_id: string; from: Date; to: Date; deliveries: number }> {
    const endpoint = await this.endpoints.get(operatorId, endpointId);
    requireEnabled(endpoint, 'replay');
    if (!(range.from.getTime() < range.to.getTime()))
      throw new RampartError('invalid_value', {
        field: 'to',
        provided: range.to.toISOString(),
        expected: `a time after from (${range.from.toISOString()})`,
      });
    const { rows: events } = await this.db.query<{ id: string; type: string; subject_id: string; sequence: bigint }>(
      `SELECT id, type, subject_id, sequence FROM events
        WHERE operator_id = $1 AND created_at >= $2 AND created_at < $3
          AND type <> 'webhook.test' AND subject_id <> $4
          AND ('*' = ANY($5::text[]) OR type = ANY($5::text[]))
        ORDER BY created_at, id LIMIT $6`,
      [operatorId, range.from, range.to, endpoint.id, endpoint.enabled_events, MAX_REPLAY_EVENTS + 1],
    );
    if (events.length > MAX_REPLAY_EVENTS)
      throw new RampartError('invalid_value', {
        field: 'to',
        provided: range.to.toISOString(),
        expected: `a range holding at most ${MAX_REPLAY_EVENTS} events; split it`,
      });
    const rows = events.map((event) => ({
      operatorId,
      endpointId,
      eventId: event.id,
      subjectId: event.subject_id,
      sequence: event.sequence,
    }));
    const created = await this.madeFor(operatorId, endpointId, rows, 'replay', this.db);
    return { endpoint_id: endpointId, from: range.from, to: range.to, deliveries: created.length };
  }

  /**
   * Records a `webhook.test` event (it shows in `GET /v1/events`) and delivers it to this
   * endpoint only; the result appears in the delivery log like any other.
   */
  async sendTest(operatorId: string, endpointId: string): Promise<WebhookDelivery> {
    return this.db.transaction(async (tx) => {
      const now = this.clock.now();
      // The endpoint before its event sequence, as a worker recording a notice about the
      // endpoint (disabled, delivery exhausted) takes them: the other order deadlocks the two.
      const endpoint = await this.endpoints.get(operatorId, endpointId, tx, { forShare: true });
      requireEnabled(endpoint, 'test');
      const event = await this.events.record(tx, {
        operatorId,
        type: 'webhook.test',
        subjectId: endpoint.id,
        data: { endpoint_id: endpoint.id, message: 'A test event sent on request.' },
      });
      // Not fanned out: it is for this endpoint alone.
      await tx.query('DELETE FROM webhook_fanout_queue WHERE event_id = $1', [event.id]);
      const [id] = await this.madeFor(
        operatorId,
        endpointId,
        [{ operatorId, endpointId, eventId: event.id, subjectId: event.subject_id, sequence: event.sequence }],
        'test',
        tx,
        now,
      );
      return (await this.byIds([id!], tx))[0]!;
    });
  }

  /** `insertDeliveries` for one endpoint an operator asked for: deleted meanwhile, it is not found. */
  private async madeFor(
    _operatorId: string,
    endpointId: string,
    rows: readonly NewDelivery[],
    reason: DeliveryReason,
    tx: Queryable,
    now = this.clock.now(),
  ): Promise<string[]> {
    const made = await insertDeliveries(tx, this.ids, rows, reason, now);
    if (made.length < rows.length)
      throw new RampartError('resource_not_found', { resource: 'webhook_endpoint', id: endpointId });
    return made;
  }
}
