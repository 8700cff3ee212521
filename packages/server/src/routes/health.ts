import type { Database } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import type { FastifyInstance } from 'fastify';

const status = { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] } as const;

export function healthRoutes(app: FastifyInstance, db: Database): void {
  app.get('/health', { schema: { tags: ['platform'], summary: 'Liveness', response: { 200: status } } }, async () => ({
    status: 'ok',
  }));

  app.get(
    '/ready',
    { schema: { tags: ['platform'], summary: 'Readiness: the database answers', response: { 200: status } } },
    async () => {
      if (!(await db.ping())) throw new RampartError('service_unavailable', { reason: 'database unreachable' });
      return { status: 'ready' };
    },
  );
}
