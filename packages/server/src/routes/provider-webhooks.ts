import type { ProviderEvents, WebhookSource } from '@rampart/core';
import { isRampartError, RampartError } from '@rampart/errors';
import type { FastifyInstance } from 'fastify';
import { unstorableInput } from '../http/input-guard.ts';

/**
 * Inbound provider webhooks: signature checked over the raw body, the event recorded
 * durably (deduplicated), and only then a 2xx. If it cannot be recorded the answer is
 * `event_publish_failed` (503) so the provider redelivers; processing happens after
 * the answer, and again from the background job until applied.
 */
export async function providerWebhookRoutes(
  app: FastifyInstance,
  deps: { sources: readonly WebhookSource[]; events: ProviderEvents; onRecorded: () => void },
): Promise<void> {
  const sources = new Map(deps.sources.map((s) => [s.id, s]));
  await app.register(async (scope) => {
    // The signature covers the exact bytes: keep the body as text.
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));

    scope.post<{ Params: { provider: string }; Body: string }>(
      '/v1/provider-webhooks/:provider',
      {
        schema: {
          tags: ['providers'],
          summary: 'Where payment and KYC providers send their webhooks',
          params: {
            type: 'object',
            required: ['provider'],
            properties: { provider: { type: 'string', maxLength: 32 } },
          },
        },
      },
      async (request, reply) => {
        const source = sources.get(request.params.provider);
        if (!source)
          throw new RampartError('resource_not_found', { resource: 'provider', id: request.params.provider });
        const notice = source.readWebhook(request.headers, typeof request.body === 'string' ? request.body : '');
        // What can never be recorded is the sender's fault, not an outage: no redelivery will help.
        const issues = unstorableInput(notice);
        if (issues.length > 0) throw new RampartError('validation_error', { issues });
        let recorded: Awaited<ReturnType<ProviderEvents['record']>>;
        try {
          recorded = await deps.events.record(source.id, notice);
        } catch (error) {
          if (isRampartError(error)) throw error;
          throw new RampartError('event_publish_failed', { provider: source.id }, { cause: error });
        }
        if (recorded === 'recorded') deps.onRecorded();
        return reply.code(200).send({ received: true, duplicate: recorded === 'duplicate' });
      },
    );
  });
}
