import type { FastifyInstance } from 'fastify';
import { endpoint, idempotencyKeyOf, retrievalRoutes } from '../http/endpoint.ts';
import { Fields } from '../http/fields.ts';
import { MAGIC_CENTS } from '../magic.ts';
import { magicCentsOfMinor } from '../money.ts';
import { readCard } from './card.ts';
import { cardBehaviour } from './magic.ts';
import { type PayoutDestination, serializeCardPayout } from './payouts.ts';
import { AMOUNT, CARD_CURRENCIES, type CardsProcessor, failOnMagicError, readBankAccount } from './request.ts';
import { cardsDialect, cardsError, invalidCardsField } from './wire.ts';

/** Payouts: push to card and ACH credit; retrieve by id or idempotency key. */
export function registerPayoutRoutes(app: FastifyInstance, processor: CardsProcessor): void {
  const { context, customers, payouts } = processor;
  const { kit } = context;

  app.post(
    '/cards/v1/payouts',
    endpoint(
      kit,
      cardsDialect,
      (request) => {
        const fields = new Fields(request.body, invalidCardsField);
        const amount = fields.integer('amount', AMOUNT);
        const target = fields.object('destination');
        const type = target.oneOf('type', ['card', 'bank_account'] as const);
        const currency = fields.oneOf('currency', type === 'card' ? CARD_CURRENCIES : (['usd'] as const));
        const description = fields.optionalString('description', { max: 500 }) ?? null;
        let destination: PayoutDestination;
        if (type === 'card') {
          const card = readCard(target.object('card'), context.clock.now(), false);
          const behaviour = cardBehaviour(card.number);
          if (behaviour.kind === 'decline') {
            throw cardsError(402, {
              type: 'card_error',
              code: 'card_declined',
              decline_code: behaviour.declineCode,
              message: behaviour.message,
            });
          }
          if (behaviour.kind === 'fraud_block') throw customers.blockedError({ id: null, email: null });
          destination = { type: 'card', card };
        } else {
          destination = { type: 'bank_account', bankAccount: readBankAccount(target) };
        }
        const magic = magicCentsOfMinor(amount);
        failOnMagicError(processor, request, magic);
        if (magic === MAGIC_CENTS.insufficientFunds) {
          throw cardsError(422, {
            type: 'invalid_request_error',
            code: 'insufficient_balance',
            message: 'Your platform balance is too low for this payout.',
          });
        }
        const idempotencyKey = idempotencyKeyOf(request, cardsDialect);
        const payout = payouts.create({ amount, currency, destination, magic, description, idempotencyKey });
        return { status: 201, body: serializeCardPayout(payout), createdId: payout.id };
      },
      { idempotent: true },
    ),
  );

  retrievalRoutes(
    app,
    kit,
    cardsDialect,
    [
      { path: '/cards/v1/payouts/:id', param: 'id', find: (value) => payouts.get(value), missing: 'No such payout' },
      {
        path: '/cards/v1/payouts/by_idempotency_key/:key',
        param: 'key',
        find: (value) => payouts.byIdempotencyKey(value),
        missing: 'No payout was created with this idempotency key',
      },
    ],
    (payout) => ({ status: 200, body: serializeCardPayout(payout) }),
  );
}
