import {
  type Clock,
  EventLog,
  type EventType,
  type IdGenerator,
  idsMadeFrom,
  type PurgeBatches,
  purgeInBatches,
  type Queryable,
  type Store,
} from '@rampart/core';
import type { WebhookConfig } from './config.ts';
import { nextRetryDelay, parseRetryAfter } from './retry-schedule.ts';
import { isSuccess, type PostResult } from './transport.ts';

/** A delivery a worker holds a lease on, with all it needs to send it. */
export interface ClaimedDelivery {
  id: string;
  operator_id: string;
  endpoint_id: string;
  /** This attempt's number (1-based); also the fencing token of the lease. */
  attempt_count: number;
  /** When the lease ends: another worker may claim the delivery from then on. */
  lease_ends_at: Date;
  url: string;
  allow_private: boolean;
  secret: Buffer;
  previous_secret: Buffer | null;
  previous_secret_expires_at: Date | null;
  event_id: string;
  type: EventType;
  api_version: string;
  subject_id: string;
  sequence: bigint;
  data: Record<string, unknown>;
  created_at: Date;
}

export interface Completion {
  delivery: ClaimedDelivery;
  startedAt: Date;
  result: PostResult;
  /** False when the attempt failed through no fault of the endpoint (e.g. undecryptable secret). */
  endpointAtFault: boolean;
}

/**
 * The delivery queue in PostgreSQL. Claiming takes a lease (`next_attempt_at` moves past
 * the request timeout) instead of holding a transaction open during HTTP, so a worker
 * that dies mid-request only delays its deliveries until the lease ends.
 *
 * Ordering: a delivery is claimable only when no earlier delivery (lower sequence) of the
 * same subject to the same endpoint is still pending — in flight, or waiting for a retry —
 * and no earlier event of the subject is still waiting in the fan-out queue. So sequence n+1
 * reaches an endpoint only after n succeeded or was exhausted; a failing delivery holds
 * back later ones of the same subject (not other subjects) until it resolves.
 */
export class DeliveryQueue {
  private readonly db: Store;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;
  private readonly config: WebhookConfig;
  private readonly random: () => number;
  private readonly events: EventLog;

  constructor(deps: { db: Store; ids: IdGenerator; clock: Clock; config: WebhookConfig; random?: () => number }) {
    this.db = deps.db;
    this.ids = deps.ids;
    this.clock = deps.clock;
    this.config = deps.config;
    this.random = deps.random ?? Math.random;
    this.events = new EventLog(deps.db, deps.ids, deps.clock);
  }

  async claim(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const now = this.clock.now();
    return this.db.transaction(async (tx) => {
      // A claim lost in a database crash just makes the delivery claimable again at once.
      await tx.query('SET LOCAL synchronous_commit = off');
      const { rows } = await tx.query<ClaimedDelivery>({
        name: 'webhooks-claim',
        text: `WITH due AS (
               SELECT d.id FROM webhook_deliveries d
                WHERE d.status = 'pending' AND d.next_attempt_at <= $1
                  AND EXISTS (SELECT 1 FROM webhook_endpoints w
                               WHERE w.id = d.endpoint_id AND w.status = 'enabled' AND w.deleted_at IS NULL)
                  -- A subject's events go out in sequence; test sends (the endpoint's own
                  -- subject, sent to it alone) carry nothing to order, and hold none back.
                  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                                   WHERE p.endpoint_id = d.endpoint_id AND p.subject_id = d.subject_id
                                     AND p.status = 'pending' AND p.sequence < d.sequence AND p.reason <> 'test')
                  AND NOT EXISTS (SELECT 1 FROM webhook_fanout_queue q
                                   WHERE q.subject_id = d.subject_id AND q.sequence < d.sequence)
                ORDER BY d.next_attempt_at
                LIMIT $2
                FOR UPDATE OF d SKIP LOCKED)
             UPDATE webhook_deliveries d SET attempt_count = d.attempt_count + 1, next_attempt_at = $3
               FROM due, events e, webhook_endpoints w
              WHERE d.id = due.id AND e.id = d.event_id AND w.id = d.endpoint_id
             RETURNING d.id, d.operator_id, d.endpoint_id, d.attempt_count, d.next_attempt_at AS lease_ends_at, w.url,
                       w.allow_private, w.secret, w.previous_secret, w.previous_secret_expires_at, e.id AS event_id,
                       e.type, e.api_version, e.subject_id, e.sequence, e.data, e.created_at`,
        values: [now, limit, new Date(now.getTime() + leaseMs)],
      });
      return rows;
    });
  }

  /**
   * Records a batch of finished attempts in one transaction: the attempt log, each
   * delivery's new state (success, retry time, or exhausted), the endpoints' failure
   * record, and the events that report exhaustion and disabling. Results whose lease
   * was lost (another worker took the delivery over) are logged but change nothing.
   */
  async complete(completions: readonly Completion[]): Promise<void> {
    if (completions.length === 0) return;
    const now = this.clock.now();
    const plans = completions.map((c) => {
      const ok = isSuccess(c.result);
      const delay = ok
        ? undefined
        : nextRetryDelay(c.delivery.attempt_count, this.config.retrySchedule, {
            retryAfterMs:
              c.result.statusCode === 429 || c.result.statusCode === 503
                ? parseRetryAfter(c.result.retryAfter, now)
                : undefined,
            retryAfterMaxMs: this.config.retryAfterMaxMs,
            random: this.random,
          });
      const status = ok ? 'succeeded' : delay === undefined ? 'exhausted' : 'pending';
      return { completion: c, ok, status, nextAttemptAt: delay === undefined ? null : new Date(now.getTime() + delay) };
    });

    const failing = new Set<string>();
    for (const p of plans) if (!p.ok && p.completion.endpointAtFault) failing.add(p.completion.delivery.endpoint_id);
    // Any success clears an endpoint's failure record; a failure in the same batch then
    // starts a new one from now. An endpoint that mostly succeeds is never disabled.
    const healthy = [...new Set(plans.filter((p) => p.ok).map((p) => p.completion.delivery.endpoint_id))];

    await this.db.transaction(async (tx) => {
      // Losing this commit in a database crash only means sending again (the leases
      // lapse), never losing a delivery: no need to wait for the WAL flush.
      await tx.query('SET LOCAL synchronous_commit = off');
      // The endpoints before the deliveries (`lockEndpoints`); those of deliveries to be tried
      // again too, so that the statement below sees a disabling or enabling of their endpoint
      // committed before it (see `parked`).
      const retrying = plans.filter((p) => p.status === 'pending').map((p) => p.completion.delivery.endpoint_id);
      const recovering = await lockEndpoints(tx, [...new Set([...failing, ...retrying])], healthy);
      // One statement: the attempt log, each delivery's new state, and any success
      // clearing its endpoint's failure record. A delivery to be tried again at T holds
      // the later pending deliveries of its subject to the same endpoint back until T
      // (they cannot go before it), so the claim does not meet them, due but blocked, on
      // every pass while it waits; one to be tried again for an endpoint disabled
      // meanwhile is parked (see `parkDeliveries`).
      const { rows: applied } = await tx.query<{ id: string }>({
        name: 'webhooks-complete',
        text: `WITH u AS (
                 SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::int[], $5::int[], $6::boolean[],
                                      $7::text[], $8::text[], $9::text[], $10::timestamptz[])
                     AS u(delivery_id, attempt, started_at, latency_ms, status_code, succeeded, excerpt, error,
                          status, next_attempt_at)),
               logged AS (
                 INSERT INTO webhook_attempts (delivery_id, attempt, started_at, latency_ms, status_code, succeeded,
                                               response_excerpt, error)
                 SELECT delivery_id, attempt, started_at, latency_ms, status_code, succeeded, excerpt, error FROM u
                  WHERE EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = u.delivery_id)
                 ON CONFLICT DO NOTHING),
               recovered AS (UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ANY($12)),
               held_back AS (
                 UPDATE webhook_deliveries s SET next_attempt_at = u.next_attempt_at
                   FROM u JOIN webhook_deliveries d ON d.id = u.delivery_id
                  WHERE u.status = 'pending' AND d.attempt_count = u.attempt AND d.status = 'pending'
                    AND d.reason <> 'test' AND s.endpoint_id = d.endpoint_id AND s.subject_id = d.subject_id AND s.status = 'pending'
                    AND s.sequence > d.sequence AND s.next_attempt_at < u.next_attempt_at)
             UPDATE webhook_deliveries d
                SET status = u.status, last_attempt_at = u.started_at,
                    next_attempt_at = CASE WHEN u.status = 'pending' AND NOT EXISTS (
                                             SELECT 1 FROM webhook_endpoints w
                                              WHERE w.id = d.endpoint_id AND w.status = 'enabled' AND w.deleted_at IS NULL)
                                           THEN NULL ELSE u.next_attempt_at END,
                    last_status_code = u.status_code, last_error = u.error,
                    completed_at = CASE WHEN u.status = 'pending' THEN NULL ELSE $11::timestamptz END
               FROM u
              WHERE d.id = u.delivery_id AND d.attempt_count = u.attempt AND d.status = 'pending'
              RETURNING d.id`,
        values: [
          plans.map((p) => p.completion.delivery.id),
          plans.map((p) => p.completion.delivery.attempt_count),
          plans.map((p) => p.completion.startedAt),
          plans.map((p) => p.completion.result.latencyMs),
          plans.map((p) => p.completion.result.statusCode),
          plans.map((p) => p.ok),
          plans.map((p) => p.completion.result.excerpt),
          plans.map((p) => p.completion.result.error),
          plans.map((p) => p.status),
          plans.map((p) => p.nextAttemptAt),
          now,
          recovering,
        ],
      });
      const current = new Set(applied.map((r) => r.id));
      const live = plans.filter((p) => current.has(p.completion.delivery.id));

      const disabled = failing.size > 0 ? await this.recordFailures(tx, [...failing].sort(), now) : [];
      if (disabled.length > 0)
        await parkDeliveries(
          tx,
          disabled.map((e) => e.id),
        );

      // Operator events, in subject order so concurrent batches lock sequences alike.
      const notices: { subject: string; type: EventType; operatorId: string; data: Record<string, unknown> }[] = [];
      for (const endpoint of disabled) {
        notices.push({
          subject: endpoint.id,
          type: 'webhook_endpoint.disabled',
          operatorId: endpoint.operator_id,
          data: {
            endpoint_id: endpoint.id,
            url: endpoint.url,
            reason: 'failing',
            failing_since: endpoint.failing_since.toISOString(),
          },
        });
      }
      for (const plan of live) {
        const d = plan.completion.delivery;
        // Exhausting a notice about deliveries does not make another notice (no loops).
        if (plan.status !== 'exhausted' || d.type.startsWith('webhook')) continue;
        notices.push({
          subject: d.endpoint_id,
          type: 'webhook.delivery_exhausted',
          operatorId: d.operator_id,
          data: {
            delivery_id: d.id,
            endpoint_id: d.endpoint_id,
            event_id: d.event_id,
            event_type: d.type,
            attempts: d.attempt_count,
            last_status_code: plan.completion.result.statusCode,
            last_error: plan.completion.result.error,
          },
        });
      }
      notices.sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
      for (const notice of notices) {
        await this.events.record(tx, {
          operatorId: notice.operatorId,
          type: notice.type,
          subjectId: notice.subject,
          data: notice.data,
        });
      }
    });
  }

  /**
   * A failure starts an endpoint's failure record, unless one is running (a success in
   * the same batch has just ended it, so this starts a new one). An endpoint whose
   * failures go back further than the configured period is disabled.
   */
  private async recordFailures(
    tx: Queryable,
    failing: readonly string[],
    now: Date,
  ): Promise<{ id: string; operator_id: string; url: string; failing_since: Date }[]> {
    const { rows } = await tx.query<{
      id: string;
      operator_id: string;
      url: string;
      failing_since: Date;
      just_disabled: boolean;
    }>(
      `WITH next AS (SELECT id, status = 'enabled' AND COALESCE(failing_since, $2) <= $3 AS disable
                       FROM webhook_endpoints WHERE id = ANY($1) AND deleted_at IS NULL)
       UPDATE webhook_endpoints w
          SET failing_since = COALESCE(w.failing_since, $2),
              status = CASE WHEN next.disable THEN 'disabled' ELSE w.status END,
              disabled_reason = CASE WHEN next.disable THEN 'failing' ELSE w.disabled_reason END,
              updated_at = CASE WHEN next.disable THEN $2 ELSE w.updated_at END
         FROM next
        WHERE w.id = next.id
        RETURNING w.id, w.operator_id, w.url, w.failing_since, next.disable AS just_disabled`,
      [failing, now, new Date(now.getTime() - this.config.disableAfterMs)],
    );
    return rows.filter((r) => r.just_disabled);
  }
}

/**
 * Row locks on every endpoint a batch of results writes, before any delivery's: `locked`
 * (failing, or with a delivery to be tried again) and, of the `healthy` ones (a success
 * among the results), those with a failure record for the success to end. In id order, so
 * concurrent batches cannot deadlock on them; and endpoint before deliveries is the order
 * of everything else that writes both (an endpoint's delete, disabling, enabling): the
 * other way round, a delete cancelling an endpoint's deliveries while a success for one of
 * them ends the endpoint's failure record deadlocks the two. Answers the healthy endpoints
 * whose failure record ends; one that another batch starts after this lock stays (as if
 * this batch came first).
 */
async function lockEndpoints(tx: Queryable, locked: readonly string[], healthy: readonly string[]): Promise<string[]> {
  if (locked.length === 0 && healthy.length === 0) return [];
  const { rows } = await tx.query<{ id: string; recovering: boolean }>({
    name: 'webhooks-lock-endpoints',
    text: `SELECT id, id = ANY($2) AND failing_since IS NOT NULL AS recovering FROM webhook_endpoints
            WHERE id = ANY($1) OR (id = ANY($2) AND failing_since IS NOT NULL)
            ORDER BY id FOR NO KEY UPDATE`,
    values: [locked, healthy],
  });
  return rows.filter((r) => r.recovering).map((r) => r.id);
}

/**
 * Parks the pending deliveries of endpoints just disabled: no attempt time
 * (`next_attempt_at` NULL), so the claim's index range never reaches them however long
 * the endpoint stays disabled, and one operator's backlog costs no other operator's
 * deliveries anything. They keep their place in each subject's order, and enabling the
 * endpoint makes them due at once (`unparkDeliveries`).
 *
 * A delivery in flight (claimed, its attempt not yet logged) keeps its lease: parked and
 * enabled again, it would be due at once and sent a second time while the first attempt
 * is still open. Its completion parks it if it is to be tried again. Rows another
 * transaction is updating are skipped, so parking never waits on, or deadlocks with, a
 * completion (a skipped one stays due, and the claim passes it by while the endpoint is
 * disabled); a row only key-share locked (its attempt being logged) is parked.
 */
export async function parkDeliveries(tx: Queryable, endpointIds: readonly string[]): Promise<void> {
  await tx.query({
    name: 'webhooks-park',
    text: `UPDATE webhook_deliveries SET next_attempt_at = NULL
            WHERE id IN (SELECT d.id FROM webhook_deliveries d
                          WHERE d.endpoint_id = ANY($1) AND d.status = 'pending' AND d.next_attempt_at IS NOT NULL
                            AND (d.attempt_count = 0 OR EXISTS (
                                  SELECT 1 FROM webhook_attempts a
                                   WHERE a.delivery_id = d.id AND a.attempt = d.attempt_count))
                          FOR NO KEY UPDATE OF d SKIP LOCKED)`,
    values: [endpointIds],
  });
}

/**
 * The parked deliveries of an endpoint enabled again: due at once, in their order. It
 * skips nothing (a parked delivery skipped would stay parked for good, and hold its
 * subject's later deliveries back with it), and cannot deadlock with a completion: one
 * that parks or touches a parked delivery has locked its endpoint first, as enabling has.
 */
export async function unparkDeliveries(tx: Queryable, endpointId: string, now: Date): Promise<void> {
  await tx.query({
    name: 'webhooks-unpark',
    text: `UPDATE webhook_deliveries SET next_attempt_at = $2
            WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at IS NULL`,
    values: [endpointId, now],
  });
}

/**
 * Deletes the deliveries that ended (succeeded, exhausted, cancelled) more than
 * `olderThanMs` ago, with their attempt logs: `RAMPART_WEBHOOK_LOG_RETENTION`. Their ids
 * sort by creation time, so the primary key's range of ids made before the cutoff is all
 * it reads; pending deliveries, however old, are kept. In batches (`purgeInBatches`).
 * Returns how many went.
 */
export function purgeDeliveryLogs(
  db: Queryable,
  now: Date,
  olderThanMs: number,
  batches: PurgeBatches = {},
): Promise<number> {
  const cutoff = new Date(now.getTime() - olderThanMs);
  return purgeInBatches(batches, (batch) =>
    db.query({
      name: 'webhooks-purge-logs',
      text: `WITH ended AS (
               SELECT id FROM webhook_deliveries
                WHERE id < $1 AND status <> 'pending' AND completed_at < $2
                ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED),
             attempts AS (DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM ended))
             DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM ended)`,
      values: [idsMadeFrom('dlv', cutoff), cutoff, batch],
    }),
  );
}
