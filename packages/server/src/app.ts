import { type Clock, type Database, IdempotencyKeys, type IdGenerator, Operators } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import { requireOperator } from './http/auth.ts';
import { installErrorHandling } from './http/errors.ts';
import { idempotentPosts } from './http/idempotency.ts';
import { RateLimiter } from './http/rate-limit.ts';
import { requestIdFor } from './http/request-id.ts';
import { registerOpenApi } from './openapi.ts';
import { healthRoutes } from './routes/health.ts';
import { operatorRoutes } from './routes/operator.ts';
import { apiKeySchema, issuedKeySchema, operatorSchema } from './routes/schemas.ts';

export interface AppDependencies {
  config: Config;
  db: Database;
  clock: Clock;
  ids: IdGenerator;
  /** Where JSON logs go; tests pass a stream to inspect them. */
  logStream?: NodeJS.WritableStream;
}

/** The HTTP application, with everything injected; `main.ts` wires the real things. */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config, db, clock, ids } = deps;
  const app = Fastify({
    logger: {
      level: config.logLevel,
      ...(deps.logStream ? { stream: deps.logStream } : {}),
      // Credentials never reach the logs, whatever a serializer is later changed to print.
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    genReqId: requestIdFor,
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    bodyLimit: config.bodyLimitBytes,
    // Our own hook answers during shutdown, in the catalog's envelope.
    return503OnClosing: false,
    ajv: { customOptions: { allErrors: true, coerceTypes: false, removeAdditional: false } },
  });

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (closing) {
      reply.header('connection', 'close');
      throw new RampartError('service_unavailable', { reason: 'shutting down' });
    }
  });
  // JSON only: any other body type is refused with a catalog error, never half-parsed.
  app.removeContentTypeParser('text/plain');

  installErrorHandling(app);
  app.addSchema(apiKeySchema);
  app.addSchema(issuedKeySchema);
  app.addSchema(operatorSchema);
  await registerOpenApi(app);

  const operators = new Operators(db, ids, clock);
  const limiter = new RateLimiter(config.rateLimitPerMinute);
  const idempotencyKeys = new IdempotencyKeys(db, clock);

  healthRoutes(app, db);
  await app.register(async (partner) => {
    requireOperator(partner, operators, limiter);
    idempotentPosts(partner, idempotencyKeys, (request) => `${request.operator.operatorId}:${request.operator.mode}`);
    operatorRoutes(partner, operators, clock, config.keyRotationOverlapSeconds);
  });

  return app;
}
