import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { catalogEntries } from '@rampart/errors';
import { openApiWebhooks } from '@rampart/webhooks';
import type { FastifyInstance } from 'fastify';

type Json = Record<string, unknown>;

/** The envelope every error response has; `code` is the closed set of the catalog. */
export function errorEnvelopeSchema(): Json {
  return {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message', 'type', 'retryable', 'details', 'request_id', 'doc_url'],
        properties: {
          code: { type: 'string', enum: catalogEntries.filter((e) => e.surface === 'server').map((e) => e.code) },
          message: { type: 'string', description: 'For humans; may change. Branch on `code`.' },
          type: { type: 'string' },
          retryable: { type: 'boolean' },
          details: { type: 'object', additionalProperties: true },
          request_id: { type: 'string' },
          doc_url: { type: 'string', format: 'uri' },
        },
      },
    },
  };
}

/** Every catalog entry, so generated clients know status, retryability and action per code. */
function errorCatalogExtension(): Json[] {
  return catalogEntries.map((e) => ({
    code: e.code,
    status: e.status,
    type: e.type,
    retryable: e.retryable,
    action: e.action,
    surface: e.surface,
    description: e.description,
  }));
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Rampart API',
        version: '1.0.0',
        description:
          'Self-hostable payments cashier. Every error has the same envelope; `error.code` is stable forever. ' +
          'Every response carries `X-Request-Id`.',
      },
      components: {
        securitySchemes: {
          secretKey: { type: 'http', scheme: 'bearer', description: 'Operator secret key `rk_test_…` / `rk_live_…`' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json['$id'] ?? `def-${i}`) },
    transformObject: (documentObject) => {
      const document = (documentObject as unknown as { openapiObject: Json }).openapiObject as Json & {
        components?: Json;
        paths?: Record<string, Record<string, Json>>;
      };
      document.components ??= {};
      const components = document.components as Json & { schemas?: Json; responses?: Json };
      components.schemas = { ...(components.schemas ?? {}), ErrorEnvelope: errorEnvelopeSchema() };
      components.responses = {
        Error: {
          description: 'A catalog error',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } },
        },
      };
      for (const [path, item] of Object.entries(document.paths ?? {})) {
        for (const method of HTTP_METHODS) {
          const operation = item[method] as (Json & { responses?: Json }) | undefined;
          if (!operation) continue;
          operation.responses = {
            ...(operation.responses ?? {}),
            '4XX': { $ref: '#/components/responses/Error' },
            '5XX': { $ref: '#/components/responses/Error' },
          };
          if (path.startsWith('/v1/')) operation['security'] = [{ secretKey: [] }];
        }
      }
      document['x-rampart-errors'] = errorCatalogExtension();
      // Every event type as Rampart POSTs it to webhook endpoints (OpenAPI 3.1 `webhooks`).
      document['webhooks'] = openApiWebhooks();
      return document;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
