import { RampartError } from '@rampart/errors';
import { launchPage, widgetAssets } from '@rampart/widget';
import type { FastifyInstance } from 'fastify';
import { idParam } from './schemas.ts';

const ASSETS_PATH = '/widget/v1/assets/';
const SDK_TIMEOUT_MS = { min: 100, max: 60_000 };

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

  app.get<{ Params: { id: string }; Querystring: { sdk_timeout_ms?: string } }>(
    '/widget/v1/launch/:id',
    {
      schema: {
        tags: ['widget'],
        summary: 'Hosted page that opens a pending payment’s provider flow (pay-by-bank lightbox)',
        description:
          'Embed it in an iframe as `/widget/v1/launch/{payment_id}#token=<widget token>`: the token stays in the ' +
          'fragment, which reaches no server. Events reach the host page by postMessage (packages/widget README); ' +
          'a provider SDK that cannot load is `provider_load_failed`.',
        params: idParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            sdk_timeout_ms: {
              type: 'string',
              pattern: '^[0-9]{1,6}$',
              description: `How long the provider SDK may take to load, ${SDK_TIMEOUT_MS.min} to ${SDK_TIMEOUT_MS.max}; default 15000.`,
            },
          },
        },
      },
    },
    async (request, reply) => {
      const raw = request.query.sdk_timeout_ms;
      const sdkTimeoutMs = raw === undefined ? undefined : Number(raw);
      if (sdkTimeoutMs !== undefined && (sdkTimeoutMs < SDK_TIMEOUT_MS.min || sdkTimeoutMs > SDK_TIMEOUT_MS.max)) {
        throw new RampartError('invalid_value', {
          field: 'sdk_timeout_ms',
          provided: raw,
          expected: `${SDK_TIMEOUT_MS.min} to ${SDK_TIMEOUT_MS.max}`,
        });
      }
      const page = launchPage({
        assetsPath: ASSETS_PATH,
        paymentId: request.params.id,
        sdkBaseUrls: Object.fromEntries(Object.entries(deps.sdkBaseUrls).map(([provider, url]) => [provider, url()])),
        ...(sdkTimeoutMs === undefined ? {} : { sdkTimeoutMs }),
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
