import { type ErrorCode, isRampartError, RampartError, toHttp } from '@rampart/errors';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import FindMyWay from 'find-my-way';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

declare module 'fastify' {
  interface FastifyRequest {
    /** The catalog code this request was answered with, once it was answered with an error. */
    errorCode: ErrorCode | null;
  }
}

interface ValidationIssue {
  field: string;
  message: string;
}

/** Turns `/body/amount` or `body.amount` and the missing (or unexpected) property into `amount`. */
function fieldOf(
  issue: { instancePath?: string; params?: Record<string, unknown> },
  context: string | undefined,
): string {
  const path = (issue.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
  const named = issue.params?.['missingProperty'] ?? issue.params?.['additionalProperty'];
  const field = [path, typeof named === 'string' ? named : ''].filter(Boolean).join('.');
  return field || context || 'body';
}

/**
 * PostgreSQL's answers to a transaction that collided with another: a deadlock it broke
 * (40P01), a serialization failure (40001), a lock not available in time (55P03). The
 * transaction was rolled back whole; what the client needs is to try again.
 */
const CONCURRENCY_FAILURES = new Set(['40P01', '40001', '55P03']);

/**
 * The framework's own failures, translated into catalog errors. Anything not listed
 * here that carries a 4xx from the framework is still a client error, never a 500.
 */
export function translateFrameworkError(error: FastifyError): RampartError {
  if (error.validation) {
    const issues: ValidationIssue[] = error.validation.map((issue) => ({
      field: fieldOf(issue, error.validationContext),
      message: issue.message ?? 'is invalid',
    }));
    const missing = error.validation.find((issue) => issue.keyword === 'required');
    if (missing) {
      return new RampartError('missing_parameter', { field: fieldOf(missing, error.validationContext), issues });
    }
    return new RampartError('validation_error', { issues });
  }
  const byCode: Record<string, () => RampartError> = {
    FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new RampartError('unsupported_media_type', { content_type: error.message }),
    FST_ERR_CTP_BODY_TOO_LARGE: () => new RampartError('body_too_large', {}),
    FST_ERR_CTP_EMPTY_JSON_BODY: () => new RampartError('body_undecodable', { reason: 'empty JSON body' }),
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: () =>
      new RampartError('body_undecodable', { reason: 'content length mismatch' }),
  };
  const translate = error.code ? byCode[error.code] : undefined;
  if (translate) return translate();
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new RampartError('body_undecodable', { reason: 'body is not valid JSON' });
  }
  if (CONCURRENCY_FAILURES.has(String(error.code)))
    return new RampartError('concurrent_conflict', {}, { cause: error });
  const status = error.statusCode ?? 500;
  if (status === 415) return new RampartError('unsupported_media_type', {});
  if (status === 413) return new RampartError('body_too_large', {});
  if (status >= 400 && status < 500) return new RampartError('validation_error', { issues: [] }, { cause: error });
  return new RampartError('internal_error', {}, { cause: error });
}

function send(reply: FastifyReply, request: FastifyRequest, error: RampartError): FastifyReply {
  const http = toHttp(error, request.id);
  request.errorCode = error.code;
  if (http.status >= 500) {
    // Where it happened and why, for the operator's logs; the client sees only the code.
    request.log.error({ err: error.cause ?? error, code: error.code }, 'request failed');
  } else {
    request.log.info({ code: error.code, status: http.status }, 'request rejected');
  }
  return reply.code(http.status).headers(http.headers).type('application/json; charset=utf-8').send(http.body);
}

/**
 * Fastify's `frameworkErrors`: what the router meets before any route or hook runs — a
 * path segment over the router's length limit, or one that is not valid URL encoding.
 * Malformed input like any other, answered in the catalog's envelope.
 */
export function answerRouterError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id);
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'has a segment longer than 100 characters'
      : 'is not valid URL encoding';
  void send(reply, request, new RampartError('validation_error', { issues: [{ field: 'path', message }] }));
}

export function installErrorHandling(app: FastifyInstance): void {
  app.decorateRequest('errorCode', null);
  // A second router that only knows which paths exist, to tell 404 from 405.
  const known = FindMyWay();
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD') continue;
      try {
        known.on(method as 'GET', route.url, () => {});
      } catch {
        // Same route registered twice (e.g. with and without trailing slash): already known.
      }
    }
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const rampart = isRampartError(error) ? error : translateFrameworkError(error);
    return send(reply, request, rampart);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = METHODS.filter((method) => known.find(method, path) !== null);
    const code: ErrorCode = allowed.length > 0 ? 'method_not_allowed' : 'route_not_found';
    if (allowed.length > 0) reply.header('allow', allowed.join(', '));
    return send(
      reply,
      request,
      new RampartError(code, { method: request.method, path, ...(allowed.length ? { allowed } : {}) }),
    );
  });
}
