import type { OperatorPrincipal, Operators } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RateLimiter } from './rate-limit.ts';

declare module 'fastify' {
  interface FastifyRequest {
    operator: OperatorPrincipal;
  }
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The bearer token of a request; a header that is not a bearer token reads as an invalid one. */
export function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  // A header that is present but not a bearer token is an invalid credential, not a missing one.
  return match ? match[1] : header.trim() ? '!' : undefined;
}

/**
 * Partner API authentication for every route of the encapsulated plugin it is added
 * to: secret key, allowlists, rate limit, and key scope (read-only keys may only read).
 */
export function requireOperator(app: FastifyInstance, operators: Operators, limiter: RateLimiter): void {
  app.decorateRequest('operator', null as unknown as OperatorPrincipal);
  app.addHook('onRequest', async (request) => {
    const principal = await operators.authenticate(bearer(request), {
      ip: request.ip,
      origin: request.headers.origin,
    });
    limiter.take(principal.keyId);
    if (principal.scope === 'read_only' && !READ_METHODS.has(request.method)) {
      throw new RampartError('insufficient_scope', { required_scope: 'full', key_scope: principal.scope });
    }
    request.operator = principal;
  });
}
