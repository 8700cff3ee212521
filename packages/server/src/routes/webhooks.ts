import { randomBytes } from 'node:crypto';
import { type Clock, dateTimeOf, type IdGenerator, type Store } from '@rampart/core';
import {
  type DeliveryStatus,
  type EndpointStatus,
  parseSecretsKey,
  presentDelivery,
  presentEndpoint,
  SecretBox,
  type WebhookConfig,
  WebhookDeliveries,
  WebhookEndpoints,
} from '@rampart/webhooks';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { idParam, limitQuery } from './schemas.ts';

const pageQuery = {
  limit: limitQuery(50),
  after: { type: 'string', maxLength: 64, description: 'The last id of the previous page.' },
} as const;

export function pageOf(query: { limit?: string; after?: string }): { limit?: number; after?: string } {
  return {
    ...(query.limit ? { limit: Number(query.limit) } : {}),
    ...(query.after ? { after: query.after } : {}),
  };
}

const attemptSchema = {
  type: 'object',
  properties: {
    attempt: { type: 'integer' },
    started_at: { type: 'string', format: 'date-time' },
    latency_ms: { type: 'integer' },
    status_code: { type: ['integer', 'null'], description: 'null when no HTTP response came.' },
    succeeded: { type: 'boolean' },
    response_excerpt: { type: ['string', 'null'], description: 'The first 1 KiB of the response body.' },
    error: { type: ['string', 'null'], description: 'Timeout, connection or address error.' },
  },
  required: ['attempt', 'started_at', 'latency_ms', 'status_code', 'succeeded'],
} as const;

const endpointProperties = {
  id: { type: 'string' },
  object: { type: 'string', const: 'webhook_endpoint' },
  url: { type: 'string' },
  description: { type: ['string', 'null'] },
  enabled_events: { type: 'array', items: { type: 'string' } },
  status: { type: 'string', enum: ['enabled', 'disabled'] },
  disabled_reason: {
    type: ['string', 'null'],
    description: '`failing` (every attempt failed for the configured period), `operator` or `deleted`.',
  },
  failing_since: { type: ['string', 'null'], format: 'date-time' },
  previous_secret_expires_at: {
    type: ['string', 'null'],
    format: 'date-time',
    description: 'Until then deliveries are signed with the previous secret as well.',
  },
  created_at: { type: 'string', format: 'date-time' },
  updated_at: { type: 'string', format: 'date-time' },
} as const;
const endpointRequired = ['id', 'object', 'url', 'enabled_events', 'status', 'created_at'] as const;

export const webhookSchemas = [
  { $id: 'WebhookEndpoint', type: 'object', properties: endpointProperties, required: endpointRequired },
  {
    $id: 'WebhookEndpointWithSecret',
    type: 'object',
    properties: {
      ...endpointProperties,
      secret: { type: 'string', description: '`whsec_…`: shown here only; Rampart keeps it encrypted.' },
    },
    required: [...endpointRequired, 'secret'],
  },
  {
    $id: 'WebhookDelivery',
    type: 'object',
    properties: {
      id: { type: 'string' },
      object: { type: 'string', const: 'webhook_delivery' },
      endpoint_id: { type: 'string' },
      event_id: { type: 'string' },
      event_type: { type: 'string' },
      subject_id: { type: 'string' },
      sequence: { type: 'integer' },
      reason: { type: 'string', enum: ['event', 'redeliver', 'replay', 'test'] },
      status: { type: 'string', enum: ['pending', 'succeeded', 'exhausted', 'cancelled'] },
      attempt_count: { type: 'integer' },
      next_attempt_at: { type: ['string', 'null'], format: 'date-time' },
      last_attempt_at: { type: ['string', 'null'], format: 'date-time' },
      last_status_code: { type: ['integer', 'null'] },
      last_error: { type: ['string', 'null'] },
      created_at: { type: 'string', format: 'date-time' },
      completed_at: { type: ['string', 'null'], format: 'date-time' },
      attempts: { type: 'array', items: attemptSchema, description: 'Only on GET /v1/deliveries/{id}.' },
    },
    required: ['id', 'object', 'endpoint_id', 'event_id', 'status', 'attempt_count', 'created_at'],
  },
] as const;

const listOf = (ref: string) => ({
  type: 'object',
  properties: {
    object: { type: 'string', const: 'list' },
    data: { type: 'array', items: { $ref: `${ref}#` } },
    next_cursor: { type: ['string', 'null'], description: 'Pass as `after` for the next page; null on the last.' },
  },
  required: ['object', 'data', 'next_cursor'],
});

function listPage<T extends { id: string }>(rows: readonly T[], limit: number | undefined) {
  return rows.length === (limit ?? 50) ? rows.at(-1)!.id : null;
}

const enabledEvents = {
  type: 'array',
  minItems: 1,
  maxItems: 100,
  items: { type: 'string', maxLength: 100 },
  description: 'Event types to deliver; `["*"]` (the default) is all.',
} as const;

export interface WebhookRouteDependencies {
  db: Store;
  ids: IdGenerator;
  clock: Clock;
  config: WebhookConfig;
  /** Rampart's master secret; signing secrets are sealed with a key derived from it. */
  masterSecret: Buffer | undefined;
  /** RAMPART_SECRETS_KEY as configured, when no master secret is handed over (tests). */
  configuredKey: string | undefined;
  /** A development server (RAMPART_DEV_TOOLS): test keys may use private URLs. */
  devServer: boolean;
}

/**
 * Private and loopback URLs are allowed everywhere with the allow flag, and to test keys
 * on a development server (dev tools on: the embedded database on a loopback address).
 * Elsewhere a test key gets no such pass: a test key (handed to developers and CI, and
 * more often leaked) could otherwise aim the server's requests into its own network.
 */
function caller(request: FastifyRequest, devServer: boolean) {
  return { operatorId: request.operator.operatorId, allowPrivate: devServer && request.operator.mode === 'test' };
}

export function webhookRoutes(app: FastifyInstance, deps: WebhookRouteDependencies): void {
  // Without either (in-process tests), a random key: secrets then last as long as the process.
  const master = deps.masterSecret ?? (deps.configuredKey ? parseSecretsKey(deps.configuredKey) : undefined);
  const secrets = SecretBox.forWebhookSecrets(master ?? randomBytes(32));
  const endpoints = new WebhookEndpoints({ ...deps, secrets });
  const deliveries = new WebhookDeliveries({ ...deps, endpoints });
  const tags = ['webhooks'];

  app.post<{ Body: { url: string; enabled_events?: string[]; description?: string | null } }>(
    '/v1/webhook_endpoints',
    {
      schema: {
        tags,
        summary: 'Register a webhook endpoint; its signing secret is in this response only',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['url'],
          properties: {
            url: { type: 'string', maxLength: 2048 },
            enabled_events: enabledEvents,
            description: { type: ['string', 'null'], maxLength: 500 },
          },
        },
        response: { 201: { $ref: 'WebhookEndpointWithSecret#' } },
      },
    },
    async (request, reply) => {
      const created = await endpoints.create(caller(request, deps.devServer), request.body);
      return reply.code(201).send({ ...presentEndpoint(created.endpoint), secret: created.secret });
    },
  );

  app.get<{ Querystring: { limit?: string; after?: string } }>(
    '/v1/webhook_endpoints',
    {
      schema: {
        tags,
        summary: 'List webhook endpoints',
        querystring: { type: 'object', additionalProperties: false, properties: pageQuery },
        response: { 200: listOf('WebhookEndpoint') },
      },
    },
    async (request) => {
      const page = pageOf(request.query);
      const rows = await endpoints.list(request.operator.operatorId, page);
      return { object: 'list', data: rows.map(presentEndpoint), next_cursor: listPage(rows, page.limit) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/webhook_endpoints/:id',
    {
      schema: {
        tags,
        summary: 'A webhook endpoint',
        params: idParam,
        response: { 200: { $ref: 'WebhookEndpoint#' } },
      },
    },
    async (request) => presentEndpoint(await endpoints.get(request.operator.operatorId, request.params.id)),
  );

  app.patch<{
    Params: { id: string };
    Body: { url?: string; enabled_events?: string[]; description?: string | null; status?: EndpointStatus };
  }>(
    '/v1/webhook_endpoints/:id',
    {
      schema: {
        tags,
        summary: 'Change URL, events, description, or enable / disable an endpoint',
        description: 'Enabling clears the failure record; deliveries still pending resume in order.',
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            url: { type: 'string', maxLength: 2048 },
            enabled_events: enabledEvents,
            description: { type: ['string', 'null'], maxLength: 500 },
            status: { type: 'string', enum: ['enabled', 'disabled'] },
          },
        },
        response: { 200: { $ref: 'WebhookEndpoint#' } },
      },
    },
    async (request) =>
      presentEndpoint(await endpoints.update(caller(request, deps.devServer), request.params.id, request.body ?? {})),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/webhook_endpoints/:id',
    {
      schema: {
        tags,
        summary: 'Delete an endpoint; its pending deliveries are cancelled',
        params: idParam,
        response: {
          200: {
            type: 'object',
            properties: { id: { type: 'string' }, object: { type: 'string' }, deleted: { type: 'boolean' } },
            required: ['id', 'object', 'deleted'],
          },
        },
      },
    },
    async (request) => {
      const deleted = await endpoints.delete(request.operator.operatorId, request.params.id);
      return { id: deleted.id, object: 'webhook_endpoint', deleted: true };
    },
  );

  app.post<{ Params: { id: string }; Body: { overlap_seconds?: number } | undefined }>(
    '/v1/webhook_endpoints/:id/rotate_secret',
    {
      schema: {
        tags,
        summary: 'Replace the signing secret; the old one keeps signing too during the overlap',
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            overlap_seconds: {
              type: 'integer',
              minimum: 0,
              maximum: 30 * 86_400,
              description: 'How long deliveries carry both signatures; default from configuration (24 h).',
            },
          },
        },
        response: { 200: { $ref: 'WebhookEndpointWithSecret#' } },
      },
    },
    async (request) => {
      const overlap = request.body?.overlap_seconds;
      const rotated = await endpoints.rotateSecret(
        request.operator.operatorId,
        request.params.id,
        overlap === undefined ? undefined : overlap * 1_000,
      );
      return { ...presentEndpoint(rotated.endpoint), secret: rotated.secret };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/webhook_endpoints/:id/test',
    {
      schema: {
        tags,
        summary: 'Send a `webhook.test` event to this endpoint',
        description: 'Answers at once with the queued delivery; poll it at GET /v1/deliveries/{id}.',
        params: idParam,
        response: { 201: { $ref: 'WebhookDelivery#' } },
      },
    },
    async (request, reply) =>
      reply.code(201).send(presentDelivery(await deliveries.sendTest(request.operator.operatorId, request.params.id))),
  );

  app.get<{
    Params: { id: string };
    Querystring: { limit?: string; after?: string; status?: DeliveryStatus; event_id?: string };
  }>(
    '/v1/webhook_endpoints/:id/deliveries',
    {
      schema: {
        tags,
        summary: 'The delivery log of an endpoint, oldest first',
        params: idParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...pageQuery,
            status: { type: 'string', enum: ['pending', 'succeeded', 'exhausted', 'cancelled'] },
            event_id: { type: 'string', maxLength: 64 },
          },
        },
        response: { 200: listOf('WebhookDelivery') },
      },
    },
    async (request) => {
      const page = pageOf(request.query);
      const rows = await deliveries.listForEndpoint(request.operator.operatorId, request.params.id, {
        ...page,
        ...(request.query.status ? { status: request.query.status } : {}),
        ...(request.query.event_id ? { eventId: request.query.event_id } : {}),
      });
      return { object: 'list', data: rows.map(presentDelivery), next_cursor: listPage(rows, page.limit) };
    },
  );

  app.post<{ Params: { id: string }; Body: { from: string; to: string } }>(
    '/v1/webhook_endpoints/:id/replay',
    {
      schema: {
        tags,
        summary: 'Deliver again every event of a time range this endpoint subscribes to',
        description: `Events with from <= created_at < to, at most 10000 per call; per subject in sequence order.`,
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to'],
          properties: { from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' } },
        },
        response: {
          202: {
            type: 'object',
            properties: {
              object: { type: 'string', const: 'webhook_replay' },
              endpoint_id: { type: 'string' },
              from: { type: 'string', format: 'date-time' },
              to: { type: 'string', format: 'date-time' },
              deliveries: { type: 'integer', description: 'Deliveries queued.' },
            },
            required: ['object', 'endpoint_id', 'from', 'to', 'deliveries'],
          },
        },
      },
    },
    async (request, reply) => {
      const replay = await deliveries.replay(request.operator.operatorId, request.params.id, {
        from: dateTimeOf('from', request.body.from),
        to: dateTimeOf('to', request.body.to),
      });
      return reply.code(202).send({
        object: 'webhook_replay',
        endpoint_id: replay.endpoint_id,
        from: replay.from.toISOString(),
        to: replay.to.toISOString(),
        deliveries: replay.deliveries,
      });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/deliveries/:id',
    {
      schema: {
        tags,
        summary: 'A delivery with every attempt: status code, latency, response excerpt, error',
        params: idParam,
        response: { 200: { $ref: 'WebhookDelivery#' } },
      },
    },
    async (request) => presentDelivery(await deliveries.get(request.operator.operatorId, request.params.id)),
  );

  app.post<{ Params: { id: string }; Body: { endpoint_id?: string } | undefined }>(
    '/v1/events/:id/redeliver',
    {
      schema: {
        tags,
        summary: 'Deliver an event again, to one endpoint or to every endpoint that subscribes to it',
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { endpoint_id: { type: 'string', maxLength: 64 } },
        },
        response: { 201: listOf('WebhookDelivery') },
      },
    },
    async (request, reply) => {
      const created = await deliveries.redeliver(
        request.operator.operatorId,
        request.params.id,
        request.body?.endpoint_id,
      );
      return reply.code(201).send({ object: 'list', data: created.map(presentDelivery), next_cursor: null });
    },
  );
}
