import type { ApiKey, Clock, Operator, Operators } from '@rampart/core';
import type { FastifyInstance } from 'fastify';
import { idParam } from './schemas.ts';

export function presentKey(key: ApiKey, now: Date) {
  const status = key.revoked_at
    ? 'revoked'
    : key.expires_at && key.expires_at <= now
      ? 'expired'
      : key.expires_at
        ? 'expiring'
        : 'active';
  return { ...key, object: 'api_key', status };
}

/** An operator as its key's mode sees it, under its public id (the test tenant's own id is never shown). */
function presentOperator(operator: Operator) {
  const { id: _tenant, account_id, ...rest } = operator;
  return { ...rest, id: account_id, object: 'operator' };
}

export function operatorRoutes(app: FastifyInstance, operators: Operators, clock: Clock, overlapSeconds: number): void {
  app.get(
    '/v1/operator',
    {
      schema: {
        tags: ['operator'],
        summary: 'The operator the key belongs to',
        response: { 200: { $ref: 'Operator#' } },
      },
    },
    async (request) => {
      const operator = await operators.get(request.operator.operatorId);
      const { keyId, mode, scope } = request.operator;
      return { ...presentOperator(operator), key: { id: keyId, mode, scope } };
    },
  );

  app.patch<{ Body: { ip_allowlist?: string[]; origin_allowlist?: string[] } }>(
    '/v1/operator',
    {
      schema: {
        tags: ['operator'],
        summary: 'Update the IP and Origin allowlists',
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ip_allowlist: { type: 'array', maxItems: 100, items: { type: 'string', maxLength: 64 } },
            origin_allowlist: { type: 'array', maxItems: 100, items: { type: 'string', maxLength: 255 } },
          },
        },
        response: { 200: { $ref: 'Operator#' } },
      },
    },
    async (request) => presentOperator(await operators.updateAllowlists(request.operator.operatorId, request.body)),
  );

  app.get(
    '/v1/keys',
    {
      schema: {
        tags: ['keys'],
        summary: 'List secret keys (never their secrets)',
        response: {
          200: {
            type: 'object',
            properties: { object: { type: 'string' }, data: { type: 'array', items: { $ref: 'ApiKey#' } } },
          },
        },
      },
    },
    async (request) => {
      const now = clock.now();
      const keys = await operators.keys.list(request.operator.operatorId, request.operator.mode);
      return { object: 'list', data: keys.map((key) => presentKey(key, now)) };
    },
  );

  app.post<{ Body: { scope?: 'full' | 'read_only'; description?: string } }>(
    '/v1/keys',
    {
      schema: {
        tags: ['keys'],
        summary: 'Create a secret key; the secret is in this response only',
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            scope: { type: 'string', enum: ['full', 'read_only'] },
            description: { type: 'string', maxLength: 200 },
          },
        },
        response: { 201: { $ref: 'IssuedApiKey#' } },
      },
    },
    async (request, reply) => {
      const issued = await operators.keys.issue(request.operator.operatorId, {
        mode: request.operator.mode,
        scope: request.body?.scope ?? 'full',
        description: request.body?.description ?? null,
      });
      return reply.code(201).send({ key: presentKey(issued.key, clock.now()), secret: issued.secret });
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/keys/:id/rotate',
    {
      schema: {
        tags: ['keys'],
        summary: `Replace a key; the old one keeps working for the configured overlap`,
        params: idParam,
        response: { 201: { $ref: 'IssuedApiKey#' } },
      },
    },
    async (request, reply) => {
      const { operatorId, mode } = request.operator;
      const rotated = await operators.keys.rotate(operatorId, request.params.id, overlapSeconds, mode);
      const now = clock.now();
      return reply.code(201).send({
        key: presentKey(rotated.key, now),
        secret: rotated.secret,
        previous: presentKey(rotated.previous, now),
      });
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/keys/:id/revoke',
    {
      schema: {
        tags: ['keys'],
        summary: 'Revoke a key at once',
        params: idParam,
        response: { 200: { $ref: 'ApiKey#' } },
      },
    },
    async (request) =>
      presentKey(
        await operators.keys.revoke(request.operator.operatorId, request.params.id, request.operator.mode),
        clock.now(),
      ),
  );
}
