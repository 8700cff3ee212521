import type { FastifyInstance, FastifyRequest } from 'fastify';
import { endpoint, idempotencyKeyOf, retrievalRoutes } from '../http/endpoint.ts';
import { Fields } from '../http/fields.ts';
import { magicCentsOfMinor } from '../money.ts';
import { readCard } from './card.ts';
import { readCustomer } from './customers.ts';
import { cardBehaviour } from './magic.ts';
import { serializeCardPayment } from './payments.ts';
import { AMOUNT, CARD_CURRENCIES, type CardsProcessor, failOnMagicError, paramOf } from './request.ts';
import { cardsDialect, cardsError, invalidCardsField } from './wire.ts';

/** Card payments: create (authorise, maybe 3-D Secure), retrieve (by id or idempotency key), capture, cancel. */
export function registerPaymentRoutes(app: FastifyInstance, processor: CardsProcessor): void {
  const { context, customers, payments } = processor;
  const { kit } = context;
  const url = () => context.publicUrl();
  const findPayment = (request: FastifyRequest) => {
    const payment = payments.get(paramOf(request, 'id'));
    if (!payment) throw cardsDialect.error('not_found', 'No such payment');
    return payment;
  };

  app.post(
    '/cards/v1/payments',
    endpoint(
      kit,
      cardsDialect,
      (request) => {
        const fields = new Fields(request.body, invalidCardsField);
        const amount = fields.integer('amount', AMOUNT);
        const currency = fields.oneOf('currency', CARD_CURRENCIES);
        const method = fields.object('payment_method');
        method.oneOf('type', ['card'] as const);
        const captureMethod = fields.oneOf('capture_method', ['automatic', 'manual'] as const, 'automatic');
        const customer = readCustomer(fields.optionalObject('customer'));
        const returnUrl = fields.optionalUrl('return_url') ?? null;
        const description = fields.optionalString('description', { max: 500 }) ?? null;
        const metadata = fields.metadata('metadata');
        const card = readCard(method.object('card'), context.clock.now(), true);
        const magic = magicCentsOfMinor(amount);
        customers.admit(customer);
        failOnMagicError(processor, request, magic);
        if (cardBehaviour(card.number).kind === 'fraud_block') {
          if (customer) customers.block(customer);
          throw customers.blockedError(customer ?? { id: null, email: null });
        }
        const payment = payments.create({
          amount,
          currency,
          captureMethod,
          card,
          customer,
          returnUrl,
          magic,
          description,
          metadata,
          idempotencyKey: idempotencyKeyOf(request, cardsDialect),
        });
        const body = serializeCardPayment(payment, url());
        if (payment.status === 'failed') {
          // A declined payment exists (and is retrievable); the answer is the card error.
          const declined = cardsError(402, {
            type: 'card_error',
            code: payment.failureCode!,
            decline_code: payment.declineCode,
            message: payment.failureMessage!,
            payment: body,
          });
          return { ...declined.answer, createdId: payment.id };
        }
        return { status: 201, body, createdId: payment.id };
      },
      { idempotent: true },
    ),
  );

  app.get(
    '/cards/v1/payments/:id',
    endpoint(kit, cardsDialect, (request) => ({
      status: 200,
      body: serializeCardPayment(findPayment(request), url()),
    })),
  );

  // For a merchant whose create call timed out: the payment it created under this key.
  retrievalRoutes(
    app,
    kit,
    cardsDialect,
    [
      {
        path: '/cards/v1/payments/by_idempotency_key/:key',
        param: 'key',
        find: (value) => payments.byIdempotencyKey(value),
        missing: 'No payment was created with this idempotency key',
      },
    ],
    (payment) => ({ status: 200, body: serializeCardPayment(payment, url()) }),
  );

  app.post(
    '/cards/v1/payments/:id/capture',
    endpoint(
      kit,
      cardsDialect,
      (request) => {
        const payment = findPayment(request);
        if (payment.status !== 'requires_capture') {
          throw cardsDialect.error(
            'invalid_state',
            `Payment is ${payment.status}; only requires_capture can be captured`,
          );
        }
        payment.amountCaptured = payment.amount;
        payments.move(payment, 'succeeded', context.clock.nowMs());
        return { status: 200, body: serializeCardPayment(payment, url()) };
      },
      { idempotent: true },
    ),
  );

  app.post(
    '/cards/v1/payments/:id/cancel',
    endpoint(
      kit,
      cardsDialect,
      (request) => {
        const payment = findPayment(request);
        if (!payments.canMove(payment, 'canceled')) {
          throw cardsDialect.error('invalid_state', `Payment is ${payment.status} and cannot be canceled`);
        }
        payments.move(payment, 'canceled', context.clock.nowMs());
        return { status: 200, body: serializeCardPayment(payment, url()) };
      },
      { idempotent: true },
    ),
  );
}
