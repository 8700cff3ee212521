import type { ProviderEvents, WebhookSource } from '@rampart/core';
import { isRampartError, RampartError } from '@rampart/errors';
import type { FastifyInstance } from 'fastify';
import { unstorableInput } from '../http/input-guard.ts';
import type { RateLimiter } from '../http/rate-limit.ts';

/** Answers that say the sender could not prove it is the provider. */
const UNAUTHENTICATED = ['missing_token', 'invalid_token'];

/**
 * Inbound provider webhooks: signature checked over the raw body, the event recorded
 * durably (deduplicated), and only then a 2xx. If it cannot be recorded the answer is
 * `event_publish_failed` (503) so the provider redelivers; processing happens after
 * the answer, and again from the background job until applied.
 *
 * A source address whose webhooks keep failing authentication (`failures` per minute)
 * is refused with `rate_limited` until its bucket refills, before any signature is
 * checked: guessing costs the guesser. Authentic webhooks never use up the bucket, and a
 * provider told 429 redelivers.
 */
export async function providerWebhookRoutes(
  app: FastifyInstance,
  deps: {
    sources: readonly WebhookSource[];
    events: ProviderEvents;
    onRecorded: () => void;
    failures: RateLimiter;
  },
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
        deps.failures.check(request.ip);
        let notice: ReturnType<WebhookSource['readWebhook']>;
        try {
          notice = source.readWebhook(request.headers, typeof request.body === 'string' ? request.body : '');
        } catch (error) {
          if (isRampartError(error) && UNAUTHENTICATED.includes(error.code)) deps.failures.spend(request.ip);
          throw error;
        }
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
