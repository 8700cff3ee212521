import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AfterWork } from '../faults/hook.ts';
import { strike } from '../faults/strike.ts';
import { type Dialect, type ProviderAnswer, ProviderError } from './dialect.ts';
import { requestFingerprint } from './fingerprint.ts';
import type { IdempotencyStore } from './idempotency.ts';
import type { RequestLog } from './request-log.ts';

/** A handler's answer; `createdId` marks the resource the request created (for the request log). */
export interface HandlerAnswer extends ProviderAnswer {
  createdId?: string;
}

export type Handler = (request: FastifyRequest) => HandlerAnswer | Promise<HandlerAnswer>;

/** What every provider endpoint shares: idempotency, the request log and after-the-work faults. */
export interface EndpointKit {
  idempotency: IdempotencyStore;
  log: RequestLog;
  /** Faults planned to strike after the work, if any. */
  faultAfterWork(raw: IncomingMessage): AfterWork | undefined;
  onError(error: unknown): void;
}

export interface EndpointOptions {
  /** API endpoints need the provider's API key header; hosted pages (browser forms) do not. */
  auth?: boolean;
  /** Honour the provider's idempotency header (POST API endpoints). */
  idempotent?: boolean;
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.trim();
}

/** The idempotency key a request carries in the provider's header, if any. */
export function idempotencyKeyOf(request: FastifyRequest, dialect: Dialect): string | null {
  return headerValue(request, dialect.idempotencyHeader) || null;
}

/** A provider slow to finish: the work is done, the idempotency key is still "in progress". */
async function slowFinish(after: AfterWork | undefined): Promise<void> {
  if (after && after.latencyMs > 0) await sleep(after.latencyMs, undefined, { signal: after.closing });
}

async function run(handler: Handler, request: FastifyRequest, dialect: Dialect, kit: EndpointKit) {
  try {
    return await handler(request);
  } catch (error) {
    if (error instanceof ProviderError) return error.answer;
    kit.onError(error);
    return dialect.error('internal', 'Internal error').answer;
  }
}

/**
 * Wraps a provider handler in what a real provider does around its business logic:
 * authentication, idempotency (replay, conflict, in-progress), and — for fault
 * injection — breaking the answer after the work was done.
 */
export function endpoint(kit: EndpointKit, dialect: Dialect, handler: Handler, options: EndpointOptions = {}) {
  const { auth = true, idempotent = false } = options;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const entry = kit.log.of(request.raw);
    let answer: HandlerAnswer;
    const apiKey = headerValue(request, dialect.apiKeyHeader);
    const key = idempotent ? headerValue(request, dialect.idempotencyHeader) : undefined;
    if (auth && !(apiKey && dialect.apiKeyOf(apiKey))) {
      answer = dialect.error('unauthorized', `Missing API key header ${dialect.apiKeyHeader}`).answer;
    } else if (key) {
      if (entry) entry.idempotency_key = key;
      const fingerprint = requestFingerprint(request.method, request.url, request.body);
      const claim = kit.idempotency.claim(dialect.provider, key, fingerprint);
      if (claim.kind === 'replay') {
        if (entry) entry.replayed = true;
        answer = { ...claim.answer, headers: { ...claim.answer.headers, 'idempotent-replayed': 'true' } };
      } else if (claim.kind === 'conflict') {
        answer = dialect.error('idempotency_conflict', 'Idempotency key reused with a different request').answer;
      } else if (claim.kind === 'in_progress') {
        answer = dialect.error('idempotency_in_progress', 'A request with this idempotency key is in progress').answer;
      } else {
        answer = await run(handler, request, dialect, kit);
        await slowFinish(kit.faultAfterWork(request.raw));
        if (answer.status >= 500) kit.idempotency.release(dialect.provider, key);
        else {
          const { createdId: _created, ...stored } = answer;
          kit.idempotency.complete(dialect.provider, key, fingerprint, stored);
        }
      }
    } else {
      answer = await run(handler, request, dialect, kit);
      await slowFinish(kit.faultAfterWork(request.raw));
    }
    if (entry && answer.createdId) entry.created_id = answer.createdId;

    const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    const contentType =
      typeof answer.body === 'string' ? answer.headers?.['content-type'] : 'application/json; charset=utf-8';
    const fault = kit.faultAfterWork(request.raw)?.rule;
    if (fault) return strike(fault, request, reply, dialect, { body, contentType });
    reply.code(answer.status).headers(answer.headers ?? {});
    if (contentType) reply.header('content-type', contentType);
    return reply.send(body);
  };
}

/** A route's path parameter (the route guarantees it is there). */
export function paramOf(request: FastifyRequest, name: string): string {
  return (request.params as Record<string, string>)[name]!;
}

/** How a GET finds its resource: by which path parameter, and what to say when there is none. */
export interface Retrieval<T> {
  path: string;
  param: string;
  find: (value: string) => T | undefined;
  missing: string;
}

/**
 * GETs of one resource found by a path parameter — its id, the merchant's reference,
 * the create call's idempotency key — all answering the same way, or with the
 * dialect's `not_found` when there is none.
 */
export function retrievalRoutes<T>(
  app: FastifyInstance,
  kit: EndpointKit,
  dialect: Dialect,
  routes: readonly Retrieval<T>[],
  answer: (found: T) => HandlerAnswer,
): void {
  for (const route of routes) {
    app.get(
      route.path,
      endpoint(kit, dialect, (request) => {
        const found = route.find(paramOf(request, route.param));
        if (!found) throw dialect.error('not_found', route.missing);
        return answer(found);
      }),
    );
  }
}
