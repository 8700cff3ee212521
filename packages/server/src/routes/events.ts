import { type EventLog, type EventType, eventTypes } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import { eventEnvelopeSchema, presentEvent } from '@rampart/webhooks';
import type { FastifyInstance } from 'fastify';
import { idParam, limitQuery } from './schemas.ts';

export const eventSchema = { $id: 'Event', ...eventEnvelopeSchema() };

/** The outbox, read-only: every event of the operator, as its webhooks deliver it. */
export function eventRoutes(app: FastifyInstance, events: EventLog): void {
  app.get<{ Querystring: { limit?: string; after?: string; type?: EventType; subject_id?: string } }>(
    '/v1/events',
    {
      schema: {
        tags: ['events'],
        summary: 'List events, oldest first',
        description:
          'Page with `after` = `next_cursor` of the page you read (not an id from a webhook: events of ' +
          'transactions still committing may come before it). The payload of each type is under `webhooks` in ' +
          'this document.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: limitQuery(50),
            after: { type: 'string', maxLength: 64, description: 'The last id of the previous page.' },
            type: { type: 'string', enum: Object.keys(eventTypes) },
            subject_id: { type: 'string', maxLength: 128, description: "One subject's events, in sequence order." },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              object: { type: 'string', const: 'list' },
              data: { type: 'array', items: { $ref: 'Event#' } },
              next_cursor: { type: ['string', 'null'] },
            },
            required: ['object', 'data', 'next_cursor'],
          },
        },
      },
    },
    async (request) => {
      const limit = request.query.limit ? Number(request.query.limit) : 50;
      const rows = await events.list(request.operator.operatorId, {
        limit,
        ...(request.query.after ? { after: request.query.after } : {}),
        ...(request.query.type ? { type: request.query.type } : {}),
        ...(request.query.subject_id ? { subjectId: request.query.subject_id } : {}),
      });
      return {
        object: 'list',
        data: rows.map(presentEvent),
        next_cursor: rows.length === limit ? rows.at(-1)!.id : null,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/events/:id',
    {
      schema: { tags: ['events'], summary: 'An event', params: idParam, response: { 200: { $ref: 'Event#' } } },
    },
    async (request) => {
      const event = await events.get(request.operator.operatorId, request.params.id);
      if (!event) throw new RampartError('resource_not_found', { resource: 'event', id: request.params.id });
      return presentEvent(event);
    },
  );
}
