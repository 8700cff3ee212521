import type { FastifyInstance, FastifyReply } from 'fastify';
import { adminError } from '../admin/routes.ts';
import type { ProviderContext } from '../context.ts';
import { endpoint, paramOf, retrievalRoutes } from '../http/endpoint.ts';
import { Fields } from '../http/fields.ts';
import { formatMinor } from '../money.ts';
import type { BankPayments } from './payments.ts';
import {
  BANK_REFUND_REASONS,
  type BankRefund,
  type BankRefunds,
  refundableOf,
  serializeBankRefund,
} from './refunds.ts';
import { amountOf, bankDialect, bankError, invalidBankField } from './wire.ts';

/** Refunds: create (of a SETTLED payment, up to what is left), retrieve by id or `merchant_reference`. */
export function registerBankRefundRoutes(
  app: FastifyInstance,
  context: ProviderContext,
  payments: BankPayments,
  refunds: BankRefunds,
): void {
  const { kit } = context;

  app.post(
    '/bank/v1/refunds',
    endpoint(
      kit,
      bankDialect,
      (request) => {
        const fields = new Fields(request.body, invalidBankField);
        const paymentId = fields.string('payment_id', { max: 100 });
        const { minor, magic } = amountOf(fields);
        const merchantReference = fields.string('merchant_reference', { max: 100 });
        const reason = fields.has('reason') ? fields.oneOf('reason', BANK_REFUND_REASONS) : null;
        const metadata = fields.metadata('metadata');
        const payment = payments.get(paymentId);
        if (!payment) throw bankDialect.error('not_found', 'No such payment', { field: 'payment_id' });
        // Money the bank has not yet taken (or never will) cannot be sent back.
        if (payment.status !== 'SETTLED') {
          throw bankDialect.error(
            'invalid_state',
            `Payment is ${payment.status}; only a SETTLED payment can be refunded`,
          );
        }
        const refundable = refundableOf(payment);
        if (minor > refundable) {
          throw bankError(
            422,
            'AMOUNT_EXCEEDS_REFUNDABLE',
            `Refund amount exceeds what is left to refund (${formatMinor(refundable, 2)} ${payment.currency})`,
            'amount',
          );
        }
        const refund = refunds.create({ payment, amount: minor, magic, reason, merchantReference, metadata });
        return { status: 201, body: serializeBankRefund(refund), createdId: refund.id };
      },
      { idempotent: true },
    ),
  );

  retrievalRoutes(
    app,
    kit,
    bankDialect,
    [
      {
        path: '/bank/v1/refunds/:refund_id',
        param: 'refund_id',
        find: (value) => refunds.get(value),
        missing: 'No such refund',
      },
      {
        path: '/bank/v1/refunds/by_reference/:merchant_reference',
        param: 'merchant_reference',
        find: (value) => refunds.byReference(value),
        missing: 'No refund with this merchant_reference',
      },
    ],
    (refund) => ({ status: 200, body: serializeBankRefund(refund) }),
  );
}

/**
 * Admin shortcuts: the bank sends a pending refund now, or rejects it, whatever its
 * amount. Both answer the refund.
 */
export function registerBankRefundAdmin(app: FastifyInstance, context: ProviderContext, refunds: BankRefunds): void {
  app.post('/admin/bank/refunds/:refund_id/succeed', async (request, reply) => {
    const refund = refunds.get(paramOf(request, 'refund_id'));
    if (!refund) return adminError(reply, 404, 'no such refund');
    if (!refunds.canMove(refund, 'SUCCEEDED')) return notPending(reply, refund);
    refunds.succeed(refund, context.clock.nowMs());
    return serializeBankRefund(refund);
  });
  app.post('/admin/bank/refunds/:refund_id/fail', async (request, reply) => {
    const refund = refunds.get(paramOf(request, 'refund_id'));
    if (!refund) return adminError(reply, 404, 'no such refund');
    const reason = (request.body as { status_reason?: unknown } | undefined)?.status_reason ?? 'UNKNOWN';
    if (typeof reason !== 'string' || reason === '' || reason.length > 200) {
      return adminError(reply, 400, 'status_reason must be a non-empty string of at most 200 characters');
    }
    if (!refunds.canMove(refund, 'FAILED')) return notPending(reply, refund);
    refunds.fail(refund, reason, context.clock.nowMs());
    return serializeBankRefund(refund);
  });
}

const notPending = (reply: FastifyReply, refund: BankRefund) =>
  adminError(reply, 409, `refund is ${refund.status}; only a PENDING refund can be decided`);
