import {
  type Clock,
  MAX_AMOUNT_INPUT_LENGTH,
  SESSION_FIELD_FORMS,
  SESSION_THEMES,
  type Session,
  type SessionInput,
  type Sessions,
} from '@rampart/core';
import type { FastifyInstance } from 'fastify';
import { idParam } from './schemas.ts';

export const sessionSchema = {
  $id: 'Session',
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', const: 'session' },
    user_id: { type: 'string' },
    mode: { type: 'string', enum: ['test', 'live'] },
    source: { type: 'string', enum: ['server', 'operator_token'] },
    operation: { type: 'string', enum: ['deposit', 'withdrawal', 'buy', 'sell'] },
    status: { type: 'string', enum: ['open', 'cancelled', 'expired', 'completed'] },
    currency: { type: ['string', 'null'] },
    network: { type: ['string', 'null'] },
    amount: { type: ['string', 'null'] },
    locks: {
      type: 'object',
      properties: { currency: { type: 'boolean' }, network: { type: 'boolean' }, amount: { type: 'boolean' } },
    },
    redirect_url: { type: ['string', 'null'] },
    language: { type: ['string', 'null'] },
    theme: { type: ['string', 'null'] },
    client_ip: { type: ['string', 'null'] },
    expires_at: { type: 'string', format: 'date-time' },
    created_at: { type: 'string', format: 'date-time' },
    widget_url: { type: 'string' },
    init_token: { type: 'string', description: 'Single use, valid one hour; only in the create response.' },
    init_token_expires_at: { type: ['string', 'null'], format: 'date-time' },
  },
  required: ['id', 'object', 'user_id', 'operation', 'status', 'expires_at'],
} as const;

export function presentSession(session: Session, widgetBaseUrl: string, now: Date) {
  const { operator_id: _operator, init_token_used_at: _used, closed_at: _closed, ...rest } = session;
  // A session past its TTL reads as expired even before the sweep has marked it.
  const status = session.status === 'open' && session.expires_at <= now ? 'expired' : session.status;
  return { ...rest, status, object: 'session', widget_url: `${widgetBaseUrl}/widget/?session=${session.id}` };
}

export function sessionRoutes(
  app: FastifyInstance,
  sessions: Sessions,
  widgetBaseUrl: () => string,
  clock: Clock,
): void {
  app.post<{ Body: SessionInput }>(
    '/v1/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Create a widget session for an end user and an operation',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['user_id', 'operation'],
          properties: {
            user_id: { type: 'string', minLength: 1, maxLength: 128 },
            operation: { type: 'string', enum: ['deposit', 'withdrawal', 'buy', 'sell'] },
            currency: { type: 'string', pattern: SESSION_FIELD_FORMS.currency.pattern.source },
            network: { type: 'string', pattern: SESSION_FIELD_FORMS.network.pattern.source },
            amount: { type: 'string', maxLength: MAX_AMOUNT_INPUT_LENGTH },
            locks: {
              type: 'object',
              additionalProperties: false,
              properties: { currency: { type: 'boolean' }, network: { type: 'boolean' }, amount: { type: 'boolean' } },
            },
            redirect_url: { type: 'string', maxLength: 2048 },
            language: { type: 'string', pattern: SESSION_FIELD_FORMS.language.pattern.source },
            theme: { type: 'string', enum: [...SESSION_THEMES] },
            client_ip: { type: 'string', maxLength: 45 },
          },
        },
        response: { 201: { $ref: 'Session#' } },
      },
    },
    async (request, reply) => {
      const { session, initToken } = await sessions.create(request.operator, request.body);
      return reply.code(201).send({ ...presentSession(session, widgetBaseUrl(), clock.now()), init_token: initToken });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/sessions/:id',
    { schema: { tags: ['sessions'], summary: 'A session', params: idParam, response: { 200: { $ref: 'Session#' } } } },
    async (request) =>
      presentSession(await sessions.get(request.operator.operatorId, request.params.id), widgetBaseUrl(), clock.now()),
  );

  app.post<{ Params: { id: string } }>(
    '/v1/sessions/:id/cancel',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Cancel an open session',
        params: idParam,
        response: { 200: { $ref: 'Session#' } },
      },
    },
    async (request) =>
      presentSession(
        await sessions.cancel(request.operator.operatorId, request.params.id),
        widgetBaseUrl(),
        clock.now(),
      ),
  );
}
