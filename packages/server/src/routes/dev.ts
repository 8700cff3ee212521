import type { DevOutbox } from '@rampart/core';
import type { FastifyInstance } from 'fastify';

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * Development only (RAMPART_DEV_TOOLS): the mail and SMS the development transport kept
 * instead of sending (test mode without a message endpoint). Behind the operator's key,
 * like the rest of the API, and only its own: a development server can be reachable
 * through a proxy, and its messages hold other operators' users' addresses and codes.
 */
export function devRoutes(app: FastifyInstance, outbox: DevOutbox): void {
  app.get<{ Querystring: { to?: string; format?: string } }>(
    '/dev/outbox',
    {
      schema: {
        hide: true,
        querystring: { type: 'object', properties: { to: { type: 'string' }, format: { type: 'string' } } },
      },
    },
    async (request, reply) => {
      const messages = await outbox.list({
        operatorId: request.operator.operatorId,
        ...(request.query.to ? { to: request.query.to } : {}),
        limit: 50,
      });
      if (request.query.format === 'json') return { data: messages };
      const rows = messages
        .map(
          (m) =>
            `<tr><td>${m.created_at.toISOString()}</td><td>${m.channel}</td><td>${escapeHtml(m.destination)}</td><td>${escapeHtml(m.subject ?? '')}</td><td><pre>${escapeHtml(m.body)}</pre></td></tr>`,
        )
        .join('');
      return reply
        .type('text/html; charset=utf-8')
        .send(
          `<!doctype html><title>Rampart dev outbox</title><h1>Dev outbox</h1><p>Mail and SMS Rampart would have sent.</p><table border="1" cellpadding="4"><tr><th>time</th><th>channel</th><th>to</th><th>subject</th><th>body</th></tr>${rows}</table>`,
        );
    },
  );
}
