import { type Discrepancies, type DiscrepancyState, discrepancyObject, presentDiscrepancy } from '@rampart/core';
import type { FastifyInstance } from 'fastify';
import { cursorListSchema, cursorPage, idParam, limitQuery } from './schemas.ts';

export const discrepancySchema = { $id: 'Discrepancy', ...discrepancyObject };

/**
 * The operator's queue of payment discrepancies: where a provider contradicted how
 * Rampart ended a payment. Read them, put right what needs it, resolve them with a note.
 */
export function discrepancyRoutes(app: FastifyInstance, discrepancies: Discrepancies): void {
  app.get<{ Querystring: { status?: DiscrepancyState; payment_id?: string; starting_after?: string; limit?: string } }>(
    '/v1/discrepancies',
    {
      schema: {
        tags: ['payments'],
        summary: 'Payment discrepancies, newest first, cursor-paginated',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: ['open', 'resolved'] },
            payment_id: { type: 'string', maxLength: 64 },
            starting_after: { type: 'string', maxLength: 64 },
            limit: limitQuery(25),
          },
        },
        response: { 200: cursorListSchema({ $ref: 'Discrepancy#' }) },
      },
    },
    async (request) => {
      const q = request.query;
      const limit = q.limit ? Number(q.limit) : 25;
      const rows = await discrepancies.list(request.operator.operatorId, {
        ...(q.status ? { state: q.status } : {}),
        ...(q.payment_id ? { paymentId: q.payment_id } : {}),
        ...(q.starting_after ? { before: q.starting_after } : {}),
        limit: limit + 1,
      });
      return cursorPage(rows, limit, presentDiscrepancy);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/discrepancies/:id',
    {
      schema: {
        tags: ['payments'],
        summary: 'A payment discrepancy',
        params: idParam,
        response: { 200: { $ref: 'Discrepancy#' } },
      },
    },
    async (request) => presentDiscrepancy(await discrepancies.get(request.operator.operatorId, request.params.id)),
  );

  app.post<{ Params: { id: string }; Body: { resolution: string } }>(
    '/v1/discrepancies/:id/resolve',
    {
      schema: {
        tags: ['payments'],
        summary: 'Resolve a payment discrepancy, saying what was done about it',
        description:
          'Resolving records the note and emits `payment.discrepancy_resolved`; it moves no money. Correct balances with a balance adjustment first, where they need it.',
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['resolution'],
          properties: { resolution: { type: 'string', minLength: 1, maxLength: 500, pattern: '\\S' } },
        },
        response: { 200: { $ref: 'Discrepancy#' } },
      },
    },
    async (request) =>
      presentDiscrepancy(
        await discrepancies.resolve(request.operator.operatorId, request.params.id, request.body.resolution.trim()),
      ),
  );
}
