import type { FastifyInstance, FastifyReply } from 'fastify';
import { adminError } from '../admin/routes.ts';
import { endpoint, idempotencyKeyOf, retrievalRoutes } from '../http/endpoint.ts';
import { Fields } from '../http/fields.ts';
import { type CardRefund, REFUND_REASONS, refundableOf, serializeCardRefund } from './refunds.ts';
import { type CardsProcessor, paramOf } from './request.ts';
import { cardsDialect, cardsError, invalidCardsField } from './wire.ts';

/** A refund the payment's state or balance forbids: 412 for its status, as capture/cancel answer; else 400. */
const refused = (status: 400 | 412, code: string, message: string) =>
  cardsError(status, { type: 'invalid_request_error', code, message });

/** Refunds: create (of a succeeded, undisputed payment), retrieve by id or idempotency key. */
export function registerRefundRoutes(app: FastifyInstance, processor: CardsProcessor): void {
  const { context, payments, refunds } = processor;
  const { kit } = context;

  app.post(
    '/cards/v1/refunds',
    endpoint(
      kit,
      cardsDialect,
      (request) => {
        const fields = new Fields(request.body, invalidCardsField);
        const paymentId = fields.string('payment');
        const requested = fields.has('amount') ? fields.integer('amount', { min: 1 }) : undefined;
        const reason = fields.has('reason') ? fields.oneOf('reason', REFUND_REASONS) : null;
        const metadata = fields.metadata('metadata');
        const payment = payments.get(paymentId);
        if (!payment) throw cardsDialect.error('not_found', 'No such payment', { field: 'payment' });
        if (payment.status !== 'succeeded') {
          throw refused(412, 'invalid_state', `Payment is ${payment.status}; only a succeeded payment can be refunded`);
        }
        // Disputed money goes back through the card network, never through a refund as well.
        if (payment.dispute) {
          throw refused(400, 'charge_disputed', `Payment is disputed (${payment.dispute.status})`);
        }
        const refundable = refundableOf(payment);
        const amount = requested ?? refundable;
        if (amount <= 0 || amount > refundable) {
          throw refused(400, 'amount_too_large', `Refund amount exceeds what is left to refund (${refundable})`);
        }
        const idempotencyKey = idempotencyKeyOf(request, cardsDialect);
        const refund = refunds.create({ payment, amount, reason, metadata, idempotencyKey });
        return { status: 201, body: serializeCardRefund(refund), createdId: refund.id };
      },
      { idempotent: true },
    ),
  );

  retrievalRoutes(
    app,
    kit,
    cardsDialect,
    [
      { path: '/cards/v1/refunds/:id', param: 'id', find: (value) => refunds.get(value), missing: 'No such refund' },
      {
        path: '/cards/v1/refunds/by_idempotency_key/:key',
        param: 'key',
        find: (value) => refunds.byIdempotencyKey(value),
        missing: 'No refund was created with this idempotency key',
      },
    ],
    (refund) => ({ status: 200, body: serializeCardRefund(refund) }),
  );
}

/**
 * Admin shortcuts: the network settles or rejects a pending refund now, whatever its
 * card — any refund, not only the refund cards'. Both answer the refund.
 */
export function registerRefundAdmin(app: FastifyInstance, processor: CardsProcessor): void {
  const { context, refunds } = processor;
  app.post('/admin/cards/refunds/:id/succeed', async (request, reply) => {
    const refund = refunds.get(paramOf(request, 'id'));
    if (!refund) return adminError(reply, 404, 'no such refund');
    if (!refunds.canMove(refund, 'succeeded')) return notPending(reply, refund);
    refunds.move(refund, 'succeeded', context.clock.nowMs());
    return serializeCardRefund(refund);
  });
  app.post('/admin/cards/refunds/:id/fail', async (request, reply) => {
    const refund = refunds.get(paramOf(request, 'id'));
    if (!refund) return adminError(reply, 404, 'no such refund');
    const reason = (request.body as { failure_reason?: unknown } | undefined)?.failure_reason ?? 'unknown';
    if (typeof reason !== 'string' || reason === '' || reason.length > 200) {
      return adminError(reply, 400, 'failure_reason must be a non-empty string of at most 200 characters');
    }
    if (!refunds.canMove(refund, 'failed')) return notPending(reply, refund);
    refunds.fail(refund, reason, context.clock.nowMs());
    return serializeCardRefund(refund);
  });
}

const notPending = (reply: FastifyReply, refund: CardRefund) =>
  adminError(reply, 409, `refund is ${refund.status}; only a pending refund can be decided`);
