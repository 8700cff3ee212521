import type { FastifyInstance, FastifyReply } from 'fastify';
import { FaultInputError } from '../faults/rules.ts';
import { isProvider, type Provider } from '../providers.ts';
import type { SimulatorAdmin } from './admin.ts';

/** Admin answers are plain JSON; its errors are `{ "error": { "message" } }`. */
export function adminError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send({ error: { message } });
}

function providerParam(value: unknown): Provider | undefined {
  return isProvider(value) ? value : undefined;
}

/** `/admin/*`: no authentication — the simulator is a test tool and must never be exposed. */
export function registerAdminRoutes(app: FastifyInstance, admin: SimulatorAdmin): void {
  app.post('/admin/reset', async () => {
    admin.reset();
    return { ok: true };
  });

  app.get('/admin/clock', async () => ({ now: admin.now().toISOString() }));

  app.post('/admin/clock/advance', async (request, reply) => {
    const seconds = (request.body as { seconds?: unknown } | undefined)?.seconds;
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0 || seconds > 315_360_000) {
      return adminError(reply, 400, 'seconds must be a number from 0 to 315360000');
    }
    return { now: admin.advanceClock(seconds).toISOString() };
  });

  app.get('/admin/faults', async () => ({ faults: admin.faults() }));

  app.post('/admin/faults', async (request, reply) => {
    try {
      return reply.code(201).send(admin.addFault(request.body as never));
    } catch (error) {
      if (error instanceof FaultInputError) return adminError(reply, 400, error.message);
      throw error;
    }
  });

  app.delete('/admin/faults/:id', async (request, reply) => {
    const removed = admin.removeFault((request.params as { id: string }).id);
    return removed ? reply.code(204).send() : adminError(reply, 404, 'no such fault rule');
  });

  app.delete('/admin/faults', async (request, reply) => {
    const provider = (request.query as { provider?: string }).provider;
    if (provider !== undefined && !isProvider(provider)) return adminError(reply, 400, 'unknown provider');
    admin.clearFaults(provider);
    return reply.code(204).send();
  });

  app.get('/admin/requests', async (request) => {
    const query = request.query as { provider?: string; idempotency_key?: string };
    return {
      requests: admin.requests({ provider: providerParam(query.provider), idempotency_key: query.idempotency_key }),
    };
  });

  app.get('/admin/webhooks', async (request) => {
    const query = request.query as { provider?: string; event_id?: string };
    const filter: { provider?: Provider; event_id?: string } = {};
    const provider = providerParam(query.provider);
    if (provider) filter.provider = provider;
    if (query.event_id) filter.event_id = query.event_id;
    return { webhooks: admin.webhooks(filter), idle: admin.webhooksIdle() };
  });

  app.post('/admin/webhooks/flush', async (request) => {
    admin.flushWebhooks(providerParam((request.body as { provider?: string } | undefined)?.provider));
    return { ok: true };
  });

  app.get('/admin/webhook-targets', async () => ({ targets: admin.webhookTargets() }));

  app.put('/admin/webhook-targets/:provider', async (request, reply) => {
    const provider = providerParam((request.params as { provider: string }).provider);
    if (!provider) return adminError(reply, 404, 'unknown provider');
    const url = (request.body as { url?: unknown } | undefined)?.url;
    if (typeof url !== 'string' || !URL.canParse(url)) return adminError(reply, 400, 'url must be an absolute URL');
    admin.setWebhookTarget(provider, url);
    return { targets: admin.webhookTargets() };
  });

  app.delete('/admin/webhook-targets/:provider', async (request, reply) => {
    const provider = providerParam((request.params as { provider: string }).provider);
    if (!provider) return adminError(reply, 404, 'unknown provider');
    admin.setWebhookTarget(provider, null);
    return reply.code(204).send();
  });
}
