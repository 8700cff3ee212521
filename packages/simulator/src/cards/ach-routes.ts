import type { FastifyInstance } from 'fastify';
import { adminError } from '../admin/routes.ts';
import { RETURN_CODES } from '../banking/nacha.ts';
import { endpoint, idempotencyKeyOf, retrievalRoutes } from '../http/endpoint.ts';
import { Fields } from '../http/fields.ts';
import { magicCentsOfMinor } from '../money.ts';
import { serializeAchDebit } from './ach-debits.ts';
import { readCustomer } from './customers.ts';
import { AMOUNT, type CardsProcessor, failOnMagicError, paramOf, readBankAccount } from './request.ts';
import { cardsDialect, invalidCardsField } from './wire.ts';

/** ACH debits: create and retrieve (by id or idempotency key). */
export function registerAchRoutes(app: FastifyInstance, processor: CardsProcessor): void {
  const { context, customers, debits } = processor;
  const { kit } = context;

  app.post(
    '/cards/v1/ach_debits',
    endpoint(
      kit,
      cardsDialect,
      (request) => {
        const fields = new Fields(request.body, invalidCardsField);
        const amount = fields.integer('amount', AMOUNT);
        const currency = fields.oneOf('currency', ['usd'] as const);
        const bankAccount = readBankAccount(fields);
        const customer = readCustomer(fields.optionalObject('customer'));
        const description = fields.optionalString('description', { max: 500 }) ?? null;
        const magic = magicCentsOfMinor(amount);
        customers.admit(customer);
        failOnMagicError(processor, request, magic);
        const debit = debits.create({
          amount,
          currency,
          bankAccount,
          customer,
          magic,
          description,
          idempotencyKey: idempotencyKeyOf(request, cardsDialect),
        });
        return { status: 201, body: serializeAchDebit(debit), createdId: debit.id };
      },
      { idempotent: true },
    ),
  );

  retrievalRoutes(
    app,
    kit,
    cardsDialect,
    [
      {
        path: '/cards/v1/ach_debits/:id',
        param: 'id',
        find: (value) => debits.get(value),
        missing: 'No such ACH debit',
      },
      {
        path: '/cards/v1/ach_debits/by_idempotency_key/:key',
        param: 'key',
        find: (value) => debits.byIdempotencyKey(value),
        missing: 'No ACH debit was created with this idempotency key',
      },
    ],
    (debit) => ({ status: 200, body: serializeAchDebit(debit) }),
  );
}

/** Admin shortcuts: settle or return an ACH debit now. */
export function registerAchAdmin(app: FastifyInstance, processor: CardsProcessor): void {
  const { context, debits } = processor;
  app.post('/admin/cards/ach_debits/:id/settle', async (request, reply) => {
    const debit = debits.get(paramOf(request, 'id'));
    if (!debit) return adminError(reply, 404, 'no such ACH debit');
    if (!debits.settle(debit, context.clock.nowMs())) return adminError(reply, 409, `ACH debit is ${debit.status}`);
    return serializeAchDebit(debit);
  });
  app.post('/admin/cards/ach_debits/:id/return', async (request, reply) => {
    const debit = debits.get(paramOf(request, 'id'));
    if (!debit) return adminError(reply, 404, 'no such ACH debit');
    const code = (request.body as { return_code?: unknown } | undefined)?.return_code;
    const returnCode = typeof code === 'string' ? RETURN_CODES.get(code) : undefined;
    if (!returnCode) return adminError(reply, 400, `return_code must be one of ${[...RETURN_CODES.keys()].join(', ')}`);
    if (!debits.return(debit, returnCode, context.clock.nowMs())) return adminError(reply, 409, 'already returned');
    return serializeAchDebit(debit);
  });
}
