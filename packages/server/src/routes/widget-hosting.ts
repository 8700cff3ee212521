import { RampartError } from '@rampart/errors';
import { launchPage, widgetAssets } from '@rampart/widget';
import type { FastifyInstance } from 'fastify';
import { idParam } from './schemas.ts';

const ASSETS_PATH = '/widget/v1/assets/';
/** Bounds of the launch page's deadlines (`sdk_timeout_ms`, `api_timeout_ms`); both default to 15 s. */
const TIMEOUT_MS = { min: 100, max: 60_000 };

const timeoutQuery = (what: string) => ({
  type: 'string',
  pattern: '^[0-9]{1,6}$',
  description: `How long ${what} may take, ${TIMEOUT_MS.min} to ${TIMEOUT_MS.max} ms; default 15000.`,
});

/** A deadline from the query, checked against `TIMEOUT_MS`; undefined when not given. */
function timeoutFrom(field: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const ms = Number(raw);
  if (ms < TIMEOUT_MS.min || ms > TIMEOUT_MS.max)
    throw new RampartError('invalid_value', {
      field,
      provided: raw,
      expected: `${TIMEOUT_MS.min} to ${TIMEOUT_MS.max}`,
    });
  return ms;
}

export interface WidgetHostingDeps {
  /** Base URL of each provider's browser SDK, by provider id; functions, as they may be known only after start-up. */
  sdkBaseUrls: Readonly<Record<string, () => string>>;
}

/**
 * Rampart's hosted widget pages and the browser files they load (packages/widget),
 * served as they are on disk: the files are plain ES modules, so no build step.
 */
export function widgetHostingRoutes(app: FastifyInstance, deps: WidgetHostingDeps): void {
  for (const [name, asset] of widgetAssets()) {
    app.get(`${ASSETS_PATH}${name}`, { schema: { hide: true } }, async (_request, reply) =>
      reply
        .headers({
          'content-type': asset.contentType,
          'x-content-type-options': 'nosniff',
          'cache-control': 'no-cache',
        })
        .send(asset.body),
    );
  }

  app.get<{ Params: { id: string }; Querystring: { sdk_timeout_ms?: string; api_timeout_ms?: string } }>(
    '/widget/v1/launch/:id',
    {
      schema: {
        tags: ['widget'],
        summary: 'Hosted page that opens a pending payment’s provider flow (pay-by-bank lightbox)',
        description:
          'Embed it in an iframe as `/widget/v1/launch/{payment_id}#token=<widget token>`: the token stays in the ' +
          'fragment, which reaches no server. Events reach the host page by postMessage (packages/widget README); ' +
          'a provider SDK that cannot load is `provider_load_failed`; a widget API that does not answer in time is ' +
          '`client_timeout`, one that cannot be reached `network_error`.',
        params: idParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            sdk_timeout_ms: timeoutQuery('the provider SDK'),
            api_timeout_ms: timeoutQuery('each widget API call'),
          },
        },
      },
    },
    async (request, reply) => {
      const sdkTimeoutMs = timeoutFrom('sdk_timeout_ms', request.query.sdk_timeout_ms);
      const apiTimeoutMs = timeoutFrom('api_timeout_ms', request.query.api_timeout_ms);
      const page = launchPage({
        assetsPath: ASSETS_PATH,
        paymentId: request.params.id,
        sdkBaseUrls: Object.fromEntries(Object.entries(deps.sdkBaseUrls).map(([provider, url]) => [provider, url()])),
        ...(sdkTimeoutMs === undefined ? {} : { sdkTimeoutMs }),
        ...(apiTimeoutMs === undefined ? {} : { apiTimeoutMs }),
      });
      return reply
        .headers({
          'content-security-policy': page.contentSecurityPolicy,
          'referrer-policy': 'no-referrer',
          'x-content-type-options': 'nosniff',
          'cache-control': 'no-store',
        })
        .type('text/html; charset=utf-8')
        .send(page.html);
    },
  );
}
