import { createHash, timingSafeEqual } from 'node:crypto';
import { type Database, PROVIDER_EVENT_MAX_ATTEMPTS } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/**
 * What this deployment's queues hold, read in one statement when scraped. Each count
 * reads a partial index or a small table: pending deliveries (due now, scheduled for a
 * retry, parked behind a disabled endpoint), events waiting to be fanned out, provider
 * webhooks waiting to be applied or set aside after their tries, open payments by
 * status, withdrawals waiting for review, open discrepancies; and the age of this
 * database's oldest write transaction, which holds `GET /v1/events` back while it runs.
 */
const BACKLOG_SQL = `
  SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now())::int AS due,
         (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at > now())::int AS scheduled,
         (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at IS NULL)::int AS parked,
         (SELECT count(*) FROM webhook_fanout_queue)::int AS fanout,
         (SELECT count(*) FILTER (WHERE attempts < $1) FROM provider_events WHERE processed_at IS NULL)::int AS waiting,
         (SELECT count(*) FILTER (WHERE attempts >= $1) FROM provider_events WHERE processed_at IS NULL)::int AS set_aside,
         (SELECT coalesce(json_object_agg(status, n), '{}') FROM (
            SELECT status, count(*)::int AS n FROM payments WHERE status IN ('created', 'pending', 'processing')
             GROUP BY status) s) AS open,
         (SELECT count(*) FROM payment_reviews)::int AS reviews,
         (SELECT count(*) FROM payment_discrepancies WHERE resolved_at IS NULL)::int AS discrepancies,
         (SELECT coalesce(extract(epoch FROM now() - min(xact_start)), 0) FROM pg_stat_activity
           WHERE datname = current_database() AND backend_xid IS NOT NULL)::float8 AS oldest_write`;

const OPEN_STATUSES = ['created', 'pending', 'processing'] as const;

interface Backlog {
  due: number;
  scheduled: number;
  parked: number;
  fanout: number;
  waiting: number;
  set_aside: number;
  open: Partial<Record<(typeof OPEN_STATUSES)[number], number>>;
  reviews: number;
  discrepancies: number;
  oldest_write: number;
}

/** How long a scrape waits for the backlog read before answering without it. */
const BACKLOG_TIMEOUT_MS = 5_000;

/**
 * The backlogs, or undefined when the database cannot say (down, or too slow): a scrape
 * then still answers the process's own figures, which matter most just then.
 */
function readBacklog(db: Database): Promise<Backlog | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, BACKLOG_TIMEOUT_MS, undefined);
  });
  const read = db.query<Backlog>(BACKLOG_SQL, [PROVIDER_EVENT_MAX_ATTEMPTS]).then(
    ({ rows }) => rows[0],
    () => undefined,
  );
  return Promise.race([read, late]).finally(() => clearTimeout(timer));
}

/** The registry `/metrics` shows: this process's own figures, and the deployment's backlogs. */
function metricsRegistry(db: Database): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // One read per scrape, shared by every gauge below.
  let reading: Promise<Backlog | undefined> | undefined;
  const backlog = () => {
    reading ??= readBacklog(db).finally(() => setImmediate(() => (reading = undefined)));
    return reading;
  };
  new Gauge({
    name: 'rampart_backlog_up',
    help: 'Whether this scrape could read the backlogs from the database (1) or not (0: the rampart_* figures are absent)',
    registers: [registry],
    async collect() {
      this.set((await backlog()) ? 1 : 0);
    },
  });
  const gauge = (
    name: string,
    help: string,
    read: (b: Backlog, set: (value: number, state?: string) => void) => void,
    label?: string,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: label ? [label] : [],
      registers: [registry],
      async collect() {
        const b = await backlog();
        this.reset();
        if (b) read(b, (value, state) => (label && state ? this.set({ [label]: state }, value) : this.set(value)));
      },
    });
  gauge(
    'rampart_webhook_deliveries',
    'Webhook deliveries not yet succeeded or exhausted: due now, scheduled for a retry, or parked behind a disabled endpoint',
    (b, set) => {
      set(b.due, 'due');
      set(b.scheduled, 'scheduled');
      set(b.parked, 'parked');
    },
    'state',
  );
  gauge('rampart_webhook_fanout_queue', 'Events recorded and not yet fanned out to webhook endpoints', (b, set) =>
    set(b.fanout),
  );
  gauge(
    'rampart_provider_events',
    'Provider webhooks recorded and not applied: waiting for a (re)try, or set aside after their tries',
    (b, set) => {
      set(b.waiting, 'waiting');
      set(b.set_aside, 'set_aside');
    },
    'state',
  );
  gauge(
    'rampart_payments_open',
    'Payments not yet ended, by status',
    (b, set) => {
      for (const status of OPEN_STATUSES) set(b.open[status] ?? 0, status);
    },
    'status',
  );
  gauge(
    'rampart_withdrawals_in_review',
    'Withdrawals waiting for an operator to approve or decline them by hand',
    (b, set) => set(b.reviews),
  );
  gauge('rampart_discrepancies_open', 'Payments a provider contradicted, not yet resolved', (b, set) =>
    set(b.discrepancies),
  );
  gauge(
    'rampart_oldest_write_transaction_seconds',
    "Age of the database's oldest running write transaction; GET /v1/events lists nothing newer until it ends",
    (b, set) => set(b.oldest_write),
  );
  return registry;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * `GET /metrics` in Prometheus' text format, for the deployment's operators (not for
 * Rampart's operators: counts are over every tenant, so it takes a token of its own,
 * `RAMPART_METRICS_TOKEN`, and is not served without one).
 */
export function metricsRoutes(app: FastifyInstance, db: Database, token: string | undefined): void {
  if (!token) return;
  const expected = digest(token);
  const registry = metricsRegistry(db);
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    const header = request.headers.authorization ?? '';
    if (!header) throw new RampartError('missing_token', {});
    const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    if (!timingSafeEqual(digest(given), expected)) throw new RampartError('invalid_token', {});
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
