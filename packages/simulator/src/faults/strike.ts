import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Dialect } from '../http/dialect.ts';
import type { FaultRule } from './rules.ts';

/** What a misbehaving proxy in front of a provider answers: HTML, not JSON. */
const PROXY_ERROR_HTML =
  '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n';

/** Drops the connection with no answer: the client sees a socket error (ECONNRESET / "fetch failed"). */
export function resetConnection(request: FastifyRequest, reply: FastifyReply): void {
  reply.hijack();
  request.raw.socket.destroy();
}

/**
 * Accepts the request and never answers: the client's own timeout is what ends it.
 * Bounded: after `holdMs` the connection is dropped so nothing is held forever.
 */
export function holdConnection(request: FastifyRequest, reply: FastifyReply, holdMs: number): void {
  reply.hijack();
  const socket = request.raw.socket;
  const timer = setTimeout(() => socket.destroy(), holdMs);
  socket.once('close', () => clearTimeout(timer));
}

/** The answer the provider would have sent, when a fault strikes after the work. */
export interface RealAnswer {
  body: string;
  contentType?: string | undefined;
}

/**
 * An unparseable 200: HTML from a proxy, or an answer cut in half. A strict prefix of a
 * JSON object is never valid JSON, so `JSON.parse` always fails on it. Cut after the
 * work, the real answer keeps its content type: a script cut in half is still served
 * as JavaScript (as a CDN that dropped the connection would), so a browser runs it and
 * it fails part-way instead of being refused outright.
 */
export function garbage(kind: 'html' | 'truncated_json', real?: RealAnswer): { contentType: string; body: string } {
  if (kind === 'html') return { contentType: 'text/html; charset=utf-8', body: PROXY_ERROR_HTML };
  const cut = real && real.body.length > 2 ? real : undefined;
  const source = cut?.body ?? '{"status":"ok","data":{"id":"';
  const contentType = cut?.contentType ?? 'application/json';
  return { contentType, body: source.slice(0, Math.max(1, Math.floor(source.length / 2))) };
}

/**
 * Answers (or refuses to answer) with a breaking fault. `real` is the answer the
 * provider would have sent, when the fault strikes after the work was done.
 */
export function strike(
  rule: FaultRule,
  request: FastifyRequest,
  reply: FastifyReply,
  dialect: Dialect,
  real?: RealAnswer,
): FastifyReply {
  switch (rule.kind) {
    case 'timeout':
      holdConnection(request, reply, rule.hold_ms!);
      return reply;
    case 'reset':
      resetConnection(request, reply);
      return reply;
    case 'garbage': {
      const { contentType, body } = garbage(rule.body!, real);
      return reply.code(200).header('content-type', contentType).send(body);
    }
    default: {
      const status = rule.status ?? 500;
      const error = dialect.error(status === 503 ? 'unavailable' : 'internal', 'Simulated provider failure', {
        status,
      });
      return reply
        .code(status)
        .headers(error.answer.headers ?? {})
        .send(error.answer.body);
    }
  }
}
