import { type Clock, type IdGenerator, isEventType, type Queryable, type Store } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import type { WebhookConfig } from './config.ts';
import { parkDeliveries, unparkDeliveries } from './delivery-queue.ts';
import { generateSigningSecret, type SecretBox } from './secret-box.ts';
import { checkEndpointUrl, networkPolicy } from './url-policy.ts';

export type EndpointStatus = 'enabled' | 'disabled';

export interface WebhookEndpoint {
  id: string;
  operator_id: string;
  url: string;
  description: string | null;
  /** Event types delivered here; `['*']` is all of them. */
  enabled_events: string[];
  status: EndpointStatus;
  /** `failing` (Rampart disabled it) or `operator`. */
  disabled_reason: string | null;
  failing_since: Date | null;
  /** While set and in the future, deliveries carry a second signature with the old secret. */
  previous_secret_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * Who is asking: the operator, and whether its URLs may point at private networks and
 * loopback (test keys on a development server; never link-local unless the
 * configuration allows anything).
 */
export interface EndpointCaller {
  operatorId: string;
  allowPrivate: boolean;
}

export interface EndpointInput {
  url?: string;
  enabled_events?: readonly string[];
  description?: string | null;
  status?: EndpointStatus;
}

export const ENDPOINT_COLUMNS =
  'id, operator_id, url, description, enabled_events, status, disabled_reason, failing_since, previous_secret_expires_at, created_at, updated_at';
const MAX_ENDPOINTS_PER_OPERATOR = 50;
const MAX_PAGE = 100;

function validEvents(events: readonly string[]): string[] {
  if (events.length === 0 || events.length > 100)
    throw new RampartError('invalid_value', {
      field: 'enabled_events',
      provided: events,
      expected: '1 to 100 event types, or ["*"] for all',
    });
  events.forEach((type, index) => {
    if (type !== '*' && !isEventType(type))
      throw new RampartError('invalid_value', {
        field: `enabled_events[${index}]`,
        provided: type,
        expected: 'an event type of the catalog (GET /v1/events lists them in the API reference) or *',
      });
  });
  return events.includes('*') ? ['*'] : [...new Set(events)];
}

function validDescription(description: string | null | undefined): string | null {
  if (description === undefined || description === null) return null;
  if (description.length > 500)
    throw new RampartError('invalid_value', {
      field: 'description',
      provided: description,
      expected: 'at most 500 characters',
    });
  return description;
}

/**
 * Webhook endpoints of operators and their signing secrets. Secrets are generated here,
 * shown once (on creation and rotation), and stored only as AES-256-GCM ciphertext.
 */
export class WebhookEndpoints {
  private readonly db: Store;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;
  private readonly box: SecretBox;
  private readonly config: Pick<WebhookConfig, 'allowPrivateUrls' | 'secretRotationOverlapMs'>;
  private readonly resolve: ((host: string) => Promise<string[]>) | undefined;

  constructor(deps: {
    db: Store;
    ids: IdGenerator;
    clock: Clock;
    secrets: SecretBox;
    config: Pick<WebhookConfig, 'allowPrivateUrls' | 'secretRotationOverlapMs'>;
    /** DNS for the SSRF check; the system resolver by default. */
    resolve?: (host: string) => Promise<string[]>;
  }) {
    this.db = deps.db;
    this.ids = deps.ids;
    this.clock = deps.clock;
    this.box = deps.secrets;
    this.config = deps.config;
    this.resolve = deps.resolve;
  }

  private async checkedUrl(caller: EndpointCaller, url: string): Promise<{ url: string; allowPrivate: boolean }> {
    const policy = networkPolicy(caller.allowPrivate, this.config.allowPrivateUrls);
    return {
      url: await checkEndpointUrl(url, { policy, ...(this.resolve ? { resolve: this.resolve } : {}) }),
      allowPrivate: caller.allowPrivate,
    };
  }

  async create(
    caller: EndpointCaller,
    input: EndpointInput & { url: string },
  ): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const { url, allowPrivate } = await this.checkedUrl(caller, input.url);
    const events = validEvents(input.enabled_events ?? ['*']);
    const description = validDescription(input.description);
    const id = this.ids('we');
    const secret = generateSigningSecret();
    const now = this.clock.now();
    return this.db.transaction(async (tx) => {
      // Serialises creations of one operator so the cap holds under concurrency.
      await tx.query('SELECT 1 FROM operators WHERE id = $1 FOR UPDATE', [caller.operatorId]);
      const { rows: count } = await tx.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM webhook_endpoints WHERE operator_id = $1 AND deleted_at IS NULL',
        [caller.operatorId],
      );
      if (count[0]!.n >= MAX_ENDPOINTS_PER_OPERATOR)
        throw new RampartError('invalid_value', {
          field: 'url',
          provided: input.url,
          expected: `at most ${MAX_ENDPOINTS_PER_OPERATOR} endpoints per operator; delete one first`,
        });
      const { rows } = await tx.query<WebhookEndpoint>(
        `INSERT INTO webhook_endpoints (id, operator_id, url, description, enabled_events, status, allow_private,
                                        secret, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'enabled', $6, $7, $8, $8) RETURNING ${ENDPOINT_COLUMNS}`,
        [id, caller.operatorId, url, description, events, allowPrivate, this.box.seal(secret, id), now],
      );
      return { endpoint: rows[0]!, secret };
    });
  }

  /** `forShare`: read under a share lock, which a change of the endpoint waits for until the transaction ends. */
  async get(
    operatorId: string,
    id: string,
    tx: Queryable = this.db,
    { forShare = false }: { forShare?: boolean } = {},
  ): Promise<WebhookEndpoint> {
    const { rows } = await tx.query<WebhookEndpoint>(
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE operator_id = $1 AND id = $2 AND deleted_at IS NULL
       ${forShare ? 'FOR SHARE' : ''}`,
      [operatorId, id],
    );
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'webhook_endpoint', id });
    return rows[0];
  }

  /** Oldest first; `after` is the last id of the previous page. */
  async list(operatorId: string, page: { after?: string; limit?: number } = {}): Promise<WebhookEndpoint[]> {
    const { rows } = await this.db.query<WebhookEndpoint>(
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints
        WHERE operator_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR id > $2)
        ORDER BY id LIMIT $3`,
      [operatorId, page.after ?? null, Math.min(Math.max(page.limit ?? 50, 1), MAX_PAGE)],
    );
    return rows;
  }

  /**
   * Enabling an endpoint clears its failure record; its pending deliveries resume in
   * order, due at once. Disabling it parks them (`parkDeliveries`).
   */
  async update(caller: EndpointCaller, id: string, input: EndpointInput): Promise<WebhookEndpoint> {
    const checked = input.url === undefined ? undefined : await this.checkedUrl(caller, input.url);
    const events = input.enabled_events === undefined ? null : validEvents(input.enabled_events);
    const description = input.description === undefined ? undefined : validDescription(input.description);
    const now = this.clock.now();
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<WebhookEndpoint>(
        `UPDATE webhook_endpoints SET
              url = COALESCE($3, url),
              allow_private = COALESCE($4, allow_private),
              enabled_events = COALESCE($5, enabled_events),
              description = CASE WHEN $6 THEN $7 ELSE description END,
              status = COALESCE($8, status),
              disabled_reason = CASE WHEN $8 = 'enabled' THEN NULL WHEN $8 = 'disabled' AND status = 'enabled' THEN 'operator'
                                     ELSE disabled_reason END,
              failing_since = CASE WHEN $8 = 'enabled' THEN NULL ELSE failing_since END,
              updated_at = $9
        WHERE operator_id = $1 AND id = $2 AND deleted_at IS NULL
        RETURNING ${ENDPOINT_COLUMNS}`,
        [
          caller.operatorId,
          id,
          checked?.url ?? null,
          checked?.allowPrivate ?? null,
          events,
          description !== undefined,
          description ?? null,
          input.status ?? null,
          now,
        ],
      );
      if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'webhook_endpoint', id });
      if (input.status === 'disabled') await parkDeliveries(tx, [id]);
      if (input.status === 'enabled') await unparkDeliveries(tx, id, now);
      return rows[0];
    });
  }

  /** Stops delivery at once: pending deliveries are cancelled; the log stays readable by id. */
  async delete(operatorId: string, id: string): Promise<WebhookEndpoint> {
    return this.db.transaction(async (tx) => {
      const now = this.clock.now();
      const { rows } = await tx.query<WebhookEndpoint>(
        `UPDATE webhook_endpoints SET deleted_at = $3, updated_at = $3, status = 'disabled', disabled_reason = 'deleted'
          WHERE operator_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING ${ENDPOINT_COLUMNS}`,
        [operatorId, id, now],
      );
      if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'webhook_endpoint', id });
      await tx.query(
        `UPDATE webhook_deliveries SET status = 'cancelled', completed_at = $2, next_attempt_at = NULL
          WHERE endpoint_id = $1 AND status = 'pending'`,
        [id, now],
      );
      return rows[0];
    });
  }

  /**
   * A new secret; the old one keeps signing alongside it for `overlapMs` (default from
   * configuration), so receivers can switch without dropping a delivery. Rotating again
   * within the overlap drops the oldest secret.
   */
  async rotateSecret(
    operatorId: string,
    id: string,
    overlapMs: number = this.config.secretRotationOverlapMs,
  ): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const secret = generateSigningSecret();
    const now = this.clock.now();
    const { rows } = await this.db.query<WebhookEndpoint>(
      `UPDATE webhook_endpoints SET previous_secret = CASE WHEN $4::timestamptz > $5 THEN secret END,
              previous_secret_expires_at = CASE WHEN $4::timestamptz > $5 THEN $4::timestamptz END,
              secret = $3, updated_at = $5
        WHERE operator_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING ${ENDPOINT_COLUMNS}`,
      [operatorId, id, this.box.seal(secret, id), new Date(now.getTime() + overlapMs), now],
    );
    if (!rows[0]) throw new RampartError('resource_not_found', { resource: 'webhook_endpoint', id });
    return { endpoint: rows[0], secret };
  }
}
