import type { FastifyInstance } from 'fastify';
import { adminError } from '../admin/routes.ts';
import { DISPUTE_DECISIONS, DISPUTE_REASONS, isDisputeDecision, isDisputeReason } from './disputes.ts';
import { serializeCardPayment } from './payments.ts';
import { type CardsProcessor, paramOf } from './request.ts';

/**
 * Admin shortcuts: a cardholder disputes a card payment now, and the network decides
 * the dispute now — any payment, not only the magic dispute cards'. Both answer the payment.
 */
export function registerDisputeAdmin(app: FastifyInstance, processor: CardsProcessor): void {
  const { context, payments } = processor;
  app.post('/admin/cards/payments/:id/dispute', async (request, reply) => {
    const payment = payments.get(paramOf(request, 'id'));
    if (!payment) return adminError(reply, 404, 'no such payment');
    const body = request.body as { reason?: unknown; amount?: unknown } | undefined;
    const reason = body?.reason ?? 'fraudulent';
    if (!isDisputeReason(reason)) return adminError(reply, 400, `reason must be one of ${DISPUTE_REASONS.join(', ')}`);
    const amount = body?.amount;
    if (amount !== undefined && (!Number.isSafeInteger(amount) || (amount as number) <= 0))
      return adminError(reply, 400, 'amount must be a positive integer of minor units');
    if (payment.dispute) return adminError(reply, 409, `payment is already disputed (${payment.dispute.status})`);
    if (!payments.openDispute(payment, reason, context.clock.nowMs(), amount as number | undefined)) {
      const left = payment.amountCaptured - payment.amountRefunded;
      const why =
        payment.status !== 'succeeded'
          ? `payment is ${payment.status}; only a succeeded payment can be disputed`
          : left <= 0
            ? 'payment is fully refunded: nothing is left to dispute'
            : `amount is more than the ${left} not refunded`;
      return adminError(reply, 409, why);
    }
    return serializeCardPayment(payment, context.publicUrl());
  });
  app.post('/admin/cards/payments/:id/dispute/close', async (request, reply) => {
    const payment = payments.get(paramOf(request, 'id'));
    if (!payment) return adminError(reply, 404, 'no such payment');
    const status = (request.body as { status?: unknown } | undefined)?.status;
    if (!isDisputeDecision(status))
      return adminError(reply, 400, `status must be one of ${DISPUTE_DECISIONS.join(', ')}`);
    if (!payments.closeDispute(payment, status, context.clock.nowMs())) {
      return adminError(reply, 409, `payment has no open dispute (${payment.dispute?.status ?? 'none'})`);
    }
    return serializeCardPayment(payment, context.publicUrl());
  });
}
