import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { SimulatedClock } from '../clock.ts';
import type { Dialect } from '../http/dialect.ts';
import type { RequestLog } from '../http/request-log.ts';
import { type Provider, providerOfPath } from '../providers.ts';
import type { FaultBook } from './fault-book.ts';
import type { FaultRule } from './rules.ts';
import { resetConnection, strike } from './strike.ts';

/** Faults that strike once the provider has done the work (money moved). */
export interface AfterWork {
  rule: FaultRule | undefined;
  latencyMs: number;
  closing: AbortSignal;
}

/**
 * Every provider request passes here first: it is logged, delayed, and — when a
 * fault rule says so — broken before the provider sees it. Faults meant to strike
 * after the work are remembered for the endpoint to apply.
 */
export function installFaultHook(
  app: FastifyInstance,
  deps: {
    book: FaultBook;
    log: RequestLog;
    clock: SimulatedClock;
    dialects: Record<Provider, Dialect>;
    closing: AbortSignal;
  },
): (raw: IncomingMessage) => AfterWork | undefined {
  const afterWork = new WeakMap<IncomingMessage, AfterWork>();

  app.addHook('onRequest', async (request, reply) => {
    const provider = providerOfPath(request.url);
    if (!provider) return;
    const entry = deps.log.open(request.raw, provider, deps.clock.now().toISOString());
    const plan = deps.book.planRequest(provider, request.method, request.url.split('?')[0]!);
    entry.faults = plan.kinds;
    if (plan.latencyMs > 0) await sleep(plan.latencyMs, undefined, { signal: deps.closing });
    const dialect = deps.dialects[provider];
    if (plan.outage) {
      if (plan.outage.mode === 'reset') {
        resetConnection(request, reply);
        return reply;
      }
      const error = dialect.error('unavailable', 'Service unavailable (simulated outage)');
      return reply
        .code(503)
        .headers({ ...error.answer.headers, 'retry-after': String(plan.outage.retryAfterSeconds) })
        .send(error.answer.body);
    }
    if (plan.breaking?.phase === 'before') return strike(plan.breaking, request, reply, dialect);
    if (plan.breaking || plan.latencyAfterWorkMs > 0) {
      afterWork.set(request.raw, { rule: plan.breaking, latencyMs: plan.latencyAfterWorkMs, closing: deps.closing });
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    const entry = deps.log.of(request.raw);
    if (entry) entry.status = reply.statusCode;
  });

  return (raw) => afterWork.get(raw);
}
