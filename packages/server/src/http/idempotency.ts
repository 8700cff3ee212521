import { type IdempotencyKeys, requestFingerprint, type StoredResponse } from '@rampart/core';
import { catalog, type ErrorCode } from '@rampart/errors';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { onPostRoutes } from './post-hooks.ts';

declare module 'fastify' {
  interface FastifyRequest {
    idempotency: {
      principal: string;
      key: string;
      /** An earlier request with this key ended unanswered (a 5xx, or its server died): see `Claim`. */
      takenOver: boolean;
      /** Renews the lease while this request runs. */
      renewal: NodeJS.Timeout;
    } | null;
  }
}

/**
 * `Idempotency-Key` on POST routes of the plugin it is added to (added before its routes). Runs after
 * authentication and validation (preHandler), so only requests that would execute
 * claim a key. A 5xx releases the claim: the client is told to retry, and the retry
 * must be able to run. So does an error that asks for the same request again later
 * (`payment_in_progress`, `rate_limited`…: nothing was done); any other answer is
 * stored and replayed. Handlers that move money also record the key in their own
 * transaction, so even a crash between commit and this bookkeeping cannot apply a
 * retry twice.
 *
 * A claim is a lease, renewed every third of its length while its request runs: a
 * slow request keeps its key, and a request whose process died frees it within one
 * lease for the client's retry, which then finishes what the dead one began.
 */
/**
 * The request a stored error answer came from, as its body names it. The body is replayed
 * byte for byte, so it keeps that request's id; the replay has its own (`X-Request-Id`),
 * and says which request it replays, as Stripe's `Original-Request` does.
 */
function originalRequestOf(response: StoredResponse): string | undefined {
  if (response.status < 400) return undefined;
  try {
    const id = (JSON.parse(response.body) as { error?: { request_id?: unknown } }).error?.request_id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** An error whose action is to send the same request again later, with the same key: it did nothing. */
function asksForRetry(code: ErrorCode | null): boolean {
  if (code === null) return false;
  const { action } = catalog[code];
  return action === 'retry_with_backoff' || action === 'retry_after';
}

export function idempotentPosts(
  app: FastifyInstance,
  keys: IdempotencyKeys,
  principalOf: (request: FastifyRequest) => string,
): void {
  app.decorateRequest('idempotency', null);

  onPostRoutes(app, {
    preHandler: async (request: FastifyRequest, reply: FastifyReply) => {
      const header = request.headers['idempotency-key'];
      if (header === undefined) return;
      const key = Array.isArray(header) ? header.join(',') : header;
      const principal = principalOf(request);
      const path = request.routeOptions.url ?? request.url;
      const fingerprint = requestFingerprint(request.method, `${path} ${JSON.stringify(request.params)}`, request.body);
      const claim = await keys.claim(principal, key, fingerprint);
      if (claim.kind === 'replay') {
        const original = originalRequestOf(claim.response);
        if (original) reply.header('original-request-id', original);
        return reply
          .code(claim.response.status)
          .header('idempotent-replayed', 'true')
          .type(claim.response.contentType || 'application/json; charset=utf-8')
          .send(claim.response.body);
      }
      const renewal = setInterval(
        () =>
          void keys
            .renew(principal, key)
            .catch((error: unknown) => request.log.warn({ err: error }, 'idempotency lease not renewed')),
        (keys.leaseSeconds * 1000) / 3,
      );
      renewal.unref();
      request.idempotency = { principal, key, takenOver: claim.takenOver, renewal };
    },
    onSend: async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      const claim = request.idempotency;
      if (!claim) return payload;
      request.idempotency = null;
      clearInterval(claim.renewal);
      if (reply.statusCode >= 500 || asksForRetry(request.errorCode)) {
        await keys.release(claim.principal, claim.key);
      } else {
        await keys.complete(claim.principal, claim.key, {
          status: reply.statusCode,
          body:
            typeof payload === 'string' ? payload : payload === null || payload === undefined ? '' : String(payload),
          contentType: String(reply.getHeader('content-type') ?? ''),
        });
      }
      return payload;
    },
  });
}
